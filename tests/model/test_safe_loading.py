"""Loading a champion runs no code the artifact chose (issue 16: safe model loading).

Whoever can write ``VIPREDICT_HOME`` can replace a registered model's files and
its MLmodel. The service loads the champion at start-up, so the format and the
classes it may rebuild are the project's decision, never the artifact's: a
pickle champion is refused, and skops loads with :data:`SKOPS_TRUSTED_TYPES`
only, whatever the MLmodel lists. Each champion here is a tiny real LightGBM
model registered in a temporary MLflow home, loaded through ``load_champion``,
the path the service and the CLI take.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import lightgbm
import mlflow
import numpy as np
import pandas as pd
import pytest
from homes import home_settings, with_home

from vipredict.config import Settings
from vipredict.model.calibration import CalibrationResult
from vipredict.model.registry import (
    CALIBRATION_ARTIFACT,
    FEATURES_ARTIFACT,
    MODEL_ARTIFACT,
    PIP_REQUIREMENTS,
    SKOPS_TRUSTED_TYPES,
    ModelNotReadyError,
    load_champion,
    register_champion,
    setup_mlflow,
)

FEATURES = ["a", "b"]


class Tripwire:
    """Leaves a file behind when anything rebuilds it: proof that loading ran its code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __setstate__(self, state: dict) -> None:  # skops and pickle both call it
        Path(state["marker"]).touch()
        self.__dict__.update(state)

    def __reduce__(self):  # pickle: rebuilding it is a call the file names
        return (Path.touch, (Path(self.marker),))


TRIPWIRE = f"{Tripwire.__module__}.{Tripwire.__qualname__}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One MLflow home for the module (creating its database is most of the time)."""
    settings = home_settings(tmp_path_factory.mktemp("safe-loading"))
    patch = with_home(settings)
    yield settings
    patch.undo()


def tiny_classifier() -> lightgbm.LGBMClassifier:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(60, 2)), columns=FEATURES)
    y = (x["a"] + rng.normal(scale=0.5, size=60) > 0).astype(int)
    params = {"n_estimators": 3, "num_leaves": 4, "min_child_samples": 5, "verbose": -1}
    return lightgbm.LGBMClassifier(**params, n_jobs=1).fit(x, y)


def calibration() -> dict:
    grid = [0.0, 0.5, 1.0]
    return CalibrationResult(
        thresholds={}, three_point={}, point_thresholds={}, prior=0.0441, c=1124.0,
        reverse=False, n_labelled=60, n_pathogenic=30, n_benign=30, n_unlabelled=0,
        n_bootstrap=10, grid=np.asarray(grid), posterior=np.asarray(grid),
        posterior_lower=np.asarray(grid), posterior_upper=np.asarray(grid),
    ).to_dict()  # fmt: skip


def register(settings: Settings, name: str, model: object, **log_kwargs) -> Path:
    """Register ``model`` as ``name``'s champion with its features and calibration; its dir."""
    client = setup_mlflow(settings)
    with mlflow.start_run() as run:
        mlflow.log_dict({"feature_names": FEATURES, "emits_evidence": False}, FEATURES_ARTIFACT)
        mlflow.log_dict(calibration(), CALIBRATION_ARTIFACT)
        info = mlflow.lightgbm.log_model(
            model, name=MODEL_ARTIFACT, pip_requirements=PIP_REQUIREMENTS, **log_kwargs
        )
    register_champion(client, run.info.run_id, name)
    # The stored copy (what an attacker with write access edits), not a download.
    stored = settings.home.glob(f"**/models/{info.model_id}/artifacts/MLmodel")
    return next(stored).parent


def test_hostile_a_pickle_champion_is_refused_before_any_of_it_runs(home, tmp_path):
    stored = register(home, "pickled", tiny_classifier(), serialization_format="pickle")
    assert "serialization_format: pickle" in (stored / "MLmodel").read_text()
    marker = tmp_path / "pickle-ran"
    (stored / "model.pkl").write_bytes(pickle.dumps(Tripwire(marker)))
    with pytest.raises(ModelNotReadyError, match=r"serialization format 'pickle'.*only skops"):
        load_champion("pickled", home)
    assert not marker.exists()


def test_hostile_a_skops_champion_loads_with_our_trusted_types_not_its_own(home):
    """The MLmodel may list more types than ours: the load is ours, and still succeeds."""
    extra = [*SKOPS_TRUSTED_TYPES, "builtins.eval", "lightgbm.sklearn.LGBMRegressor"]
    stored = register(home, "listed", tiny_classifier(), skops_trusted_types=extra)
    assert "builtins.eval" in (stored / "MLmodel").read_text()
    loaded = load_champion("listed", home)
    assert isinstance(loaded.model, lightgbm.LGBMClassifier)
    x = pd.DataFrame([[0.3, -1.0]], columns=FEATURES)
    assert loaded.predict(x).shape == (1,)


def test_hostile_a_skops_champion_holding_a_type_only_its_mlmodel_trusts_is_refused(home, tmp_path):
    marker = tmp_path / "skops-ran"
    model = tiny_classifier()
    model.tripwire_ = Tripwire(marker)  # a type our list does not name, listed by the MLmodel
    stored = register(home, "smuggled", model, skops_trusted_types=[*SKOPS_TRUSTED_TYPES, TRIPWIRE])
    assert TRIPWIRE in (stored / "MLmodel").read_text()
    marker.unlink()  # MLflow's own save loads the file back once, with the types it was given
    with pytest.raises(ModelNotReadyError, match=f"untrusted types.*{TRIPWIRE}"):
        load_champion("smuggled", home)
    assert not marker.exists()


def test_hostile_a_model_file_outside_its_artifact_is_refused(home):
    stored = register(home, "escaped", tiny_classifier(), skops_trusted_types=SKOPS_TRUSTED_TYPES)
    mlmodel = stored / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("data: model.skops", "data: ../../x.skops"))
    with pytest.raises(ModelNotReadyError, match="outside its artifact"):
        load_champion("escaped", home)
