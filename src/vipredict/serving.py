"""The prediction service's logic, kept free of BentoML so it can be tested and reused directly.

``serving/service.py`` is a thin BentoML shell around :class:`PredictionService`.
Everything a response says is decided here:

* PP3/BP4 evidence comes only from the no-frequency model (``vipredict-noaf``)
  through :class:`~vipredict.scoring.Scorer`; the frequency-aware model's score is
  reported apart as a ``priority`` for ordering curation queues.
* BA1/BS1/PM2_Supporting are read from the ancestry frequency features and kept
  apart from PP3/BP4, because that is where population frequency is counted.
* Every variant of the store is scored once at start-up (tens of thousands of
  rows: a few seconds) and kept as a ready JSON fragment. A request is then key
  parsing plus dictionary look-ups, which is what lets a single-variant request
  answer in a few milliseconds and a 10,000-variant request stay cheap.
* Requests are bounded (variants per request, bytes per body, before and after
  gunzip) and, when ``VIPREDICT_API_KEYS`` is set, authenticated; no request can
  name a file or URL for the server to read.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import platform
import re
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from starlette.datastructures import UploadFile
from starlette.requests import Request

from vipredict import __version__
from vipredict.calibration import next_level
from vipredict.config import Settings, get_settings
from vipredict.features.frequency import (
    DEFAULT_DATASETS,
    DEFAULT_GROUPS,
    GRPMAX_EXCLUDED,
    dataset_prefix,
)
from vipredict.featuresets import load_feature_set
from vipredict.featurestore import FeatureStore
from vipredict.predict import VIP_INFO_HEADERS, VIP_KEYS, build_from_header, vcf_records
from vipredict.readers._common import GZIP_MAGIC
from vipredict.scoring import Scorer, load_scorer
from vipredict.tracking import (
    CALIBRATION_ARTIFACT,
    FEATURES_ARTIFACT,
    LoadedModel,
    ModelNotReadyError,
    champion_version,
    json_safe,
    require_thresholds,
    setup_mlflow,
)
from vipredict.variants import VariantError, make_variant, parse_variant_key

logger = logging.getLogger(__name__)

#: ClinGen SVI (Ghosh et al. 2018): stand-alone benign above 5% group-max FAF95.
BA1_FAF = 0.05
#: BS1 is gene/disease-specific in practice; 1% is only a generic default.
DEFAULT_BS1_FAF = 0.01
#: PM2_Supporting (SVI 2020): absent, or extremely rare, in population controls.
PM2_AF = 0.0001
DEFAULT_MAX_VARIANTS = 10_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: Paths that stay open without an API key (orchestrators probe them unauthenticated).
PUBLIC_PATHS = frozenset(("/healthz", "/livez", "/readyz", "/metrics"))
#: Upload routes and their file field; the file must arrive as a real file part.
UPLOAD_FIELDS: Mapping[str, str] = {"/predict/vcf": "file"}
#: Routes that write the curation-queue database: an API key is required even when
#: ``VIPREDICT_API_KEYS`` is unset (then they are refused with 403).
WRITE_ROUTES = re.compile(r"^/queue(/[^/]+/decisions)?/?$")
TOP_FEATURES = 5
COMBINATION_RULES = (
    "PP3/BP4 come only from vipredict-noaf, which uses no population frequency: they may be "
    "combined with BA1, BS1 and PM2_Supporting.",
    "Never combine vipredict PP3/BP4 with another computational predictor's PP3/BP4 (REVEL, "
    "BayesDel, CADD, ...): ClinGen SVI allows one calibrated predictor per variant.",
    "The priority score of vipredict-af uses allele frequency: it orders curation queues and is "
    "never evidence.",
    "BS1's 1% FAF default is generic; in practice the BS1 threshold is gene/disease-specific "
    "(prevalence, penetrance, heterogeneity) and should come from the relevant VCEP.",
)

OutputFormat = Literal["vcf", "tsv", "json"]
ShortText = Annotated[str, StringConstraints(max_length=256)]


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Limits:
    """Per-request bounds; a body is refused before any parsing when it breaks them."""

    max_variants: int = DEFAULT_MAX_VARIANTS
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        return cls(
            max_variants=_positive_int(env, "VIPREDICT_MAX_VARIANTS", DEFAULT_MAX_VARIANTS),
            max_bytes=_positive_int(env, "VIPREDICT_MAX_BYTES", DEFAULT_MAX_BYTES),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def api_keys_from_env(env: Mapping[str, str] | None = None) -> frozenset[str]:
    """``VIPREDICT_API_KEYS`` as a set; empty means the service is open (loopback use)."""
    env = os.environ if env is None else env
    return frozenset(k.strip() for k in env.get("VIPREDICT_API_KEYS", "").split(",") if k.strip())


def bs1_threshold_from_env(env: Mapping[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    raw = env.get("VIPREDICT_BS1_FAF", "").strip()
    return float(raw) if raw else DEFAULT_BS1_FAF


class ServingError(Exception):
    """A whole-request refusal with its HTTP status (per-variant problems are not this)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"error": self.message}).encode()


# --------------------------------------------------------------------------- request/response


class VariantIn(BaseModel):
    """One variant: a ``build:chrom:pos:ref:alt`` key, or its five parts.

    Fields are lenient on purpose: a missing part or a bad allele becomes that
    variant's named error, so the other variants of the request are still answered.
    Examples: ``{"variant": "GRCh37:17:41245466:G:A"}`` or ``{"build": "GRCh37",
    "chrom": "17", "pos": 41245466, "ref": "G", "alt": "A"}``. (No pydantic
    ``examples``: BentoML 1.4's OpenAPI generator rejects them.)
    """

    model_config = ConfigDict(extra="forbid")

    variant: ShortText | None = None
    build: ShortText | None = None
    chrom: ShortText | StrictInt | None = None
    pos: StrictInt | ShortText | None = None
    ref: ShortText | None = None
    alt: ShortText | None = None

    def to_entry(self) -> Entry:
        parts = {"build": self.build, "chrom": self.chrom, "pos": self.pos, "ref": self.ref,
                 "alt": self.alt}
        if self.variant is not None:
            if any(v is not None for v in parts.values()):
                return Entry(self.variant, None, "malformed_record",
                             "give either `variant` or build/chrom/pos/ref/alt, not both")
            return entry_from_key(self.variant)
        label = ":".join("" if v is None else str(v) for v in parts.values())
        missing = [name for name, value in parts.items() if value is None]
        if missing:
            return Entry(label, None, "malformed_record", f"missing field(s) {', '.join(missing)}")
        return _checked(label, lambda: make_variant(*(str(v) for v in parts.values())))


class PredictRequest(BaseModel):
    """Body of ``POST /predict``."""

    variants: list[VariantIn]


class NextLevel(BaseModel):
    code: str
    score_distance: float


class Contribution(BaseModel):
    feature: str
    value: float | None
    contribution: float


class FrequencyCriterion(BaseModel):
    """One ACMG frequency criterion; ``met`` is null when the variant has no frequency data.

    Statistic and threshold of each criterion are constant and stated once in the
    model card (``frequency_rules``), not repeated in every answer.
    """

    status: Literal["met", "not_met", "unknown"]
    met: bool | None
    group: str | None = Field(description="dataset:group that decided (largest value)")
    faf: float | None = Field(description="the compared value (FAF95 for BA1/BS1, AF for PM2)")


class FrequencyEvidence(BaseModel):
    """BA1 and BS1 on group-max FAF95; PM2 is PM2_Supporting on the max group AF."""

    BA1: FrequencyCriterion
    BS1: FrequencyCriterion
    PM2: FrequencyCriterion


class ModelRef(BaseModel):
    name: str
    version: str
    run_id: str


class Priority(BaseModel):
    score: float | None
    model: str | None


class VariantOut(BaseModel):
    input: str
    variant: str | None
    gene: str | None
    score: float | None
    posterior: float | None
    likelihood_ratio: float | None
    evidence: str
    points: int
    next_level: NextLevel | None
    top_features: list[Contribution]
    frequency_evidence: FrequencyEvidence | None
    model: ModelRef
    priority: Priority
    error: str | None
    error_detail: str | None = None


@dataclass(frozen=True)
class Entry:
    """A requested variant after parsing: its label, its key, or why it has none."""

    label: str
    key: str | None
    error: str = ""
    detail: str = ""


def _checked(label: str, make: Callable[[], Any]) -> Entry:
    try:
        variant = make()
    except VariantError as error:
        return Entry(label, None, error.reason, error.detail)
    if not variant.is_snv:  # the same rule as Scorer.check_variant, decided before any look-up
        return Entry(label, None, "not_snv", f"{variant.key} is not a single-nucleotide variant")
    return Entry(label, variant.key)


def entry_from_key(text: str) -> Entry:
    return _checked(text, lambda: parse_variant_key(text))


# --------------------------------------------------------------------------- scoring blocks


def _finite(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def top_contributions(model: LoadedModel, features: pd.DataFrame, k: int = TOP_FEATURES,
                      num_threads: int = 0) -> list:
    """The ``k`` largest |LightGBM SHAP contribution| per row (bias column dropped)."""
    frame = features[model.feature_names]
    params = {"num_threads": num_threads} if num_threads > 0 else {}
    contrib = np.asarray(model.model.booster_.predict(frame, pred_contrib=True, **params))[:, :-1]
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    values = frame.to_numpy(dtype=float)
    names = model.feature_names
    return [
        [
            {"feature": names[j], "value": _finite(values[i, j]),
             "contribution": float(contrib[i, j])}
            for j in order[i]
        ]
        for i in range(len(frame))
    ]


def _labelled_max(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, list[str | None]]:
    """Row-wise max over ``columns`` (NaN when all missing) and the column's dataset:group."""
    if not columns:
        return np.full(len(frame), np.nan), [None] * len(frame)
    values = frame[columns].to_numpy(dtype=float)
    known = ~np.isnan(values).all(axis=1)
    filled = np.where(np.isnan(values), -np.inf, values)
    best = filled.argmax(axis=1)
    top = np.where(known, filled[np.arange(len(frame)), best], np.nan)
    labels = [c.rsplit("_", 1)[0].replace("_", ":", 1) for c in columns]
    groups = [labels[b] if ok and top[i] > 0 else None for i, (b, ok) in
              enumerate(zip(best, known, strict=True))]
    return top, groups


def _criterion(value: float, group: str | None, threshold: float, above: bool) -> dict[str, Any]:
    if math.isnan(value):
        return {"status": "unknown", "met": None, "group": None, "faf": None}
    met = bool(value > threshold) if above else bool(value < threshold)
    return {"status": "met" if met else "not_met", "met": met, "group": group, "faf": value}


def frequency_evidence(features: pd.DataFrame, bs1_faf: float = DEFAULT_BS1_FAF) -> list[dict]:
    """BA1/BS1/PM2_Supporting per row from the ancestry frequency features.

    BA1/BS1 compare the group-max FAF95 over gnomAD and ExAC, skipping the
    bottlenecked groups (asj, fin, oth): a founder allele common in one such
    group is not evidence of benignity elsewhere. PM2 is conservative the other
    way: the allele must be rare (AF < 0.0001) in *every* group, bottlenecked
    ones included; a variant not observed in a covered gene has AF 0.
    """
    prefixes = [dataset_prefix(d) for d in DEFAULT_DATASETS]
    eligible = [g for g in DEFAULT_GROUPS if g not in GRPMAX_EXCLUDED]
    faf_cols = [c for p in prefixes for g in eligible if (c := f"{p}_{g}_faf95") in features]
    af_cols = [c for p in prefixes for g in DEFAULT_GROUPS if (c := f"{p}_{g}_af") in features]
    faf, faf_group = _labelled_max(features, faf_cols)
    af, af_group = _labelled_max(features, af_cols)
    return [
        {
            "BA1": _criterion(faf[i], faf_group[i], BA1_FAF, True),
            "BS1": _criterion(faf[i], faf_group[i], bs1_faf, True),
            "PM2": _criterion(af[i], af_group[i], PM2_AF, False),
        }
        for i in range(len(features))
    ]


# --------------------------------------------------------------------------- the service


@dataclass
class PredictionService:
    """Scores variants through :class:`Scorer` and renders JSON, TSV and annotated VCF."""

    scorer: Scorer
    card: dict[str, Any]
    limits: Limits = field(default_factory=Limits)
    bs1_faf: float = DEFAULT_BS1_FAF
    _base: dict[str, str] = field(default_factory=dict, repr=False)
    _detail: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, settings: Settings | None = None, precompute: bool = True,
             limits: Limits | None = None, bs1_faf: float | None = None) -> PredictionService:
        """Champions + store, or :class:`ModelNotReadyError` naming what is missing."""
        settings = settings or get_settings()
        scorer = load_scorer(settings)
        bs1 = bs1_threshold_from_env() if bs1_faf is None else bs1_faf
        limits = limits or Limits.from_env()
        card = build_model_card(scorer, settings, bs1, limits)
        service = cls(scorer, card, limits, bs1)
        if precompute:
            service.warm()
        return service

    @property
    def store(self) -> FeatureStore:
        assert self.scorer.store is not None  # load_scorer always attaches one
        return self.scorer.store

    def model_card(self) -> dict[str, Any]:
        return self.card

    # ---- scoring and caching

    def warm(self, chunk: int = 20_000) -> None:
        """Score every store variant once (vectorised chunks): the cheap part of each answer."""
        keys = [k for k in self.store.table["variant"].dropna().astype(str).unique()
                if k not in self._base]
        for start in range(0, len(keys), chunk):
            self._fill(keys[start:start + chunk])

    def warm_explanations(self, chunk: int = 2_000, num_threads: int = 1) -> None:
        """Precompute next level + top contributions of every cached variant.

        TreeSHAP is the dear part (about 0.25 ms per variant here), so the service
        runs this in a background thread on one core after start-up; a request for
        a variant not yet explained computes its own rows on demand.
        """
        keys = [k for k in list(self._base) if k not in self._detail]
        for start in range(0, len(keys), chunk):
            self._explain(keys[start:start + chunk], num_threads)

    def cache_status(self) -> dict[str, int]:
        return {"scored": len(self._base), "explained": len(self._detail),
                "store": len(self.store)}

    def _fill(self, keys: Sequence[str]) -> None:
        """Cache the JSON fragment of everything but ``input``, next level and top features."""
        features = self.store.lookup(keys).reset_index(drop=True)
        if features.empty:
            return
        scored = self.scorer.score_features(features).reset_index(drop=True)
        frequencies = frequency_evidence(features, self.bs1_faf)
        model = self._model_ref()
        for i, row in enumerate(scored.to_dict("records")):
            body = self._body(row, frequencies[i], model)
            self._base[str(row["variant"])] = json.dumps(body, separators=(",", ":"))[1:-1]

    def _explain(self, keys: Sequence[str], num_threads: int = 0) -> None:
        """Cache ``"next_level":..,"top_features":[..]`` for store keys (judged rows only)."""
        features = self.store.lookup(keys).reset_index(drop=True)
        if features.empty:
            return
        scores = self.scorer.score_features(features)["score"].to_numpy(dtype=float)
        judged = ~np.isnan(scores)
        contributions = top_contributions(self.scorer.evidence_model, features[judged],
                                          num_threads=num_threads) if judged.any() else []
        thresholds = self.scorer.evidence_model.calibration.thresholds
        explained = iter(contributions)
        for key, score, ok in zip(features["variant"].astype(str), scores, judged, strict=True):
            detail: dict[str, Any] = {"next_level": None, "top_features": []}
            if ok:
                code, distance = next_level(float(score), thresholds)
                if code is not None:
                    detail["next_level"] = {"code": code, "score_distance": distance}
                detail["top_features"] = next(explained)
            self._detail[key] = json.dumps(detail, separators=(",", ":"))[1:-1]

    def _body(self, row: dict[str, Any], frequency: dict, model: dict) -> dict:
        error = row["error"] or None
        return {
            "variant": row["variant"],
            "gene": None if pd.isna(row["gene"]) else str(row["gene"]),
            "score": _finite(row["score"]),
            "posterior": _finite(row["posterior"]),
            "likelihood_ratio": _finite(row["likelihood_ratio"]),
            "evidence": str(row["evidence"]),
            "points": int(row["points"]),
            "frequency_evidence": frequency,
            "model": model,
            "priority": {"score": _finite(row["priority_score"]),
                         "model": row["priority_model"] or None},
            "error": error,
            "error_detail": "no conservation or functional score to judge" if error else None,
        }

    def _model_ref(self) -> dict[str, str]:
        m = self.scorer.evidence_model
        return {"name": m.name, "version": m.version, "run_id": m.run_id}

    def _error_body(self, entry: Entry, reason: str, detail: str) -> dict[str, Any]:
        return {
            "input": entry.label, "variant": entry.key, "gene": None, "score": None,
            "posterior": None, "likelihood_ratio": None, "evidence": "none", "points": 0,
            "next_level": None, "top_features": [], "frequency_evidence": None,
            "model": self._model_ref(), "priority": {"score": None, "model": None},
            "error": reason, "error_detail": detail or None,
        }

    def render(self, entries: Sequence[Entry]) -> list[str]:
        """One JSON object (text) per entry, in order; bad entries carry their named error."""
        wanted = {e.key for e in entries if e.key is not None}
        unscored = [k for k in wanted if k not in self._base and self.store.contains(k)]
        if unscored:
            self._fill(unscored)
        unexplained = [k for k in wanted if k in self._base and k not in self._detail]
        if unexplained:
            self._explain(unexplained)
        out = []
        for entry in entries:
            base = self._base.get(entry.key) if entry.key is not None else None
            if base is not None:
                detail = self._detail[entry.key]  # type: ignore[index]
                out.append(f'{{"input":{json.dumps(entry.label)},{base},{detail}}}')
            else:
                out.append(json.dumps(self._error_body(entry, *self._why_not(entry))))
        return out

    def _why_not(self, entry: Entry) -> tuple[str, str]:
        if entry.key is None:
            return entry.error, entry.detail
        try:
            self.scorer.check_variant(entry.key)
        except VariantError as error:
            return error.reason, error.detail
        return "no_features", f"{entry.key} could not be scored"

    # ---- public entry points

    def check_count(self, n: int) -> None:
        if n > self.limits.max_variants:
            raise ServingError(
                413, f"{n} variants in one request; the limit is VIPREDICT_MAX_VARIANTS="
                     f"{self.limits.max_variants}")

    def predict_json(self, variants: Sequence[VariantIn]) -> bytes:
        """``POST /predict`` body: a JSON array of :class:`VariantOut`, rendered from the cache."""
        self.check_count(len(variants))
        return ("[" + ",".join(self.render([v.to_entry() for v in variants])) + "]").encode()

    def predict(self, variants: Sequence[VariantIn]) -> list[VariantOut]:
        """In-process API: validated response models (slower than :meth:`predict_json`)."""
        self.check_count(len(variants))
        return [VariantOut.model_validate_json(t)
                for t in self.render([v.to_entry() for v in variants])]

    def predict_upload(self, data: bytes, fmt: str = "vcf",
                       build: str = "GRCh37") -> tuple[str, str]:
        """``POST /predict/vcf``: (body, media type) as annotated VCF, TSV or JSON."""
        if fmt not in ("vcf", "tsv", "json"):
            raise ServingError(400, f"format must be vcf, tsv or json, not {fmt!r}")
        lines = decode_upload(data, self.limits.max_bytes).splitlines()
        try:
            build = build_from_header([ln for ln in lines if ln.startswith("##")], build)
        except VariantError as error:
            raise ServingError(400, error.detail) from error
        per_line = {i: line_entries(i + 1, ln, build)
                    for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")}
        entries = [e for group in per_line.values() for e in group]
        if not entries:
            raise ServingError(400, "the upload holds no VCF records")
        self.check_count(len(entries))
        rendered = self.render(entries)
        if fmt == "json":
            return "[" + ",".join(rendered) + "]", "application/json"
        results = [json.loads(t) for t in rendered]
        if fmt == "tsv":
            return results_tsv(results), "text/tab-separated-values"
        return annotate_lines(lines, per_line, results), "text/plain"

    def annotate_vcf(self, data: bytes | str, build: str = "GRCh37") -> str:
        """The same VCF with VIP_SCORE/VIP_POST/VIP_EVIDENCE/VIP_ERR declared and set."""
        raw = data.encode() if isinstance(data, str) else data
        return self.predict_upload(raw, "vcf", build)[0]


# --------------------------------------------------------------------------- loading and card


def evidence_model_name() -> str:
    return load_feature_set("noaf").registered_model


def preflight(settings: Settings | None = None) -> None:
    """Cheap start-up check (no model load): the evidence champion and its artifacts exist."""
    settings = settings or get_settings()
    if not settings.feature_table.is_file():
        raise ModelNotReadyError(f"no feature store at {settings.feature_table}; run "
                                 "`vipredict features`")
    import mlflow

    client = setup_mlflow(settings)
    name = evidence_model_name()
    version = champion_version(client, name)
    if version is None:
        raise ModelNotReadyError(f"no champion version of {name}; run `vipredict train`")
    try:
        calibration = mlflow.artifacts.load_dict(
            f"runs:/{version.run_id}/{CALIBRATION_ARTIFACT}")
        mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{FEATURES_ARTIFACT}")
    except Exception as error:  # MLflow raises several types for a missing artifact
        raise ModelNotReadyError(f"{name} v{version.version} lacks its feature schema or "
                                 f"calibration: {error}") from error
    require_thresholds(name, calibration.get("thresholds") or {})


def _versions() -> dict[str, str]:
    out = {"vipredict": __version__, "python": platform.python_version()}
    for package in ("bentoml", "mlflow", "lightgbm", "scikit-learn", "pandas", "numpy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def _training_data(client: Any, run_id: str) -> list[dict[str, Any]]:
    """Dataset inputs MLflow recorded for the run: name, digest, source type, context."""
    run = client.get_run(run_id)
    out = []
    for item in run.inputs.dataset_inputs or []:
        context = {t.key: t.value for t in item.tags}.get("mlflow.data.context")
        ds = item.dataset
        out.append({"name": ds.name, "digest": ds.digest, "source_type": ds.source_type,
                    "context": context})
    return out


def _model_section(model: LoadedModel, client: Any, role: str) -> dict[str, Any]:
    calibration = model.calibration
    return {
        "name": model.name,
        "version": model.version,
        "run_id": model.run_id,
        "role": role,
        "emits_evidence": model.emits_evidence,
        "feature_names": list(model.feature_names),
        "calibration": {
            "thresholds": dict(calibration.thresholds),
            "prior": calibration.prior,
            "c": calibration.c,
            "n_labelled": calibration.n_labelled,
            "n_pathogenic": calibration.n_pathogenic,
            "n_benign": calibration.n_benign,
            "n_bootstrap": calibration.n_bootstrap,
        },
        "run_metrics": dict(model.run_metrics),
        "training_data": _training_data(client, model.run_id),
    }


def _holdout(client: Any, models: Iterable[LoadedModel]) -> dict[str, Any] | None:
    """Latest ``evaluate-holdout`` run's report, flagged when it scored other model versions."""
    import mlflow

    experiment = client.get_experiment_by_name("vipredict")
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id],
                              "tags.mlflow.runName = 'evaluate-holdout'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    if not runs:
        return None
    run_id = runs[0].info.run_id
    try:
        report = mlflow.artifacts.load_dict(f"runs:/{run_id}/evaluation/holdout.json")
    except Exception:  # an evaluation run without its report: say so rather than fail start-up
        return {"run_id": run_id, "error": "evaluation report artifact missing"}
    champions = {m.run_id for m in models}
    evaluated = {v.get("model", {}).get("run_id") for v in report.get("models", {}).values()}
    return {
        "run_id": run_id,
        "dataset": report.get("dataset"),
        "n": report.get("n"),
        "n_pathogenic": report.get("n_pathogenic"),
        "matches_champions": champions <= evaluated,
        "models": report.get("models", {}),
    }


def build_model_card(scorer: Scorer, settings: Settings, bs1_faf: float, limits: Limits) -> dict:
    """Everything a curator needs to cite a result: versions, data, calibration, rules."""
    return json_safe(_card(scorer, settings, bs1_faf, limits))


def _card(scorer: Scorer, settings: Settings, bs1_faf: float, limits: Limits) -> dict:
    client = setup_mlflow(settings)
    models = [scorer.evidence_model] + ([scorer.priority_model] if scorer.priority_model else [])
    sections = [_model_section(scorer.evidence_model, client, "PP3/BP4 evidence")]
    if scorer.priority_model is not None:
        sections.append(_model_section(scorer.priority_model, client,
                                       "prioritisation only (uses allele frequency)"))
    return {
        "service": "vipredict",
        "versions": _versions(),
        "models": sections,
        "holdout_evaluation": _holdout(client, models),
        "feature_store": {"n_variants": len(scorer.store) if scorer.store else 0},
        "frequency_rules": {
            "BA1": {"statistic": "group-max FAF95", "threshold": BA1_FAF},
            "BS1": {"statistic": "group-max FAF95", "threshold": bs1_faf,
                    "note": "gene/disease-specific in practice; set VIPREDICT_BS1_FAF"},
            "PM2_Supporting": {"statistic": "max group AF (all groups)", "threshold": PM2_AF,
                               "note": "met when not observed in a covered gene"},
            "grpmax_excluded_groups": sorted(GRPMAX_EXCLUDED),
            "datasets": list(DEFAULT_DATASETS),
        },
        "combination_rules": list(COMBINATION_RULES),
        "limits": {"max_variants": limits.max_variants, "max_bytes": limits.max_bytes},
    }


# --------------------------------------------------------------------------- uploads and tables


def decode_upload(data: bytes, max_bytes: int) -> str:
    """Plain or gzip/BGZF text, refused when empty, binary, corrupt or too large once inflated."""
    if not data.strip():
        raise ServingError(400, "empty upload")
    if data[:2] == GZIP_MAGIC:
        data = gunzip_bounded(data, max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ServingError(400, "upload is neither UTF-8 text nor gzip") from error
    if "\x00" in text:
        raise ServingError(400, "upload is binary, not a VCF")
    return text


def gunzip_bounded(data: bytes, max_bytes: int) -> bytes:
    """Inflate every gzip member (BGZF has many) without ever holding more than ``max_bytes``."""
    out = bytearray()
    rest = data
    while rest:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(rest, max_bytes - len(out) + 1)
        except zlib.error as error:
            raise ServingError(400, f"corrupt gzip upload: {error}") from error
        if len(out) > max_bytes:
            raise ServingError(413, f"upload inflates beyond VIPREDICT_MAX_BYTES={max_bytes}")
        if not inflater.eof:
            raise ServingError(400, "truncated gzip upload")
        rest = inflater.unused_data
    return bytes(out)


def line_entries(number: int, line: str, build: str) -> list[Entry]:
    """Entries of one VCF body line (one per ALT), labelled with the file's own line number."""
    entries = []
    for record in vcf_records(iter([line]), build):
        label = f"line {number}: {line[:60]}" if record.label.startswith("line ") else record.label
        entries.append(Entry(label, record.key, record.error))
    return entries


def _vcf_value(value: Any, missing: str = ".") -> str:
    if value is None:
        return missing
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def annotate_line(line: str, results: Sequence[dict[str, Any]]) -> str:
    """One body line with the VIP_* INFO keys replaced (padded to 8 columns when short)."""
    fields = line.split("\t")
    fields += ["."] * (8 - len(fields))
    info = [kv for kv in fields[7].split(";")
            if kv and kv != "." and kv.split("=", 1)[0] not in VIP_KEYS]
    errors = ",".join(r["error"] or "." for r in results)
    if not _alleles_aligned(results):
        info.append(f"VIP_ERR={errors}")
    else:
        info += [
            "VIP_SCORE=" + ",".join(_vcf_value(r["score"]) for r in results),
            "VIP_POST=" + ",".join(_vcf_value(r["posterior"]) for r in results),
            "VIP_EVIDENCE=" + ",".join("." if r["error"] else r["evidence"] for r in results),
            f"VIP_ERR={errors}",
        ]
    fields[7] = ";".join(info)
    return "\t".join(fields)


def _alleles_aligned(results: Sequence[dict[str, Any]]) -> bool:
    """Number=A fields need one value per ALT; a line too short to have an ALT has none."""
    return not (len(results) == 1 and str(results[0]["input"]).startswith("line "))


def annotate_lines(lines: list[str], per_line: Mapping[int, list[Entry]],
                   results: Sequence[dict[str, Any]]) -> str:
    """The whole VCF: ``##INFO`` declarations before ``#CHROM``, every body line kept."""
    out: list[str] = []
    offset = 0
    declared = False
    for i, line in enumerate(lines):
        if line.startswith("##INFO=<ID=VIP_"):
            continue
        if not declared and not line.startswith("##"):
            out.extend(VIP_INFO_HEADERS)
            declared = True
        if i in per_line:
            n = len(per_line[i])
            out.append(annotate_line(line, results[offset:offset + n]))
            offset += n
        else:
            out.append(line)
    return "\n".join(out) + "\n"


TSV_COLUMNS = ("input", "variant", "gene", "score", "posterior", "likelihood_ratio", "evidence",
               "points", "next_level", "next_level_distance", "BA1", "BS1", "PM2_Supporting",
               "priority_score", "priority_model", "model", "model_version", "error")


def _tsv_row(r: Mapping[str, Any]) -> dict[str, Any]:
    nxt = r.get("next_level") or {}
    freq = r.get("frequency_evidence") or {}
    return {
        **{k: r.get(k) for k in ("input", "variant", "gene", "score", "posterior",
                                 "likelihood_ratio", "evidence", "points", "error")},
        "next_level": nxt.get("code"),
        "next_level_distance": nxt.get("score_distance"),
        "BA1": (freq.get("BA1") or {}).get("status"),
        "BS1": (freq.get("BS1") or {}).get("status"),
        "PM2_Supporting": (freq.get("PM2") or {}).get("status"),
        "priority_score": r["priority"]["score"],
        "priority_model": r["priority"]["model"],
        "model": r["model"]["name"],
        "model_version": r["model"]["version"],
    }


def results_tsv(results: Sequence[Mapping[str, Any]]) -> str:
    table = pd.DataFrame([_tsv_row(r) for r in results], columns=list(TSV_COLUMNS))
    return table.to_csv(sep="\t", index=False, na_rep="")


# --------------------------------------------------------------------------- ASGI security


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SecurityMiddleware:
    """API keys, body-size limits and upload hygiene in front of every route.

    The body is read once here, bounded by ``max_bytes`` (whatever the
    Content-Length claims), then replayed to the app. Upload routes must carry
    their file as a real multipart file part: BentoML would otherwise fetch a
    URL given in its place, letting a request name something for the server to read.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], keys: frozenset[str] = frozenset(),
                 limits: Limits | None = None,
                 upload_fields: Mapping[str, str] = UPLOAD_FIELDS) -> None:
        self.app = app
        self.keys = keys
        self.limits = limits or Limits()
        self.upload_fields = upload_fields

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            self._authorise(scope)
            body = await self._read_body(scope, receive)
            replay = _replayer(body, receive)
            if scope["path"] in self.upload_fields and scope["method"] == "POST":
                await self._check_upload(scope, replay, self.upload_fields[scope["path"]])
                replay = _replayer(body, receive)
        except ServingError as error:
            await _send_error(send, error)
            return
        await self.app(scope, replay, send)

    def _authorise(self, scope: Scope) -> None:
        if not self.keys:
            if scope["method"] == "POST" and WRITE_ROUTES.match(scope["path"]):
                raise ServingError(403, "queue writes need an API key: start the service with "
                                        "VIPREDICT_API_KEYS set and send X-API-Key")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-api-key", "")
        auth = headers.get("authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not given or not any(hmac.compare_digest(given.encode(), k.encode())
                                for k in self.keys):
            raise ServingError(401, "missing or invalid API key (send X-API-Key or "
                                    "Authorization: Bearer)")

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.limits.max_bytes
        for name, value in scope["headers"]:
            if name.lower() == b"content-length" and value.isdigit() and int(value) > limit:
                raise ServingError(413, f"request body of {int(value)} bytes exceeds "
                                        f"VIPREDICT_MAX_BYTES={limit}")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ServingError(413, f"request body exceeds VIPREDICT_MAX_BYTES={limit}")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _check_upload(scope: Scope, receive: Receive, field_name: str) -> None:
        request = Request(scope, receive)
        if request.headers.get("content-type", "").split(";")[0].strip() != "multipart/form-data":
            raise ServingError(415, f"send the file as multipart/form-data field '{field_name}'")
        try:
            form = await request.form()
        except Exception as error:  # starlette raises several types for a broken multipart body
            raise ServingError(400, f"unreadable multipart body: {error}") from error
        try:
            if not isinstance(form.get(field_name), UploadFile):
                raise ServingError(400, f"'{field_name}' must be an uploaded file part (URLs and "
                                        "server paths are not accepted)")
        finally:
            await form.close()


def _replayer(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(send: Send, error: ServingError) -> None:
    body = error.body()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="vipredict"'))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
