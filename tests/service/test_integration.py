"""One real ``bentoml serve`` of the SYNTHETIC tiny home on a free loopback port: start-up,
auth, scoring, metrics, shutdown; and the same command refusing an empty home.

Started from a scratch directory with ``SERVICE_REF`` (the package's service, no
``serving/`` checkout needed), exactly as ``vipredict serve`` starts it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from servers import free_port, serve_command, serve_env, serving

from vipredict.config import Settings
from vipredict.service.bento import EXIT_NOT_READY

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_bentoml_serve_end_to_end(tiny_home: Settings, judged_keys: list[str], tmp_path: Path):
    with serving(tiny_home, tmp_path, VIPREDICT_API_KEYS="integration-key") as server:
        url = server.url
        body = {"variants": [{"variant": judged_keys[0]}, {"variant": "GRCh37:1:1:A:AT"}]}
        assert httpx.post(f"{url}/predict", json=body).status_code == 401
        response = httpx.post(
            f"{url}/predict", json=body, headers={"X-API-Key": "integration-key"}, timeout=30
        )
        assert response.status_code == 200
        good, bad = response.json()
        assert good["variant"] == judged_keys[0] and good["score"] is not None
        assert bad["error"] == "not_snv" and bad["score"] is None
        card = httpx.get(f"{url}/model", headers={"Authorization": "Bearer integration-key"})
        assert card.status_code == 200
        assert card.json()["models"][0]["version"]
        assert httpx.get(f"{url}/metrics").status_code == 401  # keys set: metrics need one too
        metrics = httpx.get(f"{url}/metrics", headers={"X-API-Key": "integration-key"})
        assert metrics.status_code == 200 and "bentoml_service_request" in metrics.text


def test_bentoml_serve_refuses_an_empty_home(tmp_path: Path):
    """The deployment hook stops `bentoml serve` itself (not only `vipredict serve`)."""
    done = subprocess.run(
        serve_command(free_port()),
        cwd=tmp_path,
        env=serve_env(tmp_path / "empty"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == EXIT_NOT_READY, done.stderr[-2000:]
    assert "vipredict service refuses to start" in done.stderr
    assert "no feature store" in done.stderr
