"""From a variant to calibrated evidence: the one scorer every command and endpoint uses.

``vipredict predict``, ``vipredict annotate``, the service, the queue and the audit
all score through :class:`Scorer`, so a variant gets the same answer wherever it
is asked. The answer is one row of :data:`RESULT_FIELDS`, declared here because
this is the code that writes them; the CLI's TSV, the service's TSV and JSON and
the queue's items take their columns from that declaration.

Only the evidence model (no frequency features) speaks PP3/BP4, and the same
calibrated score in SVCv4's terms, ``mis_prd`` (:func:`vipredict.acmg.mis_prd_points`).
Which of the two an output carries is the deployment's ``VIPREDICT_GUIDELINES``
(:attr:`Scorer.guidelines`): every field says its guideline (:attr:`ResultField.guideline`)
and :func:`reported_columns` is what an output keeps; the results themselves always
hold every column. The priority
model, when loaded, adds a ``priority_score`` for ordering curation queues; its
output is labelled with its own name and never becomes evidence, so population
frequency is not counted twice with BA1/BS1/PM2, which come from the ancestry
frequencies themselves (:func:`vipredict.acmg.frequency_criteria`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vipredict.acmg import (
    FAMILIES,
    FREQUENCY_CRITERIA,
    LEVELS,
    NO_EVIDENCE,
    assign_evidence,
    evidence_points,
    frequency_criteria,
    likelihood_ratio_from_posterior,
    mis_prd_ladder,
    mis_prd_points,
    next_levels,
)
from vipredict.config import (
    ACMG_V3,
    DEFAULT_BS1_FAF,
    GUIDELINES,
    SVCV4,
    ModelRole,
    Settings,
    get_settings,
)
from vipredict.features.frequency import frequency_summary, with_input_frequencies
from vipredict.features.sets import assign_profiles
from vipredict.features.table import build_feature_table
from vipredict.io.inputs import InputRecord, Inputs
from vipredict.model.calibration import CalibrationResult, local_posterior
from vipredict.model.compiled import CompiledPredictor, compile_all, guarded_scores
from vipredict.model.registry import (
    LoadedModel,
    ModelNotReadyError,
    champion_version,
    load_role,
    registered_name,
    setup_mlflow,
)
from vipredict.progress import count_progress
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES
from vipredict.store.index import StoreIndex
from vipredict.store.partitioned import Store, StoreMissingError, locus_queries, miss

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResultField:
    """One column of a scored variant: its name, pandas dtype, meaning, and the guideline
    version it belongs to (``None``: every deployment reports it)."""

    name: str
    dtype: str
    description: str
    guideline: str | None = None


#: The answer for one requested variant, in output order.
RESULT_FIELDS: tuple[ResultField, ...] = (
    ResultField("input", "string", "the variant as it was given"),
    ResultField("variant", "string", "canonical key build:chrom:pos:ref:alt (empty if none)"),
    ResultField("gene", "string", "gene symbol"),
    ResultField("score", "float64", "evidence model score (0-1)"),
    ResultField("posterior", "float64", "local posterior probability at ClinGen's prior 0.0441"),
    ResultField("likelihood_ratio", "float64", "likelihood ratio of that posterior"),
    ResultField("evidence", "string", "calibrated PP3/BP4 code, or none", ACMG_V3),
    ResultField(
        "profile", "string", "annotation profile whose model and calibration scored the variant"
    ),
    ResultField("points", "int64", "Tavtigian points of the evidence", ACMG_V3),
    ResultField(
        "mis_prd",
        "Int64",
        "SVCv4 MIS_PRD points (-4..+4, the 3-point level included) from the same calibration, "
        "before the curator's transcript-relevance step; empty when not scored",
        SVCV4,
    ),
    ResultField("next_level", "string", "next stronger code the score is heading to", ACMG_V3),
    ResultField("next_level_distance", "float64", "score distance to that code", ACMG_V3),
    ResultField("BA1", "string", "met, not_met or unknown (group-max FAF95 > 5%)"),
    ResultField("BS1", "string", "met, not_met or unknown (group-max FAF95 > BS1 threshold)"),
    ResultField("PM2_Supporting", "string", "met, not_met or unknown (AF < 0.0001 everywhere)"),
    ResultField(
        "frequency_source",
        "string",
        "datasets behind BA1/BS1/PM2 ('(input)': the user's own; 'priority model: gnomad_* "
        "from X': input frequencies lent to vipredict-af)",
    ),
    ResultField("priority_score", "float64", "priority model score (orders work; not evidence)"),
    ResultField("priority_model", "string", "priority model name/version"),
    ResultField("model", "string", "evidence model name"),
    ResultField("model_version", "string", "evidence model registered version"),
    ResultField("run_id", "string", "MLflow run of the evidence model"),
    ResultField(
        "annotation_warnings",
        "string",
        "annotations missing or mismatched for this variant ('; '-separated), empty if none",
    ),
    ResultField("error", "string", "named per-variant error, empty when scored"),
    ResultField("error_detail", "string", "what the error means for this variant"),
)
RESULT_COLUMNS: tuple[str, ...] = tuple(f.name for f in RESULT_FIELDS)
#: The result columns of each guideline version (the others belong to every deployment).
GUIDELINE_COLUMNS: dict[str, tuple[str, ...]] = {
    g: tuple(f.name for f in RESULT_FIELDS if f.guideline == g) for g in GUIDELINES
}
_FLOAT_RESULTS = tuple(f.name for f in RESULT_FIELDS if f.dtype == "float64")
_TEXT_RESULTS = tuple(f.name for f in RESULT_FIELDS if f.dtype == "string")

#: Inputs the model cannot judge: no conservation and no functional score at all.
_EVIDENCE_INPUTS = (*CONSERVATION_SCORES, *FUNCTIONAL_SCORES)
ERROR_DETAILS = {
    "no_features": "no conservation or functional score to judge",
    "insufficient_annotation": "carries no annotation profile in full: no calibrated model "
    "for its annotations, so no evidence",
}
#: Warnings column an annotated input carries (readers write it; the answer repeats it).
WARNINGS_COLUMN = "annotation_warnings"


def unreported_columns(guidelines: Iterable[str]) -> frozenset[str]:
    """Result columns an output leaves out when it reports only ``guidelines``."""
    shown = set(guidelines)
    return frozenset(c for g, cols in GUIDELINE_COLUMNS.items() if g not in shown for c in cols)


def reported_columns(
    guidelines: Iterable[str], columns: Sequence[str] = RESULT_COLUMNS
) -> list[str]:
    """``columns`` (default: every result column) without those of unreported guidelines.

    TSV, VCF, JSON and queue outputs all choose their columns through here, so
    ``VIPREDICT_GUIDELINES=svcv4`` drops ``evidence``/``points``/``next_level*``
    everywhere and ``acmg_v3`` drops ``mis_prd``.
    """
    dropped = unreported_columns(guidelines)
    return [c for c in columns if c not in dropped]


def result_rows(results: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Each result row as a dict of plain Python values (``pd.NA`` where missing).

    Converted column by column: far cheaper than ``to_dict`` on text columns, which
    the renderers of every answer (service JSON, VA-Spec) iterate row by row.
    """
    columns = {name: results[name].astype(object).tolist() for name in results.columns}
    for i in range(len(results)):
        yield {name: values[i] for name, values in columns.items()}


def caps_of(model: LoadedModel, calibration: CalibrationResult) -> dict[str, str]:
    """The strongest level each family may reach: the training run's ``pp3_max_level`` /
    ``bp4_max_level`` parameters.

    The calibration's thresholds already lack the capped levels, but its
    3-point thresholds were never capped: the cap decides whether ±3 may be given
    (:func:`vipredict.acmg.mis_prd_steps`). A run without those parameters is read
    conservatively: each family capped at the strongest level its thresholds
    reach, so ±3 is given only where ±4 could be.
    """
    caps = {}
    for family in FAMILIES:
        named = model.run_params.get(f"{family.lower()}_max_level")
        if named in LEVELS:
            caps[family] = str(named)
            continue
        reached = [lv for lv in LEVELS if calibration.thresholds.get(f"{family}_{lv}") is not None]
        caps[family] = reached[-1] if reached else LEVELS[0]
    return caps


def mis_prd_ladders(model: LoadedModel) -> dict[str, dict[str, Any]]:
    """Per annotation profile: where each MIS_PRD value starts (the model card's table).

    ``reverse`` says which way the thresholds point (False: a score at or above a
    positive value's threshold, or at or below a negative one's, gets that value);
    ``caps`` are the levels the model may reach (:func:`caps_of`).
    """
    profiles = model.profiles or ()
    entries = [(p.name, p.calibration) for p in profiles] or [("", model.calibration)]
    out = {}
    for name, calibration in entries:
        caps = caps_of(model, calibration)
        out[name] = {
            "reverse": bool(calibration.reverse),
            "caps": caps,
            "starts": mis_prd_ladder(calibration.thresholds, calibration.three_point, caps),
        }
    return out


def route(model: LoadedModel, features: pd.DataFrame) -> np.ndarray:
    """The profile that scores each row ("" where the row carries no profile in full)."""
    return assign_profiles(tuple(p.profile for p in model.profiles), features)


def has_enough_annotation(model: LoadedModel, features: pd.DataFrame) -> np.ndarray:
    """Whether each row carries some annotation profile in full, so it can get evidence."""
    return route(model, features) != ""


@dataclass(frozen=True)
class FeatureMatrix:
    """Feature rows as one float64 array (NaN where a value is missing) and its column names.

    What :func:`row_evidence` routes and scores: the profiles' boosters read float64
    rows anyway, so a caller that holds Arrow columns (``annotate``, a block of a
    genome's VCF) builds this without a pandas frame in between.
    """

    values: np.ndarray
    columns: tuple[str, ...]
    _where: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.columns):
            raise ValueError(f"{self.values.shape} values for {len(self.columns)} columns")
        object.__setattr__(self, "_where", {c: i for i, c in enumerate(self.columns)})

    @classmethod
    def of_frame(cls, features: pd.DataFrame, columns: Iterable[str]) -> FeatureMatrix:
        """``columns`` of ``features`` that it has, as float64 (None and NA become NaN)."""
        present = [c for c in dict.fromkeys(columns) if c in features.columns]
        values = features[present].to_numpy(dtype=np.float64, na_value=np.nan)
        return cls(np.ascontiguousarray(values), tuple(present))

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def positions(self, names: Iterable[str]) -> list[int]:
        """Column index of each name (a ``KeyError`` names a column the rows lack)."""
        return [self._where[name] for name in names]


def _needed_columns(model: LoadedModel) -> list[str]:
    """Every column :func:`row_evidence` reads: profile sources and features, evidence inputs."""
    names = [n for p in model.profiles for n in (*p.profile.sources, *p.feature_names)]
    return list(dict.fromkeys([*names, *_EVIDENCE_INPUTS]))


def route_codes(model: LoadedModel, features: FeatureMatrix) -> np.ndarray:
    """Index in ``model.profiles`` of the profile that scores each row (-1: none carried in
    full): :func:`route` on arrays, the first profile whose every source the row carries."""
    present = ~np.isnan(features.values)
    codes = np.full(len(features), -1, dtype=np.int64)
    for i, profile in enumerate(model.profiles):
        carried = present[:, features.positions(profile.profile.sources)].all(axis=1)
        codes[(codes < 0) & carried] = i
    return codes


@dataclass(frozen=True)
class RowEvidence:
    """Evidence of feature rows as arrays, one entry per row: the core every answer is made of.

    ``score``/``posterior``/``mis_prd`` are NaN and ``evidence`` is ``none`` where no
    profile scored the row (``profile`` ""). ``error`` is the row's named error
    ("" when scored): ``no_features`` without any conservation or functional score
    among the columns given, ``insufficient_annotation`` without a profile in full.
    """

    score: np.ndarray
    posterior: np.ndarray
    evidence: np.ndarray
    mis_prd: np.ndarray
    profile: np.ndarray
    error: np.ndarray


def decision_thresholds(calibration: CalibrationResult) -> list[float | None]:
    """Every threshold a decision of :func:`row_evidence` reads: the codes' and MIS_PRD's."""
    return [*calibration.thresholds.values(), *calibration.three_point.values()]


def row_evidence(
    model: LoadedModel,
    features: pd.DataFrame | FeatureMatrix,
    threads: int | None = None,
    predictors: Mapping[str, CompiledPredictor] | None = None,
) -> RowEvidence:
    """:class:`RowEvidence` of feature rows: one model call per profile on all its rows.

    Arrays only (no per-row Python, no frame assembled per profile), so that
    ``annotate`` can score a block of a genome's VCF at once; :func:`profile_evidence`
    and :meth:`Scorer.score_features` build their frames from the same arrays. A
    frame is read as the :class:`FeatureMatrix` of the columns routing and scoring
    need. ``threads``: prediction threads (None: LightGBM's default, one compiled).
    ``predictors``: compiled boosters by profile name (:meth:`Scorer.compile`), used
    where given; a row they score near a threshold is re-scored by LightGBM
    (:func:`~vipredict.model.compiled.guarded_scores`), so decisions are LightGBM's.
    """
    matrix = (
        features
        if isinstance(features, FeatureMatrix)
        else FeatureMatrix.of_frame(features, _needed_columns(model))
    )
    codes = route_codes(model, matrix)
    names = np.array([p.name for p in model.profiles] + [""], dtype=object)
    routes = names[codes].astype(str)  # code -1 picks the trailing ""
    n = len(matrix)
    score, posterior, mis_prd = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    evidence = np.full(n, NO_EVIDENCE, dtype=object)
    options = {} if threads is None else {"num_threads": threads}
    for i, profile in enumerate(model.profiles):
        rows = np.flatnonzero(codes == i)
        if not len(rows):
            continue
        values = matrix.values[np.ix_(rows, matrix.positions(profile.feature_names))]
        calibration = profile.calibration
        predictor = (predictors or {}).get(profile.name)
        if predictor is None:
            scores = np.asarray(profile.booster.predict(values, **options))
        else:
            edges = decision_thresholds(calibration)
            scores = guarded_scores(predictor, profile.booster, values, edges, threads)
        score[rows] = scores
        posterior[rows] = local_posterior(scores, calibration)
        evidence[rows] = assign_evidence(scores, calibration.thresholds)
        mis_prd[rows] = mis_prd_points(
            scores,
            calibration.thresholds,
            calibration.three_point,
            caps=caps_of(model, calibration),
        )
    inputs = [c for c in _EVIDENCE_INPUTS if c in matrix.columns]
    judged = ~np.isnan(matrix.values[:, matrix.positions(inputs)]).all(axis=1)
    error = np.full(n, "", dtype=object)  # filled in place: no string array in between
    error[codes < 0] = "insufficient_annotation"
    error[~judged] = "no_features"
    return RowEvidence(score, posterior, evidence, mis_prd, routes, error)


def profile_evidence(model: LoadedModel, features: pd.DataFrame) -> pd.DataFrame:
    """Score, posterior, LR, code and points of each row from the profile that scores it.

    Index kept. A row that carries no profile gets NaN and no evidence: no model
    was calibrated for its annotations.
    """
    return _evidence_frame(row_evidence(model, features), features.index)


def _evidence_frame(found: RowEvidence, index: pd.Index) -> pd.DataFrame:
    """The columns of :func:`profile_evidence` from :class:`RowEvidence`."""
    return pd.DataFrame(
        {
            "score": found.score,
            "posterior": found.posterior,
            "likelihood_ratio": likelihood_ratio_from_posterior(found.posterior),
            "evidence": found.evidence,
            "points": evidence_points(found.evidence).astype("int64"),
            "mis_prd": pd.array(found.mis_prd, dtype="Float64").astype("Int64"),
            "profile": found.profile.astype(object),
        },
        index=index,
    )


def evidence_of(
    scores: np.ndarray, calibration: CalibrationResult, caps: dict[str, str] | None = None
) -> pd.DataFrame:
    """Posterior, LR, calibrated code and its points, and MIS_PRD points, under one calibration.

    ``caps``: the model's caps (:func:`caps_of`); they decide the 3-point level, the
    calibration's thresholds having the other capped levels already removed.
    """
    posterior = local_posterior(scores, calibration)
    codes = assign_evidence(scores, calibration.thresholds)
    return pd.DataFrame(
        {
            "score": scores,
            "posterior": posterior,
            "likelihood_ratio": likelihood_ratio_from_posterior(posterior),
            "evidence": codes,
            "points": evidence_points(codes),
            "mis_prd": mis_prd_points(
                scores, calibration.thresholds, calibration.three_point, caps=caps
            ),
        }
    )


def next_levels_by_profile(
    model: LoadedModel, scores: np.ndarray, profiles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Next stronger code and the score distance to it, under each row's own profile."""
    codes = np.full(len(scores), None, dtype=object)
    distances = np.full(len(scores), np.nan)
    for profile in model.profiles:
        rows = profiles == profile.name
        if rows.any():
            codes[rows], distances[rows] = next_levels(scores[rows], profile.calibration.thresholds)
    return codes, distances


def warnings_of(model: LoadedModel, features: pd.DataFrame, profiles: np.ndarray) -> list[str]:
    """Each row's reader warnings plus the sources of the richest profile it lacks."""
    given = (
        features[WARNINGS_COLUMN].fillna("").astype(str).tolist()
        if WARNINGS_COLUMN in features.columns
        else [""] * len(features)
    )
    richest = model.profiles[0].profile
    present = features[list(richest.sources)].notna().to_numpy()
    return [
        row_warnings(text, [s for s, ok in zip(richest.sources, present[i], strict=True) if not ok],
                     profiles[i])
        for i, text in enumerate(given)
    ]  # fmt: skip


def row_warnings(given: str, lacking: Sequence[str], profile: str) -> str:
    """One row's ``annotation_warnings``: its reader's, then the richest profile's sources
    it lacks and which profile scored it instead."""
    items = [given] if given else []
    if lacking:
        scored_by = f"scored by profile {profile}" if profile else "no profile complete"
        items.append(f"missing: {', '.join(lacking)} ({scored_by})")
    return "; ".join(items)


def finalise(rows: pd.DataFrame) -> pd.DataFrame:
    """Every result column present and typed, errors with no evidence, in declared order."""
    out = rows.copy()
    for column in RESULT_COLUMNS:
        if column not in out.columns:
            out[column] = pd.NA
    failed = out["error"].fillna("") != ""
    out.loc[failed, "evidence"] = NO_EVIDENCE
    out.loc[failed, "points"] = 0
    out["points"] = pd.to_numeric(out["points"], errors="coerce").fillna(0).astype("int64")
    # MIS_PRD is null where nothing was scored: SVCv4 has no "none" code to say so.
    out["mis_prd"] = pd.to_numeric(out["mis_prd"], errors="coerce").astype("Int64")
    out.loc[failed, "mis_prd"] = pd.NA
    for column in _FLOAT_RESULTS:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    for column in ("error", "error_detail", "profile", WARNINGS_COLUMN, "frequency_source"):
        out[column] = out[column].fillna("")
    for column in _TEXT_RESULTS:
        out[column] = out[column].astype("string")
    return out[list(RESULT_COLUMNS)].reset_index(drop=True)


def failed_rows(records: Sequence[InputRecord]) -> pd.DataFrame:
    """Result rows of records that were never scored (their named errors)."""
    return finalise(
        pd.DataFrame(
            {
                "input": [r.label for r in records],
                "variant": [r.key or "" for r in records],
                "error": [r.error for r in records],
                "error_detail": [r.detail for r in records],
            }
        )
    )


def frequency_evidence(features: pd.DataFrame, bs1_faf: float) -> list[dict[str, dict[str, Any]]]:
    """BA1/BS1/PM2_Supporting per row from the ancestry frequencies, with their ``source``.

    The store's gnomAD/ExAC columns, plus the input's own frequencies when
    :meth:`Scorer.score` added them (:func:`vipredict.features.frequency.with_input_frequencies`).
    """
    s = frequency_summary(features)
    return frequency_criteria(
        s["freq_grpmax_faf95"].tolist(),
        s["freq_grpmax_faf95_group"].tolist(),
        s["freq_max_af"].tolist(),
        s["freq_max_af_group"].tolist(),
        bs1_faf=bs1_faf,
        faf_bound=s["freq_faf95_bound"].tolist(),
        faf_bound_group=s["freq_faf95_bound_group"].tolist(),
        pooled_af=s["freq_pooled_af"].tolist(),
        pooled_group=s["freq_pooled_af_group"].tolist(),
        sources=s["frequency_source"].tolist(),
    )


@dataclass(frozen=True)
class Scored:
    """Results, one row per requested variant in order, and the feature rows behind them."""

    results: pd.DataFrame
    features: pd.DataFrame


@dataclass
class Scorer:
    """The evidence champion, optionally the priority champion, and the store they read."""

    evidence_model: LoadedModel
    priority_model: LoadedModel | None = None
    store: Store | None = None
    bs1_faf: float = DEFAULT_BS1_FAF
    #: ``VIPREDICT_GUIDELINES``: which guideline versions' fields the outputs carry.
    guidelines: tuple[str, ...] = GUIDELINES
    #: Compiled boosters by profile name (:meth:`compile`); empty: LightGBM scores.
    predictors: dict[str, CompiledPredictor] = field(default_factory=dict)
    #: The store's serving index, when the service opened one: :meth:`lookup` reads it.
    index: StoreIndex | None = None

    def __post_init__(self) -> None:
        if not self.evidence_model.emits_evidence:
            raise ValueError(f"{self.evidence_model.name} may not emit PP3/BP4 evidence")

    @property
    def thresholds(self) -> dict[str, float | None]:
        """The first (richest) profile's thresholds: the model card's headline ones."""
        return self.evidence_model.calibration.thresholds

    # ---- from features

    def score_features(self, features: pd.DataFrame) -> pd.DataFrame:
        """Evidence of rows that carry feature columns (index kept): the fast core.

        Each row is scored by the first annotation profile it carries in full
        (``profile``). Rows without any conservation or functional score get
        ``no_features``; rows that carry no profile in full get
        ``insufficient_annotation`` and no score.
        """
        found = self.row_evidence(features)
        out = _evidence_frame(found, features.index)
        out["variant"] = features["variant"].to_numpy()
        out["gene"] = features["gene"].astype("string").to_numpy()
        out["model"] = self.evidence_model.name
        out["model_version"] = self.evidence_model.version
        out["run_id"] = self.evidence_model.run_id
        out[WARNINGS_COLUMN] = warnings_of(
            self.evidence_model, features, out["profile"].to_numpy(dtype=object)
        )
        if self.priority_model is not None and set(self.priority_model.feature_names) <= set(
            features.columns
        ):
            out["priority_score"] = self.priority_model.predict(features)
            out["priority_model"] = f"{self.priority_model.name}/{self.priority_model.version}"
        else:
            out["priority_score"] = np.nan
            out["priority_model"] = ""
        out["error"] = found.error
        out.loc[found.error == "no_features", "priority_score"] = np.nan
        out["error_detail"] = out["error"].map(ERROR_DETAILS).fillna("")
        return out

    def row_evidence(
        self, features: pd.DataFrame | FeatureMatrix, threads: int | None = None
    ) -> RowEvidence:
        """Evidence and errors of feature rows as arrays (:func:`row_evidence`).

        The core of :meth:`score_features` without the frame, the warnings and the
        priority score: what ``annotate`` writes, for a block of rows at once.
        """
        return row_evidence(self.evidence_model, features, threads, self.predictors)

    def compile(
        self, settings: Settings | None = None, *, build: bool = True, show_progress: bool = False
    ) -> list[str]:
        """Score with compiled boosters from now on (:mod:`vipredict.model.compiled`).

        For jobs that score large blocks (``annotate``): each profile's booster is
        loaded from the home's cache, or (``build``) compiled and cached, some
        seconds per profile the first time (in child processes, side by side).
        ``build=False`` only loads what is cached. Returns the profiles compiled now.
        ``show_progress``: a bar over the profiles while compiling (a minute or two).
        The service never calls this: its one-row path scores through LightGBM.
        """
        settings = settings or get_settings()
        profiles = self.evidence_model.profiles
        boosters = [p.booster for p in profiles]
        with count_progress(len(profiles), "compiling trees", show_progress and build) as done:
            found = compile_all(boosters, settings, build, done)
        # A new dict: a copy of this scorer (dataclasses.replace) keeps its own predictors.
        self.predictors = {
            **self.predictors,
            **{p.name: c for p, (c, _) in zip(profiles, found, strict=True) if c is not None},
        }
        return [p.name for p, (_, now) in zip(profiles, found, strict=True) if now]

    def frequency_of(self, features: pd.DataFrame) -> list[dict[str, dict[str, Any]]]:
        """BA1/BS1/PM2_Supporting of each row, at this scorer's BS1 threshold."""
        return frequency_evidence(features, self.bs1_faf)

    def results_of(
        self, features: pd.DataFrame, criteria: list[dict[str, dict[str, Any]]] | None = None
    ) -> pd.DataFrame:
        """:data:`RESULT_COLUMNS` of feature rows (``input`` is the key), in row order.

        ``criteria``: the rows' :meth:`frequency_of`, when the caller has it already.
        """
        scored = self.score_features(features).reset_index(drop=True)
        scored["input"] = scored["variant"]
        # A variant that gets no evidence (an error) is heading to no level either.
        scores = scored["score"].to_numpy(dtype=float)
        codes, distances = next_levels_by_profile(
            self.evidence_model,
            np.where(scored["error"] == "", scores, np.nan),
            scored["profile"].to_numpy(dtype=object),
        )
        scored["next_level"] = codes
        scored["next_level_distance"] = distances
        criteria = self.frequency_of(features) if criteria is None else criteria
        for column, key in FREQUENCY_CRITERIA:
            scored[column] = [c[key]["status"] for c in criteria]
        scored["frequency_source"] = [c["PM2"].get("source") or "" for c in criteria]
        return finalise(scored)

    # ---- from keys and records

    def _store(self) -> Store:
        if self.store is None:
            raise ModelNotReadyError("this scorer was loaded without a feature store")
        return self.store

    def lookup(self, keys: Iterable[str]) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
        """Store rows of the keys found, and the named error of each key not found.

        A locus the store holds with another REF is a ``ref_mismatch``; any other
        miss is ``no_features``. One batched store query, whatever the count; with
        the serving index (:attr:`index`), one index read per key instead (about
        0.2 ms, where a DuckDB query into a 10^8-row store takes about 80 ms).
        """
        unique = list(dict.fromkeys(keys))
        if self.index is not None:
            found = self.index.match(unique)
            return found.frame(), found.missing
        store = self._store()
        match = store.match(locus_queries(unique), store.columns)
        found = match.found.sort_by("row")
        features = found.drop_columns(["row"]).to_pandas()
        hit = set(found["row"].to_pylist())
        refs = match.stored_refs()
        missing: dict[str, tuple[str, str]] = {}
        for row, key in enumerate(unique):
            if row not in hit:
                missing[key] = miss(key, key.split(":")[3], refs.get(row))
        return features, missing

    def score(self, inputs: Inputs) -> Scored:
        """Results of a user's variants and the feature rows they were scored from.

        Store look-ups (all keys in one query), or the input's own annotations when
        it carries them; a caller that needs the features too (the queue's
        frequencies) then reads them from here instead of asking the store again.
        """
        frequencies = inputs.frequencies
        if inputs.annotations is not None:
            features = build_feature_table(inputs.annotations, None, {})
            if frequencies is not None:  # BA1/BS1/PM2 and vipredict-af see the input's own
                features = with_input_frequencies(features, frequencies)
            return Scored(self._assemble(inputs.records, features, {}), features)
        keys = [r.key for r in inputs.records if r.key is not None]
        features, missing = self.lookup(keys) if keys else (pd.DataFrame(), {})
        if frequencies is not None and len(features):
            features = with_input_frequencies(features, frequencies)
        return Scored(self._assemble(inputs.records, features, missing), features)

    def score_records(self, records: Sequence[InputRecord]) -> pd.DataFrame:
        """One result row per record, in order; a bad record gets its named error."""
        return self.score(Inputs(list(records))).results

    def score_inputs(self, inputs: Inputs) -> pd.DataFrame:
        """Results of a user's file: store look-ups, or its own annotations when it has them."""
        return self.score(inputs).results

    def _assemble(
        self,
        records: Sequence[InputRecord],
        features: pd.DataFrame,
        missing: dict[str, tuple[str, str]],
    ) -> pd.DataFrame:
        """Results of ``features`` spread back over ``records`` (repeats answered alike)."""
        scored = (
            self.results_of(features.drop_duplicates("variant").reset_index(drop=True)).set_index(
                "variant", drop=False
            )
            if len(features)
            else pd.DataFrame(columns=list(RESULT_COLUMNS)).set_index("variant", drop=False)
        )
        rows = []
        failed = []
        for i, record in enumerate(records):
            if record.key is not None and record.key in scored.index:
                rows.append((i, record.label, record.key))
                continue
            if record.key is not None and not record.error:
                # A reader may key a record and still refuse it (``not_missense``...).
                reason, detail = missing.get(record.key, ("no_features", ""))
                record = InputRecord(record.label, record.key, reason, detail)
            failed.append((i, record))
        parts = []
        if rows:
            found = scored.loc[[key for _, _, key in rows]].reset_index(drop=True)
            found["input"] = [label for _, label, _ in rows]
            found.index = [i for i, _, _ in rows]
            parts.append(found)
        if failed:
            bad = failed_rows([record for _, record in failed])
            bad.index = [i for i, _ in failed]
            parts.append(bad)
        if not parts:
            return finalise(pd.DataFrame(columns=list(RESULT_COLUMNS)))
        results = pd.concat(parts).sort_index()
        # Every answer names the evidence model that gave it, a refusal too (as the JSON does).
        results["model"] = self.evidence_model.name
        results["model_version"] = self.evidence_model.version
        results["run_id"] = self.evidence_model.run_id
        return finalise(results)


def load_scorer(
    settings: Settings | None = None, *, with_priority: bool = True, with_store: bool = True
) -> Scorer:
    """Evidence champion (required, checked), priority champion (optional) and the store.

    Every command and the service load through here, so all refuse a model whose
    calibration or feature schema is incomplete, or a store that lacks its
    features. ``vipredict annotate`` opens its own store and gives no priority.
    """
    settings = settings or get_settings()
    # Profiles score the evidence model: its scikit-learn classifier is never rebuilt here.
    evidence = load_role(ModelRole.EVIDENCE, settings, estimator=False)
    priority = None
    if with_priority:
        if champion_version(setup_mlflow(settings), registered_name(ModelRole.PRIORITY)):
            priority = load_role(ModelRole.PRIORITY, settings)
        else:
            logger.warning("no priority champion: scoring without priority scores")
    store = None
    if with_store:
        try:
            store = Store.open(settings)
        except StoreMissingError as error:
            raise ModelNotReadyError(str(error)) from error
        require_store_columns(evidence, store.columns)
    return Scorer(evidence, priority, store, settings.bs1_faf, settings.guidelines)


def require_store_columns(evidence: LoadedModel, columns: Iterable[str]) -> None:
    """Refuse a store that lacks any feature of the evidence model (named in the error)."""
    present = set(columns)
    absent = [c for c in evidence.feature_names if c not in present]
    if absent:
        raise ModelNotReadyError(f"the feature store lacks {evidence.name} features {absent[:5]}")
