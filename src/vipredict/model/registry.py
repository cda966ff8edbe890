"""MLflow: where trained models, their calibration and their evidence live.

One SQLite store and one artifact root under ``VIPREDICT_HOME``; every registered
model version carries, as artifacts of its run, the feature names it expects and
the calibration (thresholds + posterior curve) that turns its score into ClinGen
evidence. The service and the CLI load a model only together with those, so a
score can never be read against another model's thresholds.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm
import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from vipredict.acmg import EVIDENCE_CODES
from vipredict.config import ModelRole, Settings, configure_runtime_env, get_settings
from vipredict.features.sets import Profile, feature_set_for
from vipredict.model.calibration import CalibrationResult

EXPERIMENT = "vipredict"
CHAMPION = "champion"
MODEL_ARTIFACT = "model"
FEATURES_ARTIFACT = "feature_names.json"
CALIBRATION_ARTIFACT = "calibration/calibration.json"
CONFIG_ARTIFACT = "config/training_config.json"
#: Annotation profiles of an evidence model: their sources, features and calibration,
#: and one LightGBM text model file each (text: loading it runs no code).
PROFILES_ARTIFACT = "profiles/profiles.json"
#: The validation evaluation run and its report (``vipredict evaluate``; quoted by the model card).
EVALUATION_RUN = "evaluate-validation"
EVALUATION_ARTIFACT = "evaluation/validation.json"

#: Classes skops may rebuild when a logged LightGBM model is loaded. Declared once:
#: logging lists them and loading uses them, whatever the artifact's MLmodel says.
SKOPS_TRUSTED_TYPES = [
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "collections.OrderedDict",
]
#: The one serialization a champion may have: skops rebuilds only trusted types (pickle runs code).
MODEL_FORMAT = "skops"
#: The one estimator class a champion may be (``predict_proba`` is how it scores).
MODEL_CLASS = "lightgbm.sklearn.LGBMClassifier"
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


def log_dataframe(frame: pd.DataFrame, artifact_file: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        frame.to_csv(path, sep="\t", index=False)
        mlflow.log_artifact(str(path), str(Path(artifact_file).parent))


def git_commit() -> str:
    """The commit of the checkout this code runs from, or ``unknown`` (an installed wheel)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def registered_name(role: ModelRole) -> str:
    """The registered MLflow model that plays ``role``."""
    return feature_set_for(role).registered_model


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


def load_estimator(model_uri: str, label: str) -> lightgbm.LGBMClassifier:
    """The LightGBM classifier at ``model_uri``, rebuilt by skops with OUR trusted types only.

    ``mlflow.lightgbm.load_model`` takes the serialization format, the trusted
    types and extra code paths from the artifact's own MLmodel file, and MLflow
    allows pickle by default: whoever can write ``VIPREDICT_HOME`` could run code
    when the service starts. So the MLmodel is only read (YAML, safe loader) to
    find the data file; the format must be skops, the file must lie inside the
    artifact, and :data:`SKOPS_TRUSTED_TYPES` decides what may be rebuilt.
    """
    import skops.io
    from mlflow.models import Model
    from skops.io.exceptions import UntrustedTypesFoundException

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        flavor = Model.load(local).flavors.get("lightgbm") or {}
        fmt, cls = flavor.get("serialization_format"), flavor.get("model_class")
        if fmt != MODEL_FORMAT or cls != MODEL_CLASS:
            raise ModelNotReadyError(
                f"{label} has serialization format {fmt!r} and class {cls!r}: only "
                f"{MODEL_FORMAT} {MODEL_CLASS} models are loaded (others can run code); "
                "retrain it with `vipredict train`"
            )
        data = (local / str(flavor.get("data", ""))).resolve()
        if not data.is_file() or not data.is_relative_to(local.resolve()):
            raise ModelNotReadyError(
                f"{label}'s model file {flavor.get('data')!r} lies outside its artifact"
            )
        try:
            model = skops.io.load(data, trusted=SKOPS_TRUSTED_TYPES)
        except UntrustedTypesFoundException as error:
            raise ModelNotReadyError(f"{label} holds untrusted types: {error}") from error
    if not isinstance(model, lightgbm.LGBMClassifier):
        raise ModelNotReadyError(f"{label} is a {type(model).__name__}, not an LGBMClassifier")
    return model


@dataclass(frozen=True)
class ProfileModel:
    """One annotation profile of an evidence model: its model, features and calibration."""

    profile: Profile
    feature_names: list[str]
    booster: lightgbm.Booster
    calibration: CalibrationResult

    @property
    def name(self) -> str:
        return self.profile.name

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(features[self.feature_names].astype("float64")))


def profile_artifact(name: str) -> str:
    """Run artifact path of a profile's LightGBM text model."""
    return f"profiles/{name}.txt"


def profiles_payload(profiles: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON logged at :data:`PROFILES_ARTIFACT` (one entry per profile, in routing order)."""
    return {"profiles": profiles}


def _load_profiles(run_id: str) -> tuple[ProfileModel, ...]:
    """A run's annotation profiles, or none for a model trained without them."""
    try:
        payload = mlflow.artifacts.load_dict(f"runs:/{run_id}/{PROFILES_ARTIFACT}")
    except Exception:  # MLflow raises several types for a missing artifact
        return ()
    loaded = []
    for entry in payload["profiles"]:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/{profile_artifact(entry['name'])}")
        profile = Profile(entry["name"], entry.get("description", ""), tuple(entry["sources"]))
        loaded.append(
            ProfileModel(
                profile=profile,
                feature_names=list(entry["feature_names"]),
                booster=lightgbm.Booster(model_str=text),
                calibration=CalibrationResult.from_dict(entry["calibration"]),
            )
        )
    return tuple(loaded)


@dataclass
class LoadedModel:
    """A registered model ready to score: estimator, expected features, calibration.

    An evidence model trained with annotation profiles carries them in
    ``profiles`` (routing order); its own ``model`` and ``calibration`` are the
    first profile's.
    """

    name: str
    version: str
    run_id: str
    model: Any
    feature_names: list[str]
    calibration: CalibrationResult
    emits_evidence: bool
    run_metrics: dict[str, float]
    run_params: dict[str, str]
    profiles: tuple[ProfileModel, ...] = ()

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Scores of a single model; a profiled model's scores need its routing."""
        if self.profiles:
            raise TypeError(
                f"{self.name} scores by annotation profile: use "
                "vipredict.model.scorer.profile_evidence (or a Scorer)"
            )
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
    model = load_estimator(f"models:/{name}@{CHAMPION}", f"{name} v{version.version}")
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
        profiles=_load_profiles(run_id),
    )


def training_config_of_run(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    setup_mlflow(settings)
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{CONFIG_ARTIFACT}")


def load_role(role: ModelRole, settings: Settings | None = None) -> LoadedModel:
    """The champion that plays ``role``; the evidence champion must be able to emit evidence."""
    model = load_champion(registered_name(role), settings)
    if role is ModelRole.EVIDENCE:
        require_thresholds(model.name, model.calibration.thresholds)
        if not model.feature_names:
            raise ModelNotReadyError(f"{model.name} v{model.version} has an empty feature schema")
        if not model.emits_evidence:
            raise ModelNotReadyError(f"{model.name} may not emit PP3/BP4 evidence")
        if not model.profiles:
            raise ModelNotReadyError(
                f"{model.name} v{model.version} was trained without annotation profiles: "
                "run `vipredict train`"
            )
        for profile in model.profiles:
            require_thresholds(f"{model.name}/{profile.name}", profile.calibration.thresholds)
    return model


def champions_exist(settings: Settings | None = None) -> bool:
    """Whether every role has a registered champion (``vipredict train --if-missing``)."""
    client = setup_mlflow(settings)
    return all(champion_version(client, registered_name(role)) is not None for role in ModelRole)


def evidence_champion_ready(settings: Settings | None = None) -> None:
    """Cheap readiness check (no model load): the evidence champion and its artifacts exist."""
    client = setup_mlflow(settings)
    name = registered_name(ModelRole.EVIDENCE)
    version = champion_version(client, name)
    if version is None:
        raise ModelNotReadyError(f"no {CHAMPION} version of {name}; run `vipredict train`")
    try:
        calibration = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{CALIBRATION_ARTIFACT}")
        mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{FEATURES_ARTIFACT}")
    except Exception as error:  # MLflow raises several types for a missing artifact
        raise ModelNotReadyError(
            f"{name} v{version.version} lacks its feature schema or calibration: {error}"
        ) from error
    require_thresholds(name, calibration.get("thresholds") or {})
