"""One real audit per session: ``vipredict audit`` on the session's REAL trained home.

The audit runs through the CLI with few bootstraps (speed), into the default folder
``$VIPREDICT_HOME/reports/audit`` so that ``GET /audit`` has a report to serve. The
home is named in the command's environment: a session fixture runs before the
per-test fixture that points the environment at the home.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vipredict.audit import default_output
from vipredict.cli import app
from vipredict.config import Settings

TEST_BOOTSTRAPS = 50


@pytest.fixture(scope="session")
def audit_dir(trained_home: Settings) -> Path:
    env = {"VIPREDICT_HOME": str(trained_home.home), "BENTOML_HOME": str(trained_home.bentoml_home)}
    result = CliRunner().invoke(app, ["audit", "--n-bootstrap", str(TEST_BOOTSTRAPS)], env=env)
    assert result.exit_code == 0, result.output
    return default_output(trained_home)


@pytest.fixture(scope="session")
def audit_metrics(audit_dir: Path) -> dict:
    return json.loads((audit_dir / "metrics.json").read_text())
