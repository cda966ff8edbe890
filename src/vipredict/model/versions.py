"""Which registered version plays a role, read without MLflow where the home allows it.

Loading a champion and checking that something made for a champion is still current
(pre-scored evidence, :mod:`vipredict.store.prescored`) both start by asking the
registry for a version. Opening it through ``MlflowClient`` imports MLflow and
SQLAlchemy and checks the schema with Alembic: about 100 MB and seconds, for five
rows. So the version is read from the home's SQLite tracking store with ``sqlite3``
when it is a local file at :data:`MLFLOW_SQLITE_SCHEMA`, and asked of MLflow
otherwise (:func:`vipredict.model.registry.mlflow_version`). This module imports
neither MLflow nor the model stack (LightGBM, scikit-learn).
"""

from __future__ import annotations

import math
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from vipredict.config import Settings, get_settings

#: The alias of the registered version that plays a role.
CHAMPION = "champion"


@dataclass(frozen=True)
class RegisteredVersion:
    """What loading needs of a registered version: its run, artifacts, parameters, metrics."""

    version: str
    run_id: str
    artifact_uri: str
    params: dict[str, str]
    metrics: dict[str, float]
    #: The model URI :func:`load_estimator` reads (the champion alias, or the version).
    uri: str



#: The schema (Alembic revision) of MLflow's SQLite tracking store that
#: :func:`sqlite_version` reads: the one MLflow 3.x of ``requirements.lock`` creates
#: (``tests/model/test_lean_loading.py`` checks it is the installed MLflow's head).
#: A store at any other revision is read through MLflow's client.
MLFLOW_SQLITE_SCHEMA = "dc11669786a5"
#: The registry's rows of a single-tenant MLflow (MLflow's ``DEFAULT_WORKSPACE_NAME``).
_WORKSPACE = "default"


def sqlite_version(
    name: str, version: str | None, settings: Settings | None
) -> RegisteredVersion | None:
    """``version`` of ``name`` (None: its champion) read from the home's SQLite store itself.

    Opening the store through ``MlflowClient`` imports MLflow and SQLAlchemy and
    checks the schema with Alembic: about 100 MB and seconds before the first variant
    is scored, for five rows. So scoring reads those rows read-only with ``sqlite3``
    when the store is a local SQLite file at :data:`MLFLOW_SQLITE_SCHEMA`, and asks
    MLflow otherwise (None): another backend, another schema, or a version not found
    (so MLflow words the error).
    """
    settings = settings or get_settings()
    uri = settings.tracking_uri
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            return read_version(db, name, version)
    except sqlite3.Error:
        return None


def read_version(
    db: sqlite3.Connection, name: str, version: str | None
) -> RegisteredVersion | None:
    """The rows :meth:`MlflowClient.get_model_version_by_alias` / ``get_model_version`` and
    ``get_run`` read, at :data:`MLFLOW_SQLITE_SCHEMA` (None: another schema, or not found)."""
    schema = db.execute("SELECT version_num FROM alembic_version").fetchall()
    if schema != [(MLFLOW_SQLITE_SCHEMA,)]:
        return None
    uri = f"models:/{name}/{version}"
    if version is None:
        alias = db.execute(
            "SELECT version FROM registered_model_aliases "
            "WHERE name = ? AND alias = ? AND workspace = ?",
            (name, CHAMPION, _WORKSPACE),
        ).fetchone()
        if alias is None:
            return None
        version, uri = str(alias[0]), f"models:/{name}@{CHAMPION}"
    found = db.execute(
        "SELECT v.run_id, r.artifact_uri FROM model_versions v JOIN runs r "
        "ON r.run_uuid = v.run_id WHERE v.name = ? AND v.version = ? AND v.workspace = ? "
        "AND v.current_stage != 'Deleted_Internal'",
        (name, str(version), _WORKSPACE),
    ).fetchone()
    if found is None:
        return None
    run_id, artifact_uri = found
    params = db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,))
    metrics = db.execute(
        "SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ?", (run_id,)
    )
    return RegisteredVersion(
        version=str(version),
        run_id=run_id,
        artifact_uri=artifact_uri,
        params={key: value for key, value in params},
        metrics={key: math.nan if is_nan else float(value) for key, value, is_nan in metrics},
        uri=uri,
    )


