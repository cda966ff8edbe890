"""Serve a built Bento on loopback and check it answers: ``/readyz`` 200, then ``/model``.

``make bento`` runs it with the clean venv's Python after ``bentoml build``, so
the check exercises the installed wheel, not the checkout. The service reads
its champions and store from ``VIPREDICT_HOME`` (the mounted home); the server
is stopped, with its workers, before this script exits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bento", default="vipredict:latest")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "bentoml", "serve", args.bento]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    server = subprocess.Popen(command, env=os.environ.copy(), start_new_session=True)
    try:
        ready = None
        while time.monotonic() - started < args.timeout and server.poll() is None:
            ready = status(f"{base}/readyz")
            if ready == 200:
                break
            time.sleep(1)
        report = {
            "bento": args.bento,
            "vipredict_home": os.environ.get("VIPREDICT_HOME"),
            "readyz": ready,
            "model": status(f"{base}/model") if ready == 200 else None,
            "seconds_to_ready": round(time.monotonic() - started, 1),
            "server_exit": server.poll(),
        }
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    print(json.dumps(report))
    return 0 if report["readyz"] == 200 and report["model"] == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
