"""Every setting vipredict reads, and where its state and its configuration files live.

One place reads the environment: :func:`get_settings` turns every ``VIPREDICT_*``
variable into one frozen :class:`Settings`, validated once, so a bad value fails
at start-up with its name in the message, not deep inside a request.

* State lives under one home directory (``VIPREDICT_HOME``, default ``.vipredict/``
  in the working directory) so that a run never touches the user's own home and a
  whole installation can be removed with one ``rm -r``.
* Configuration files ship inside the package: the feature sets of the top-level
  ``features/`` folder and the training configurations of ``training/`` are
  installed as the package data ``vipredict._feature_sets`` and
  ``vipredict._training_configs`` (``pyproject.toml`` maps the folders), so an
  installed wheel or a built Bento finds them exactly as a checkout does.
* Code names models by their *role* (:class:`ModelRole`), never by a feature-set
  name: which feature set plays which role is decided here, once.

Settings are read from the environment on each call, so tests point a fresh home
at a temporary directory with ``monkeypatch.setenv``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

#: Package data holding ``features/*.toml`` and ``training/*.toml`` (see pyproject.toml).
FEATURE_SETS_PACKAGE = "vipredict._feature_sets"
TRAINING_CONFIGS_PACKAGE = "vipredict._training_configs"
DEFAULT_TRAINING_CONFIG = "default"

DEFAULT_MAX_VARIANTS = 10_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: Stores of at most this many rows are scored at start-up and answered from memory
#: (``VIPREDICT_PRELOAD_ROWS``; about 1.5 kB of answer per row); larger ones, up to a
#: dbNSFP-sized store, are looked up on demand with at most ``DEFAULT_CACHE_ROWS`` answers kept.
DEFAULT_PRELOAD_ROWS = 200_000
#: Answers a service over a larger store keeps ready (``VIPREDICT_CACHE_ROWS``).
DEFAULT_CACHE_ROWS = 50_000
#: Most service worker processes chosen when ``VIPREDICT_WORKERS`` is unset (each holds
#: its own models and answer cache, about 0.6 GB over an on-demand store).
MAX_AUTO_WORKERS = 4
#: BS1 is gene/disease-specific in practice; 1% group-max FAF95 is only a generic default.
DEFAULT_BS1_FAF = 0.01
#: Guideline versions whose evidence fields vipredict can report (``VIPREDICT_GUIDELINES``):
#: ACMG/AMP 2015 with ClinGen SVI's PP3/BP4 codes and Tavtigian points, and SVCv4's
#: MIS_PRD points (:mod:`vipredict.acmg`). Which ones a deployment reports is its choice.
ACMG_V3 = "acmg_v3"
SVCV4 = "svcv4"
GUIDELINES: tuple[str, ...] = (ACMG_V3, SVCV4)
#: A curator id named in ``VIPREDICT_API_KEYS`` (``alice:KEY``): what decisions record.
CURATOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class ModelRole(StrEnum):
    """What a registered model is for; code asks for a role, this module names the model."""

    #: PP3/BP4 evidence: the one model without population-frequency features.
    EVIDENCE = "evidence"
    #: Orders curation queues; uses frequency, so it is never evidence.
    PRIORITY = "priority"


#: The feature set (``features/<name>.toml``) whose model plays each role.
ROLE_FEATURE_SETS: Mapping[ModelRole, str] = {ModelRole.EVIDENCE: "noaf", ModelRole.PRIORITY: "af"}


def feature_set_of(role: ModelRole) -> str:
    return ROLE_FEATURE_SETS[role]


def feature_set_file(name: str) -> Traversable:
    """The TOML definition of feature set ``name`` (may not exist: callers say so)."""
    return resources.files(FEATURE_SETS_PACKAGE).joinpath(f"{name}.toml")


def registered_model_of(role: ModelRole) -> str:
    """The registered MLflow model that plays ``role``: its feature set's ``registered_model``.

    Read from the TOML alone, so that checking which version plays a role
    (:mod:`vipredict.model.versions`) imports no feature builder (scikit-learn);
    :func:`vipredict.features.sets.feature_set_for` reads and checks the whole set.
    """
    import tomllib

    definition = tomllib.loads(feature_set_file(feature_set_of(role)).read_text())
    return str(definition["registered_model"])


def training_config_file(name: str = DEFAULT_TRAINING_CONFIG) -> Traversable:
    """A packaged training configuration (``training/<name>.toml``)."""
    return resources.files(TRAINING_CONFIGS_PACKAGE).joinpath(f"{name}.toml")


class SettingsError(ValueError):
    """A ``VIPREDICT_*`` variable with a value vipredict cannot use (the message names it)."""


@dataclass(frozen=True)
class Limits:
    """Per-request bounds of the service; a body is refused before parsing when it breaks them."""

    max_variants: int = DEFAULT_MAX_VARIANTS
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class Settings:
    """Every setting of one process, resolved and validated."""

    home: Path
    data_mirror: Path | None
    #: ``VIPREDICT_QUEUE_URL`` (e.g. ``postgresql+psycopg://...``); unset means SQLite in home.
    queue_url_override: str | None = None
    #: ``VIPREDICT_DASK_SCHEDULER`` (e.g. ``tcp://10.0.0.5:8786``); unset means a LocalCluster.
    dask_scheduler: str | None = None
    #: ``VIPREDICT_API_KEYS``: empty means the service is open, and only on loopback.
    api_keys: frozenset[str] = frozenset()
    #: The curator id of each key named ``curator:KEY`` in ``VIPREDICT_API_KEYS``
    #: (see :meth:`curator_of` for a key given alone).
    key_curators: Mapping[str, str] = field(default_factory=dict)
    #: ``VIPREDICT_MAX_VARIANTS`` / ``VIPREDICT_MAX_BYTES``.
    limits: Limits = field(default_factory=Limits)
    #: ``VIPREDICT_BS1_FAF``: the BS1 group-max FAF95 threshold.
    bs1_faf: float = DEFAULT_BS1_FAF
    #: ``VIPREDICT_GUIDELINES``: the guideline versions whose fields the outputs carry
    #: (in :data:`GUIDELINES` order; both by default).
    guidelines: tuple[str, ...] = GUIDELINES
    #: ``VIPREDICT_PRELOAD_ROWS``: the largest store the service scores whole at start-up.
    preload_rows: int = DEFAULT_PRELOAD_ROWS
    #: ``VIPREDICT_CACHE_ROWS``: answers kept ready when the store is larger than that.
    cache_rows: int = DEFAULT_CACHE_ROWS
    #: ``VIPREDICT_WORKERS``: the service's worker processes (None: chosen from the store,
    #: :func:`vipredict.service.predictor.service_workers`).
    workers: int | None = None

    def curator_of(self, key: str) -> str:
        """Who a key speaks for: its configured curator id, else ``key-<8 hex of its sha256>``.

        A decision records this id, never a name the client sends, so the id of a key
        given alone is derived from the key itself: stable across restarts, and not
        the secret.
        """
        return self.key_curators.get(key) or derived_curator_id(key)

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
    def store_dir(self) -> Path:
        """The feature store: every variant vipredict knows, partitioned parquet."""
        return self.home / "store"

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
        for path in (self.home, self.artifact_root, self.reports_dir):
            path.mkdir(parents=True, exist_ok=True)


def default_mirror(cwd: Path | None = None) -> Path | None:
    """``../shared/data`` beside the working directory when it exists (the CI and dev layout)."""
    candidate = (cwd or Path.cwd()).parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def _text(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _int_at_least(env: Mapping[str, str], name: str, default: int, least: int) -> int:
    kind = "a positive integer" if least == 1 else f"an integer >= {least}"
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {kind}, got {raw!r}") from None
    if value < least:
        raise SettingsError(f"{name} must be {kind}, got {raw!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _int_at_least(env, name, default, 1)


def _non_negative_int(env: Mapping[str, str], name: str, default: int) -> int:
    return _int_at_least(env, name, default, 0)


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number between 0 and 1, got {raw!r}") from None
    if not 0.0 < value < 1.0:
        raise SettingsError(f"{name} must be a number between 0 and 1, got {raw!r}")
    return value


def _guidelines(env: Mapping[str, str]) -> tuple[str, ...]:
    """``VIPREDICT_GUIDELINES``: comma-separated names of :data:`GUIDELINES` (unset: all).

    At least one must remain: a deployment that reported no guideline would answer
    scores without any evidence, which is not what anyone deploys it for. The
    result follows :data:`GUIDELINES` order, whatever order the names were given in.
    """
    raw = _text(env, "VIPREDICT_GUIDELINES")
    if raw is None:
        return GUIDELINES
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in GUIDELINES]
    if unknown or not names:
        raise SettingsError(
            f"VIPREDICT_GUIDELINES must name one or more of {', '.join(GUIDELINES)} "
            f"(comma-separated), got {raw!r}"
        )
    return tuple(g for g in GUIDELINES if g in names)


def derived_curator_id(key: str) -> str:
    """The curator id of a key configured without one (see :meth:`Settings.curator_of`)."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def _keys(env: Mapping[str, str]) -> tuple[frozenset[str], dict[str, str]]:
    """``VIPREDICT_API_KEYS``: comma-separated ``curator:KEY`` or bare ``KEY`` entries.

    The curator id is everything before the first colon, so a key that itself holds
    a colon needs a curator in front of it. Messages never repeat a key.
    """
    keys: set[str] = set()
    curators: dict[str, str] = {}
    for position, entry in enumerate(env.get("VIPREDICT_API_KEYS", "").split(","), 1):
        entry = entry.strip()
        if not entry:
            continue
        curator, colon, key = entry.partition(":")
        if not colon:
            curator, key = "", entry
        curator, key = curator.strip(), key.strip()
        if colon and not CURATOR_ID.match(curator):
            raise SettingsError(
                f"VIPREDICT_API_KEYS entry {position}: the curator id before ':' must be 1-64 "
                "letters, digits or ._@- (starting with a letter or digit)"
            )
        if not key:
            raise SettingsError(f"VIPREDICT_API_KEYS entry {position}: the key is empty")
        if key in keys:
            raise SettingsError(f"VIPREDICT_API_KEYS entry {position}: the same key twice")
        keys.add(key)
        if curator:
            curators[key] = curator
    return frozenset(keys), curators


def get_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings of this process, from ``env`` (default: the environment)."""
    env = os.environ if env is None else env
    home = Path(_text(env, "VIPREDICT_HOME") or Path.cwd() / ".vipredict").resolve()
    mirror_env = _text(env, "VIPREDICT_DATA_MIRROR")
    api_keys, key_curators = _keys(env)
    return Settings(
        home=home,
        data_mirror=Path(mirror_env).resolve() if mirror_env else default_mirror(),
        queue_url_override=_text(env, "VIPREDICT_QUEUE_URL"),
        dask_scheduler=_text(env, "VIPREDICT_DASK_SCHEDULER"),
        api_keys=api_keys,
        key_curators=key_curators,
        limits=Limits(
            max_variants=_positive_int(env, "VIPREDICT_MAX_VARIANTS", DEFAULT_MAX_VARIANTS),
            max_bytes=_positive_int(env, "VIPREDICT_MAX_BYTES", DEFAULT_MAX_BYTES),
        ),
        bs1_faf=_fraction(env, "VIPREDICT_BS1_FAF", DEFAULT_BS1_FAF),
        guidelines=_guidelines(env),
        preload_rows=_non_negative_int(env, "VIPREDICT_PRELOAD_ROWS", DEFAULT_PRELOAD_ROWS),
        cache_rows=_positive_int(env, "VIPREDICT_CACHE_ROWS", DEFAULT_CACHE_ROWS),
        workers=_positive_int(env, "VIPREDICT_WORKERS", 0) or None,
    )


def configure_runtime_env(settings: Settings | None = None) -> Settings:
    """Point MLflow and BentoML at the vipredict home and switch telemetry off."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("BENTOML_HOME", str(settings.bentoml_home))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    # Loading a champion downloads its artifacts: no progress bar per file in the service log.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return settings
