"""A real ``bentoml serve`` of a test home on a free loopback port, for the live-server tests.

Started from a scratch directory by the package's service reference
(``SERVICE_REF``), as ``vipredict serve`` starts it once its preflight passed, in
its own session so that every process of it can be stopped at the end: BentoML's
workers leave the supervisor's process group, so the whole process tree is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from vipredict.config import Settings
from vipredict.service.bento import SERVICE_REF


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(port: int) -> list[str]:
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE_REF]
    return [*command, "--host", "127.0.0.1", "--port", str(port)]


def serve_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a server on ``home`` (``extra``: more ``VIPREDICT_*`` settings)."""
    return {
        **os.environ,
        "VIPREDICT_HOME": str(home),
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        **extra,
    }


@dataclass
class Server:
    process: subprocess.Popen
    url: str


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL the server and every descendant at once: no clean shutdown at all."""
    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    psutil.wait_procs(tree, timeout=30)


@contextlib.contextmanager
def serving(home: Settings, cwd: Path, timeout: float = 300, **env: str) -> Iterator[Server]:
    """A ready server of ``home`` (``/readyz`` 200); killed, with its workers, on exit."""
    port = free_port()
    process = subprocess.Popen(
        serve_command(port),
        cwd=cwd,
        env=serve_env(home.home, **env),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{server.url} not ready after {timeout} s")
            time.sleep(0.5)
        yield server
    finally:
        if process.poll() is None:
            kill_tree(process)
