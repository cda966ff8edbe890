"""``GET /audit`` serves the latest report, 404 before one exists, and needs the API key.

The route is the service's own (``vipredict.service.bento.model_app``), behind the
real key middleware; importing the service module does no work, so no model loads.
The served report is the one ``vipredict audit`` wrote on the REAL trained home.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from vipredict.config import Settings
from vipredict.service.bento import model_app
from vipredict.service.security import SecurityMiddleware

KEY = "audit-key"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The audit route behind the middleware; only the settings' key matters to it."""
    settings = Settings(
        home=tmp_path_factory.mktemp("keys-only"), data_mirror=None, api_keys=frozenset({KEY})
    )
    return TestClient(SecurityMiddleware(model_app, settings=settings))


def test_audit_serves_the_latest_report(guarded: TestClient, audit_dir: Path):
    response = guarded.get("/audit", headers={"X-API-Key": KEY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == (audit_dir / "report.html").read_text()


def test_audit_needs_the_api_key(guarded: TestClient, audit_dir: Path):
    assert (audit_dir / "report.html").is_file()  # there is a report; still no key, no report
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = guarded.get("/audit", headers=headers)
        assert response.status_code == 401 and "API key" in response.json()["error"]


def test_audit_is_404_until_an_audit_has_run(
    guarded: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("VIPREDICT_HOME", str(tmp_path))
    response = guarded.get("/audit", headers={"X-API-Key": KEY})
    assert response.status_code == 404
    assert "vipredict audit" in response.json()["error"]
