"""A real ``bentoml serve`` of the SYNTHETIC tiny home: queue auth and refusals over HTTP,
and an acknowledged decision that survives a ``kill -9`` of the whole service.

The service is started from a scratch directory by its package reference
(``SERVICE_REF``), as ``vipredict serve`` starts it. Slow (a real server, model
loading): integration and end-to-end tier.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from servers import kill_tree, serving

from vipredict.config import Settings
from vipredict.queue.store import QueueStore

KEY = {"X-API-Key": "queue-key"}
pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_acknowledged_decision_survives_kill_9(
    tiny_home: Settings, sample_keys: list[str], tmp_path: Path
):
    """Synthetic variants: the 200 of a decision means it is on disk, whatever happens next."""
    queue_url = f"sqlite:///{tmp_path / 'queue.db'}"
    body = {"variants": [{"variant": k} for k in sample_keys[:10]], "name": "kill-9"}
    decision = {
        "variant": sample_keys[4],
        "decision": "reject",
        "curator": "k9",
        "note": "written just before SIGKILL",
    }
    scratch = tmp_path / "cwd"
    scratch.mkdir()
    # The key speaks for curator k9: the decision is recorded under the key's curator.
    settings = {"VIPREDICT_API_KEYS": f"k9:{KEY['X-API-Key']}", "VIPREDICT_QUEUE_URL": queue_url}
    with serving(tiny_home, scratch, **settings) as server:
        process, url = server.process, server.url
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
        assert {"BA1", "next_level", "error_detail", "decision"} <= set(shown["items"][0])
        kill_tree(process)  # immediately after the 200: no graceful shutdown, no flush
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
