"""Where vipredict keeps its state and finds its data.

Every path the project writes lives under one home directory (``VIPREDICT_HOME``,
default ``.vipredict/`` in the project root) so that a run never touches the
user's own home and a whole installation can be removed with one ``rm -r``.
Settings are read from the environment on each call, so tests can point a
fresh home at a temporary directory with ``monkeypatch.setenv``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Prior probability of pathogenicity used by ClinGen (Pejaver et al. 2022).
CLINGEN_PRIOR = 0.0441


@dataclass(frozen=True)
class Settings:
    """Resolved locations of state and data for one process."""

    home: Path
    data_mirror: Path | None
    #: ``VIPREDICT_QUEUE_URL`` (e.g. ``postgresql+psycopg://...``); unset means SQLite in home.
    queue_url_override: str | None = None
    #: ``VIPREDICT_DASK_SCHEDULER`` (e.g. ``tcp://10.0.0.5:8786``); unset means a LocalCluster.
    dask_scheduler: str | None = None

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db}"

    @property
    def artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def features_dir(self) -> Path:
        return self.home / "features"

    @property
    def feature_table(self) -> Path:
        return self.features_dir / "features.parquet"

    @property
    def downloads_dir(self) -> Path:
        return self.home / "downloads"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def queue_url(self) -> str:
        """Curation-queue database: PostgreSQL when configured, else a SQLite file in home."""
        return self.queue_url_override or f"sqlite:///{self.home / 'queue.db'}"

    @property
    def bentoml_home(self) -> Path:
        return self.home / "bentoml"

    def ensure_dirs(self) -> None:
        for path in (self.home, self.artifact_root, self.features_dir, self.reports_dir):
            path.mkdir(parents=True, exist_ok=True)


def default_mirror() -> Path | None:
    """``../shared/data`` beside the project when it exists (the CI and dev layout)."""
    candidate = PROJECT_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def get_settings() -> Settings:
    home = Path(os.environ.get("VIPREDICT_HOME", PROJECT_ROOT / ".vipredict")).resolve()
    mirror_env = os.environ.get("VIPREDICT_DATA_MIRROR")
    mirror = Path(mirror_env).resolve() if mirror_env else default_mirror()
    queue_url = os.environ.get("VIPREDICT_QUEUE_URL", "").strip() or None
    scheduler = os.environ.get("VIPREDICT_DASK_SCHEDULER", "").strip() or None
    return Settings(
        home=home, data_mirror=mirror, queue_url_override=queue_url, dask_scheduler=scheduler
    )


def configure_runtime_env(settings: Settings | None = None) -> Settings:
    """Point MLflow and BentoML at the vipredict home and switch telemetry off."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("BENTOML_HOME", str(settings.bentoml_home))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    return settings
