"""Scoring loads a profiled champion without its classifier, and loses nothing by it.

``load_scorer`` (``predict``, ``annotate``, the service) loads the evidence champion
with ``estimator=False``: its annotation profiles are LightGBM text models that
score it, so rebuilding the scikit-learn classifier through skops (seconds and
scikit-learn's memory) is skipped, and the run's artifacts are read as files.
The registered version itself is read from the home's SQLite tracking store with
``sqlite3`` (MLflow and SQLAlchemy are never imported), at the one schema revision
that reader knows; any other store is asked through ``MlflowClient``. These tests load
the SYNTHETIC tiny home's champions both ways and want the same model but for the
classifier; the full load, with its skops checks, stays the one of every path that
needs the classifier (``tests/model/test_safe_loading.py``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import lightgbm
import pytest

from vipredict.config import ModelRole, Settings
from vipredict.model import registry, versions
from vipredict.model.registry import (
    ModelNotReadyError,
    RunArtifacts,
    load_role,
    registered_name,
)
from vipredict.model.scorer import load_scorer
from vipredict.model.versions import MLFLOW_SQLITE_SCHEMA


def test_a_lean_load_is_the_full_load_without_the_classifier(tiny_home: Settings):
    full = load_role(ModelRole.EVIDENCE, tiny_home)
    lean = load_role(ModelRole.EVIDENCE, tiny_home, estimator=False)
    assert isinstance(full.model, lightgbm.LGBMClassifier) and lean.model is None
    for key in ("name", "version", "run_id", "feature_names", "emits_evidence"):
        assert getattr(lean, key) == getattr(full, key)
    assert (lean.run_params, lean.run_metrics) == (full.run_params, full.run_metrics)
    assert lean.calibration.to_dict() == full.calibration.to_dict()
    assert [p.name for p in lean.profiles] == [p.name for p in full.profiles]
    assert len(lean.profiles) > 1
    for mine, theirs in zip(lean.profiles, full.profiles, strict=True):
        assert mine.profile == theirs.profile and mine.feature_names == theirs.feature_names
        assert mine.booster.model_to_string() == theirs.booster.model_to_string()
        assert mine.calibration.to_dict() == theirs.calibration.to_dict()


def test_scoring_never_rebuilds_the_evidence_classifier(
    tiny_home: Settings, monkeypatch: pytest.MonkeyPatch
):
    """Only the priority champion (no profiles: its classifier scores it) goes through skops."""
    rebuilt: list[str] = []
    real = registry.load_estimator

    def counting(uri: str, label: str) -> lightgbm.LGBMClassifier:
        rebuilt.append(label)
        return real(uri, label)

    monkeypatch.setattr(registry, "load_estimator", counting)
    scorer = load_scorer(tiny_home, with_store=False)
    assert scorer.evidence_model.model is None and scorer.evidence_model.profiles
    assert scorer.priority_model is not None and not scorer.priority_model.profiles
    assert isinstance(scorer.priority_model.model, lightgbm.LGBMClassifier)
    assert rebuilt == [f"{scorer.priority_model.name} v{scorer.priority_model.version}"]


def test_a_model_without_profiles_loads_its_classifier_even_when_asked_lean(
    tiny_home: Settings,
):
    lean = load_role(ModelRole.PRIORITY, tiny_home, estimator=False)
    assert not lean.profiles and isinstance(lean.model, lightgbm.LGBMClassifier)


def test_run_artifacts_are_read_in_place_and_never_outside_the_run(tmp_path: Path):
    run = tmp_path / "run" / "artifacts"
    (run / "profiles").mkdir(parents=True)
    (run / "profiles" / "p.txt").write_text("tree")
    (tmp_path / "run" / "secret.txt").write_text("not an artifact")
    artifacts = RunArtifacts(run.as_uri(), "m v1")
    assert artifacts.local_root() == run
    assert artifacts.text("profiles/p.txt") == "tree"
    with pytest.raises(ModelNotReadyError, match="outside its run"):
        artifacts.text("profiles/../../secret.txt")
    with pytest.raises(FileNotFoundError):
        artifacts.text("profiles/absent.txt")
    assert RunArtifacts("s3://bucket/run/artifacts", "m v1").local_root() is None


@pytest.mark.parametrize("role", list(ModelRole))
@pytest.mark.parametrize("version", [None, "1"])
def test_the_sqlite_read_of_a_version_is_what_mlflow_answers(
    tiny_home: Settings, role: ModelRole, version: str | None
):
    name = registered_name(role)
    mine = versions.sqlite_version(name, version, tiny_home)
    assert mine is not None and mine.params and mine.metrics
    assert mine == registry.mlflow_version(name, version, tiny_home)


def test_the_sqlite_reader_knows_the_installed_mlflow_schema():
    """An MLflow upgrade that migrates the schema fails here, not silently in production
    (where a store at another revision is read through MLflow)."""
    import mlflow
    from alembic.script import ScriptDirectory

    migrations = Path(mlflow.__file__).parent / "store" / "db_migrations"
    assert ScriptDirectory(str(migrations)).get_current_head() == MLFLOW_SQLITE_SCHEMA


def test_another_schema_or_an_unknown_version_is_left_to_mlflow(
    tiny_home: Settings, tmp_path: Path
):
    copy = tmp_path / "mlflow.db"
    shutil.copy(tiny_home.home / "mlflow.db", copy)
    name = registered_name(ModelRole.EVIDENCE)
    with closing(sqlite3.connect(copy)) as db:
        assert versions.read_version(db, name, None) is not None
        assert versions.read_version(db, name, "99") is None
        assert versions.read_version(db, "no-such-model", None) is None
        db.execute("UPDATE alembic_version SET version_num = 'a-later-one'")
        assert versions.read_version(db, name, None) is None


def test_loading_the_scorer_for_annotate_imports_no_mlflow(tiny_home: Settings):
    code = (
        "import sys; from vipredict.model.scorer import load_scorer; "
        "s = load_scorer(with_priority=False, with_store=False); "
        "print(len(s.evidence_model.profiles), sorted("
        "m for m in ('mlflow', 'sqlalchemy', 'skops') if m in sys.modules))"
    )
    env = {**os.environ, "VIPREDICT_HOME": str(tiny_home.home)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split("\n")[-2].endswith(" []"), done.stdout
