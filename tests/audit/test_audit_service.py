"""``GET /audit`` serves the latest report, 404 before one exists, and needs the API key."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest
from starlette.testclient import TestClient

from vipredict.config import PROJECT_ROOT, Settings
from vipredict.serving import SecurityMiddleware

KEY = "audit-key"


@pytest.fixture(scope="module")
def service(trained_home: Settings) -> ModuleType:
    sys.path.insert(0, str(PROJECT_ROOT / "serving"))
    import service  # imported once the trained home exists (it checks the champion)

    return service


@pytest.fixture(scope="module")
def guarded(service: ModuleType) -> TestClient:
    return TestClient(SecurityMiddleware(service.model_app, keys=frozenset({KEY})))


def test_audit_serves_the_latest_report(guarded: TestClient, audit_dir: Path):
    response = guarded.get("/audit", headers={"X-API-Key": KEY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == (audit_dir / "report.html").read_text()


def test_audit_needs_the_api_key(guarded: TestClient, audit_dir: Path):
    assert guarded.get("/audit").status_code == 401


def test_audit_is_404_until_an_audit_has_run(
    guarded: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("VIPREDICT_HOME", str(tmp_path))
    response = guarded.get("/audit", headers={"X-API-Key": KEY})
    assert response.status_code == 404
    assert "vipredict audit" in response.json()["error"]
