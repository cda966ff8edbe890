"""A real ``bentoml serve``: queue auth and refusals over HTTP; a decision survives kill -9."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from vipredict.config import PROJECT_ROOT, Settings
from vipredict.queue.store import QueueStore

KEY = {"X-API-Key": "queue-key"}


def start_service(queue_url: str) -> tuple[subprocess.Popen, str]:
    """``bentoml serve`` on a free loopback port in its own process group, once it is ready."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "VIPREDICT_API_KEYS": KEY["X-API-Key"],
        "VIPREDICT_QUEUE_URL": queue_url,
        "BENTOML_DO_NOT_TRACK": "True",
    }
    process = subprocess.Popen(  # the documented way: `vipredict serve` (it runs bentoml serve)
        [sys.executable, "-m", "vipredict.cli", "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).is_success:
                return process, url
        time.sleep(0.5)
    kill_group(process)
    raise RuntimeError(f"{url} never became ready (exit status {process.returncode})")


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the service and every descendant at once: no clean shutdown at all.

    BentoML's workers do not stay in the supervisor's process group, so a group kill
    alone would leave an orphaned worker (and its models in memory) behind.
    """
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


@pytest.mark.integration
def test_acknowledged_decision_survives_kill_9(
    trained_home: Settings, sample_keys: list[str], tmp_path: Path
):
    queue_url = f"sqlite:///{tmp_path / 'queue.db'}"
    body = {"variants": [{"variant": k} for k in sample_keys[:10]], "name": "kill-9"}
    decision = {
        "variant": sample_keys[4],
        "decision": "reject",
        "curator": "k9",
        "note": "written just before SIGKILL",
    }
    process, url = start_service(queue_url)
    try:
        assert httpx.post(f"{url}/queue", json=body, timeout=60).status_code == 401
        created = httpx.post(f"{url}/queue", json=body, headers=KEY, timeout=60)
        assert created.status_code == 200, created.text
        queue_id = created.json()["id"]
        bad_id = httpx.post(f"{url}/queue/{'0' * 32}/decisions", json=decision, headers=KEY)
        assert (bad_id.status_code, bad_id.json()["reason"]) == (404, "unknown_queue")
        bad = httpx.post(
            f"{url}/queue/{queue_id}/decisions",
            headers=KEY,
            json={**decision, "decision": "perhaps"},
        )
        assert (bad.status_code, bad.json()["reason"]) == (422, "invalid_decision")
        ack = httpx.post(f"{url}/queue/{queue_id}/decisions", json=decision, headers=KEY)
        assert ack.status_code == 200 and ack.json()["acknowledged"]
        assert httpx.get(f"{url}/queue/{queue_id}").status_code == 401
        shown = httpx.get(f"{url}/queue/{queue_id}?limit=3", headers=KEY).json()
        assert [i["rank"] for i in shown["items"]] == [1, 2, 3]
    finally:
        kill_group(process)  # immediately after the 200: no graceful shutdown, no flush
    assert process.returncode == -signal.SIGKILL

    # Nothing of the service survives; opening the database replays its WAL exactly as a
    # restarted service would (a restart adds ~30 s of model loading and proves nothing more).
    item = QueueStore(queue_url).load(queue_id).items.set_index("variant").loc[sample_keys[4]]
    assert (item["decision"], item["curator"], item["note"]) == (
        "reject",
        "k9",
        "written just before SIGKILL",
    )
    assert item["decided_at"] == ack.json()["decided_at"]
