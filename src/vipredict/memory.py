"""How long streaming jobs allocate: ``vipredict annotate`` hands freed memory back,
an ingest worker keeps it for its next chunk.

Kept apart from the jobs because it must run before pyarrow is imported: Arrow's
C++ code picks its own default allocator once, from ``ARROW_DEFAULT_MEMORY_POOL``,
the first time it allocates, and ``pyarrow.set_memory_pool`` changes only the pool
Python passes to the calls it makes. This module imports nothing heavy.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

#: glibc ``mallopt`` parameters (``malloc.h``) and the values :func:`release_freed_memory` sets.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8
_TRIM_BYTES, _ARENAS = 1 << 20, 2
#: What :func:`keep_freed_memory` sets: buffers up to 32 MiB from the heap, which
#: is given back only past 1 GiB free and grows 64 MiB at a time.
_KEPT_MMAP_BYTES, _KEPT_TRIM_BYTES, _KEPT_TOP_PAD = 32 << 20, 1 << 30, 64 << 20
#: The environment variable Arrow's C++ library reads for its default allocator.
ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def release_freed_memory() -> None:
    """Hand memory freed between blocks back to the system, for the rest of this process.

    An annotation's live data is one block (about ``BLOCK_BYTES`` of text and its
    columns) and the batches its cursors hold; what made its peak RSS grow was memory
    kept after freeing:

    - mimalloc, Arrow's default, caches freed pages. Python's calls get the system
      pool (``pa.set_memory_pool``); the Parquet reader's own buffers (pages read and
      decompressed) come from the C++ default, which only ``ARROW_DEFAULT_MEMORY_POOL``
      set before pyarrow loads changes. Left to mimalloc they held 23-27 MB at the
      peak (in process, 3 x 10^6 variants from pre-scored answers: peak RSS 276-297
      -> 239-243 MB).
    - glibc keeps a heap per thread (DuckDB's and Arrow's threads) and raises its trim
      and mmap thresholds as large blocks come and go: two heaps, fixed 1 MiB
      thresholds (large buffers are mapped, and unmapped when freed).

    Process-wide, so the ``annotate`` command calls it first, never the library (the
    service annotates uploads beside other work). A variable the user set is kept.
    """
    if "pyarrow" not in sys.modules:
        os.environ.setdefault(ARROW_POOL_VARIABLE, "system")
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    _mallopt(
        (_M_ARENA_MAX, _ARENAS),
        (_M_TRIM_THRESHOLD, _TRIM_BYTES),
        (_M_MMAP_THRESHOLD, _TRIM_BYTES),
    )


def keep_freed_memory() -> None:
    """Keep memory freed by one chunk for the next, for the rest of this process.

    For a process whose whole life is chunks of one size (an ``add-dbnsfp`` worker):
    each chunk allocates and frees the same few hundred megabytes. glibc maps
    large buffers and unmaps them when freed, and trims its heap, so the next chunk
    faulted every page in again, zeroed by the kernel (23-29 thousand faults a
    chunk). Measured on 12 chunks in one process: kernel time 2.3-2.5 -> 1.1 s,
    wall 11.0 -> 9.6 s. The worker's memory stays at its largest chunk's.
    """
    _mallopt(
        (_M_MMAP_THRESHOLD, _KEPT_MMAP_BYTES),
        (_M_TRIM_THRESHOLD, _KEPT_TRIM_BYTES),
        (_M_TOP_PAD, _KEPT_TOP_PAD),
    )


def _mallopt(*settings: tuple[int, int]) -> None:
    """Set glibc malloc parameters (nothing on another C library)."""
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        mallopt = ctypes.CDLL("libc.so.6").mallopt
        for parameter, value in settings:
            mallopt(parameter, value)
