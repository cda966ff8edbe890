"""How streaming processes allocate (``vipredict.memory``), checked in fresh processes.

glibc only: what each setting does to a 16 MiB buffer, read from ``mallinfo2``.
"""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt"
)

PROBE = """
import ctypes, sys
from vipredict import memory
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "keep":
    memory.keep_freed_memory()
size = 16 << 20
buffer = libc.malloc(size)
mapped = libc.mallinfo2().hblkhd >= size
libc.free(buffer)
kept = libc.mallinfo2().fordblks >= size
print(mapped, kept)
"""


def _probe(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_worker_keeps_freed_buffers_for_its_next_chunk() -> None:
    """After ``keep_freed_memory`` a 16 MiB buffer comes from the heap and stays there
    when freed; by default it is mapped, and unmapped when freed."""
    assert _probe("keep") == "False True"
    assert _probe("default") == "True False"
