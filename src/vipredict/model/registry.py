"""MLflow: where trained models, their calibration and their evidence live.

One SQLite store and one artifact root under ``VIPREDICT_HOME``; every registered
model version carries, as artifacts of its run, the feature names it expects and
the calibration (thresholds + posterior curve) that turns its score into ClinGen
evidence. The service and the CLI load a model only together with those, so a
score can never be read against another model's thresholds.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import lightgbm
import numpy as np
import pandas as pd

from vipredict.acmg import EVIDENCE_CODES
from vipredict.config import (
    ModelRole,
    Settings,
    configure_runtime_env,
    get_settings,
    registered_model_of,
)
from vipredict.features.sets import Profile
from vipredict.model.calibration import CalibrationResult
from vipredict.model.versions import CHAMPION, RegisteredVersion, sqlite_version

if TYPE_CHECKING:  # MLflow is imported where it is used: scoring reads a SQLite home without it
    from mlflow.tracking import MlflowClient

EXPERIMENT = "vipredict"
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
    import mlflow
    from mlflow.tracking import MlflowClient

    settings = configure_runtime_env(settings or get_settings())
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        client.create_experiment(EXPERIMENT, artifact_location=settings.artifact_root.as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return client


def log_dataframe(frame: pd.DataFrame, artifact_file: str) -> None:
    import mlflow

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
    return registered_model_of(role)


def champion_version(client: MlflowClient, name: str):
    import mlflow

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None


def register_champion(client: MlflowClient, run_id: str, name: str) -> str:
    """Register the run's model under ``name`` and move the ``champion`` alias to it."""
    import mlflow

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
    import mlflow
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


@dataclass(frozen=True)
class RunArtifacts:
    """A run's artifacts, read as plain files when its artifact root is a local directory.

    ``mlflow.artifacts.load_text("runs:/...")`` asks the tracking store for the run
    and copies the file to a temporary directory on every call; a profiled model
    reads a dozen files, so they are read in place (an artifact root elsewhere,
    such as object storage, is read through MLflow). A path that leaves the
    artifact directory is refused: a profile's name comes from the artifact itself.
    """

    uri: str
    label: str

    def local_root(self) -> Path | None:
        parsed = urlparse(self.uri)
        if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
            return Path(url2pathname(parsed.path))
        return Path(self.uri) if parsed.scheme == "" else None

    def text(self, path: str) -> str:
        root = self.local_root()
        if root is None:
            import mlflow

            return mlflow.artifacts.load_text(f"{self.uri.rstrip('/')}/{path}")
        file = (root / path).resolve()
        if not file.is_relative_to(root.resolve()):
            raise ModelNotReadyError(f"{self.label}'s artifact {path!r} lies outside its run")
        return file.read_text()

    def load_dict(self, path: str) -> dict[str, Any]:
        return json.loads(self.text(path))


def _load_profiles(artifacts: RunArtifacts) -> tuple[ProfileModel, ...]:
    """A run's annotation profiles, or none for a model trained without them."""
    try:
        payload = artifacts.load_dict(PROFILES_ARTIFACT)
    except ModelNotReadyError:
        raise
    except Exception:  # missing: OSError here, several MLflow types for a remote root
        return ()
    loaded = []
    for entry in payload["profiles"]:
        text = artifacts.text(profile_artifact(entry["name"]))
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
    first profile's. ``model`` is None when a profiled model was loaded for
    scoring only (``load_registered(..., estimator=False)``): its profiles'
    boosters score it, and rebuilding the classifier would cost scikit-learn and skops.
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
    return load_registered(name, None, settings)


def registered_version(client: MlflowClient, name: str, version: str):
    """Registered version ``version`` of ``name``, or a :class:`ModelNotReadyError` naming it."""
    import mlflow

    try:
        return client.get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException as error:
        raise ModelNotReadyError(f"no registered version {version!r} of {name}") from error


def load_registered(
    name: str,
    version: str | None = None,
    settings: Settings | None = None,
    *,
    estimator: bool = True,
) -> LoadedModel:
    """Load registered ``version`` of ``name`` (None: its champion) with features and calibration.

    A registered version's artifacts never change, so any version can be scored
    again later: queue re-evaluation compares the version a queue was built with
    against a newer one (:mod:`vipredict.queue.reevaluate`).

    ``estimator=False``: a model with annotation profiles is loaded without its
    classifier (``model`` None; :func:`load_estimator` and its skops checks are
    skipped, its boosters are LightGBM text). A model without profiles scores
    through its classifier, so it is always rebuilt, through :func:`load_estimator`.
    """
    found = (None if estimator else sqlite_version(name, version, settings)) or mlflow_version(
        name, version, settings
    )
    label = f"{name} v{found.version}"
    artifacts = RunArtifacts(found.artifact_uri, label)
    try:
        features = artifacts.load_dict(FEATURES_ARTIFACT)
        calibration = artifacts.load_dict(CALIBRATION_ARTIFACT)
    except Exception as error:  # missing: OSError here, several MLflow types for a remote root
        raise ModelNotReadyError(
            f"{name} v{found.version} (run {found.run_id}) lacks its feature schema or "
            f"calibration: {error}"
        ) from error
    profiles = _load_profiles(artifacts)
    model = load_estimator(found.uri, label) if estimator or not profiles else None
    return LoadedModel(
        name=name,
        version=found.version,
        run_id=found.run_id,
        model=model,
        feature_names=list(features["feature_names"]),
        calibration=CalibrationResult.from_dict(calibration),
        emits_evidence=bool(features.get("emits_evidence", False)),
        run_metrics=found.metrics,
        run_params=found.params,
        profiles=profiles,
    )


def mlflow_version(name: str, version: str | None, settings: Settings | None) -> RegisteredVersion:
    """``version`` of ``name`` (None: its champion), asked through MLflow's client."""
    import mlflow

    client = setup_mlflow(settings)
    if version is None:
        found = champion_version(client, name)
        if found is None:
            raise ModelNotReadyError(
                f"no '{CHAMPION}' version of {name} in {mlflow.get_tracking_uri()}; "
                "run `vipredict train`"
            )
        uri = f"models:/{name}@{CHAMPION}"
    else:
        found = registered_version(client, name, version)
        uri = f"models:/{name}/{found.version}"
    run = client.get_run(found.run_id)
    return RegisteredVersion(
        version=str(found.version),
        run_id=found.run_id,
        artifact_uri=run.info.artifact_uri,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        uri=uri,
    )


def training_config_of_run(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    import mlflow

    setup_mlflow(settings)
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{CONFIG_ARTIFACT}")


def load_role(
    role: ModelRole,
    settings: Settings | None = None,
    version: str | None = None,
    *,
    estimator: bool = True,
) -> LoadedModel:
    """The champion (or registered ``version``) that plays ``role``; an evidence model must be
    able to emit evidence. ``estimator``: as for :func:`load_registered`."""
    model = load_registered(registered_name(role), version, settings, estimator=estimator)
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
    import mlflow

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
