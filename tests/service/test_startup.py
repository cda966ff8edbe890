"""When the service may start: never without a store and an evidence champion.

``vipredict serve`` and the BentoML deployment hook check the home before any
worker starts and refuse with exit status 3 and the reason; importing the service
module does no work at all, so tools that only import it (``bentoml build``,
OpenAPI generation, the tests) never need a trained home. The working home here is
the SYNTHETIC tiny home.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vipredict.config import Settings, get_settings
from vipredict.model.registry import ModelNotReadyError
from vipredict.service import bento
from vipredict.service.bento import EXIT_NOT_READY, SERVICE_REF, VariantPredictor
from vipredict.service.predictor import preflight


def _point_at(monkeypatch: pytest.MonkeyPatch, home: Path) -> Settings:
    """Everything a start-up reads from the environment, on ``home``, undone after the test."""
    monkeypatch.setenv("VIPREDICT_HOME", str(home))
    monkeypatch.setenv("BENTOML_HOME", str(home / "bentoml"))
    monkeypatch.setenv("DO_NOT_TRACK", "true")  # configure_runtime_env sets it otherwise
    return get_settings()


def _deployment_hooks() -> list[Callable[[], None]]:
    """The service's ``@bentoml.on_deployment`` hooks, found as ``bentoml serve`` finds them."""
    inner = VariantPredictor.inner
    members = (getattr(inner, name) for name in dir(inner))
    return [m for m in members if callable(m) and getattr(m, "__bentoml_deployment_hook__", False)]


def test_preflight_names_the_missing_store(tmp_path: Path):
    with pytest.raises(ModelNotReadyError, match="no feature store"):
        preflight(get_settings({"VIPREDICT_HOME": str(tmp_path / "empty")}))


def test_serve_refuses_an_empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from vipredict.cli import app

    _point_at(monkeypatch, tmp_path / "empty")
    result = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == EXIT_NOT_READY == 3, result.output
    assert "refuses to start" in result.output
    assert "feature store" in result.output
    assert "serving on" not in result.output


def test_deployment_hook_exits_on_an_empty_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    _point_at(monkeypatch, tmp_path / "empty")
    hooks = _deployment_hooks()
    assert len(hooks) == 1
    with pytest.raises(SystemExit) as stopped:
        hooks[0]()
    assert stopped.value.code == EXIT_NOT_READY
    assert "vipredict service refuses to start" in capsys.readouterr().err


def test_deployment_hook_passes_on_the_tiny_home(tiny_home: Settings):
    """The same hook lets the synthetic tiny home (store + champions) start."""
    assert get_settings().home == tiny_home.home
    for hook in _deployment_hooks():
        assert hook() is None


def test_the_service_module_body_does_no_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Running the module's code again on an EMPTY home only declares the service: nothing
    is checked, loaded or created (the quick half of the next test)."""
    home = tmp_path / "empty"
    _point_at(monkeypatch, home)
    spec = importlib.util.spec_from_file_location("_bento_again", bento.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.VariantPredictor.name == "vipredict"
    assert module.VariantPredictor is not VariantPredictor
    assert not home.exists()


@pytest.mark.e2e
def test_importing_the_service_does_no_work(tmp_path: Path):
    """A fresh interpreter imports the service module with an EMPTY home: exit 0, and the
    home is not even created (the readiness check runs when the service starts). A new
    interpreter importing BentoML and MLflow takes seconds: end-to-end tier."""
    home = tmp_path / "empty"
    env = {
        **os.environ,
        "VIPREDICT_HOME": str(home),
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
    }
    module, name = SERVICE_REF.split(":")
    done = subprocess.run(
        [sys.executable, "-c", f"import {module} as m; print(m.{name}.name)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "vipredict"
    assert "refuses" not in done.stderr
    assert not home.exists()


@pytest.mark.e2e
def test_serve_refuses_a_store_without_champion(tiny_home: Settings, tmp_path: Path):
    """A home with the synthetic store but no registered model: `vipredict serve` exits 3
    naming the champion (a fresh MLflow database is slow to create: end-to-end tier)."""
    home = tmp_path / "store-only"
    shutil.copytree(tiny_home.store_dir, home / "store")
    env = {**os.environ, "VIPREDICT_HOME": str(home), "BENTOML_HOME": str(home / "bentoml")}
    done = subprocess.run(
        [sys.executable, "-c", "from vipredict.cli import app; app()", "serve", "--port", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == EXIT_NOT_READY, done.stdout + done.stderr
    assert "refuses to start" in done.stderr
    assert "champion" in done.stderr
