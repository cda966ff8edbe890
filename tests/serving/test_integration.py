"""One real ``bentoml serve`` on a free loopback port: start-up, auth, scoring, shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from vipredict.config import PROJECT_ROOT, Settings

SERVING_DIR = PROJECT_ROOT / "serving"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bentoml serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout} s")


@pytest.mark.integration
def test_bentoml_serve_end_to_end(trained_home: Settings, judged_keys: list[str]):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VIPREDICT_API_KEYS": "integration-key", "BENTOML_DO_NOT_TRACK": "True"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bentoml", "serve", "service:VariantPredictor",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=SERVING_DIR, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(url, process)
        body = {"variants": [{"variant": judged_keys[0]}, {"variant": "GRCh37:1:1:A:AT"}]}
        assert httpx.post(f"{url}/predict", json=body).status_code == 401
        response = httpx.post(f"{url}/predict", json=body,
                              headers={"X-API-Key": "integration-key"}, timeout=30)
        assert response.status_code == 200
        good, bad = response.json()
        assert good["variant"] == judged_keys[0] and good["score"] is not None
        assert bad["error"] == "not_snv"
        card = httpx.get(f"{url}/model", headers={"Authorization": "Bearer integration-key"})
        assert card.json()["models"][0]["version"]
        assert httpx.get(f"{url}/metrics").status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
