"""MLflow: where trained models, their calibration and their evidence live.

One SQLite store and one artifact root under ``VIPREDICT_HOME``; every registered
model version carries, as artifacts of its run, the feature names it expects and
the calibration (thresholds + posterior curve) that turns its score into ClinGen
evidence. The service and the CLI load a model only together with those, so a
score can never be read against another model's thresholds.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from vipredict.calibration import EVIDENCE_CODES, CalibrationResult
from vipredict.config import Settings, configure_runtime_env, get_settings

EXPERIMENT = "vipredict"
CHAMPION = "champion"
MODEL_ARTIFACT = "model"
FEATURES_ARTIFACT = "feature_names.json"
CALIBRATION_ARTIFACT = "calibration/calibration.json"
CONFIG_ARTIFACT = "config/training_config.json"

#: Classes skops may rebuild when a logged LightGBM model is loaded. Declared once.
SKOPS_TRUSTED_TYPES = [
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "collections.OrderedDict",
]
PIP_REQUIREMENTS = ["lightgbm==4.7.0", "scikit-learn==1.9.1", "pandas==3.1.1", "numpy<2.5"]


class ModelNotReadyError(RuntimeError):
    """A registered model that cannot serve: missing, or lacking features or calibration."""


def require_thresholds(name: str, thresholds: dict[str, Any]) -> None:
    """A model whose calibration lacks any evidence code cannot be trusted to emit evidence."""
    missing = [code for code in EVIDENCE_CODES if code not in thresholds]
    if missing:
        raise ModelNotReadyError(f"{name}'s calibration lacks thresholds {missing}")


def setup_mlflow(settings: Settings | None = None) -> MlflowClient:
    """Point MLflow at the vipredict home and make sure the experiment exists there."""
    settings = configure_runtime_env(settings or get_settings())
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(EXPERIMENT, artifact_location=settings.artifact_root.as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return client


def log_json(payload: Any, artifact_file: str) -> None:
    mlflow.log_dict(payload, artifact_file)


def log_dataframe(frame: pd.DataFrame, artifact_file: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        frame.to_csv(path, sep="\t", index=False)
        mlflow.log_artifact(str(path), str(Path(artifact_file).parent))


def champion_version(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None


def register_champion(client: MlflowClient, run_id: str, name: str) -> str:
    """Register the run's model under ``name`` and move the ``champion`` alias to it."""
    version = mlflow.register_model(f"runs:/{run_id}/{MODEL_ARTIFACT}", name)
    client.set_registered_model_alias(name, CHAMPION, version.version)
    return str(version.version)


@dataclass
class LoadedModel:
    """A registered model ready to score: estimator, expected features, calibration."""

    name: str
    version: str
    run_id: str
    model: Any
    feature_names: list[str]
    calibration: CalibrationResult
    emits_evidence: bool
    run_metrics: dict[str, float]
    run_params: dict[str, str]

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(features[self.feature_names])[:, 1]


def load_champion(name: str, settings: Settings | None = None) -> LoadedModel:
    """Load ``models:/NAME@champion`` with its feature list and calibration, or fail clearly."""
    client = setup_mlflow(settings)
    version = champion_version(client, name)
    if version is None:
        raise ModelNotReadyError(
            f"no '{CHAMPION}' version of {name} in {mlflow.get_tracking_uri()}; "
            "run `vipredict train`"
        )
    run_id = version.run_id
    try:
        features = mlflow.artifacts.load_dict(f"runs:/{run_id}/{FEATURES_ARTIFACT}")
        calibration = mlflow.artifacts.load_dict(f"runs:/{run_id}/{CALIBRATION_ARTIFACT}")
    except Exception as error:  # MLflow raises several types for a missing artifact
        raise ModelNotReadyError(
            f"{name} v{version.version} (run {run_id}) lacks its feature schema or calibration: "
            f"{error}"
        ) from error
    run = client.get_run(run_id)
    model = mlflow.lightgbm.load_model(f"models:/{name}@{CHAMPION}")
    return LoadedModel(
        name=name,
        version=str(version.version),
        run_id=run_id,
        model=model,
        feature_names=list(features["feature_names"]),
        calibration=CalibrationResult.from_dict(calibration),
        emits_evidence=bool(features.get("emits_evidence", False)),
        run_metrics=dict(run.data.metrics),
        run_params=dict(run.data.params),
    )


def training_config_of_run(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    setup_mlflow(settings)
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{CONFIG_ARTIFACT}")


def json_safe(value: Any) -> Any:
    """Plain JSON values, recursively: non-finite floats and ``pd.NA`` become null (JSON has
    no NaN; an infinite LR in a hold-out report is one), numpy values become Python's."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA:
        return None
    return value


def dump_json(payload: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
