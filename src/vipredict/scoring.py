"""From a variant to calibrated evidence: the one code path the CLI and the service share.

Only the no-frequency model (``emits_evidence``) speaks PP3/BP4. The
frequency-aware model, when loaded, adds a ``priority_score`` for ordering
curation queues; its output is labelled with its own name and never becomes
evidence, so population frequency is not counted twice with BA1/BS1/PM2.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vipredict.calibration import (
    assign_evidence,
    evidence_points,
    likelihood_ratio_from_posterior,
    local_posterior,
)
from vipredict.featurestore import FeatureStore
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES
from vipredict.tracking import LoadedModel, ModelNotReadyError
from vipredict.variants import Variant, VariantError, parse_variant_key

logger = logging.getLogger(__name__)

RESULT_COLUMNS = (
    "input",
    "variant",
    "gene",
    "score",
    "posterior",
    "likelihood_ratio",
    "evidence",
    "points",
    "model",
    "model_version",
    "run_id",
    "priority_score",
    "priority_model",
    "error",
)
#: Inputs the model cannot judge: no conservation and no functional score at all.
_EVIDENCE_INPUTS = (*CONSERVATION_SCORES, *FUNCTIONAL_SCORES)
#: Fewest per-tool scores for PP3/BP4: with conservation and the amino-acid change
#: alone BP4 failed its LR on the 2020 hold-out, one missing tool at a time did not.
MIN_FUNCTIONAL_SOURCES = 4


def has_enough_annotation(features: pd.DataFrame) -> np.ndarray:
    """Whether each row carries enough per-tool scores for its evidence to be calibrated."""
    present = features[[c for c in FUNCTIONAL_SCORES if c in features.columns]].notna().sum(axis=1)
    return (present >= MIN_FUNCTIONAL_SOURCES).to_numpy()


@dataclass
class Scorer:
    evidence_model: LoadedModel
    priority_model: LoadedModel | None = None
    store: FeatureStore | None = None

    def __post_init__(self) -> None:
        if not self.evidence_model.emits_evidence:
            raise ValueError(f"{self.evidence_model.name} may not emit PP3/BP4 evidence")

    @property
    def model_label(self) -> str:
        return f"{self.evidence_model.name}/{self.evidence_model.version}"

    def evidence_for_scores(self, scores: np.ndarray) -> pd.DataFrame:
        calibration = self.evidence_model.calibration
        posterior = local_posterior(scores, calibration)
        codes = assign_evidence(scores, calibration.thresholds)
        return pd.DataFrame(
            {
                "score": scores,
                "posterior": posterior,
                "likelihood_ratio": likelihood_ratio_from_posterior(posterior),
                "evidence": codes,
                "points": evidence_points(codes),
            }
        )

    def score_features(self, features: pd.DataFrame) -> pd.DataFrame:
        """Evidence for rows that already carry feature columns (index kept)."""
        judged = (
            features[[c for c in _EVIDENCE_INPUTS if c in features.columns]].notna().any(axis=1)
        )
        scores = self.evidence_model.predict(features)
        out = self.evidence_for_scores(scores).set_index(features.index)
        out["variant"] = features["variant"].to_numpy()
        out["gene"] = features["gene"].astype("string").to_numpy()
        out["model"] = self.evidence_model.name
        out["model_version"] = self.evidence_model.version
        out["run_id"] = self.evidence_model.run_id
        if self.priority_model is not None and set(self.priority_model.feature_names) <= set(
            features.columns
        ):
            out["priority_score"] = self.priority_model.predict(features)
            out["priority_model"] = f"{self.priority_model.name}/{self.priority_model.version}"
        else:
            out["priority_score"] = np.nan
            out["priority_model"] = ""
        enough = has_enough_annotation(features)
        thin = np.where(enough, "", "insufficient_annotation")
        out["error"] = np.where(judged, thin, "no_features")
        out.loc[~enough, "evidence"] = "none"
        out.loc[~enough, "points"] = 0
        blank = ~judged
        out.loc[blank, ["score", "posterior", "likelihood_ratio", "priority_score"]] = np.nan
        out.loc[blank, "evidence"] = "none"
        out.loc[blank, "points"] = 0
        return out

    def check_variant(self, text: str) -> Variant:
        """Parse and vet one requested variant against the store; raises VariantError."""
        variant = parse_variant_key(text)
        if not variant.is_snv:
            raise VariantError("not_snv", f"{variant.key} is not a single-nucleotide variant")
        if self.store is not None and not self.store.contains(variant.key):
            seen_ref = self.store.reference_at(variant.build, variant.chrom, variant.pos)
            if seen_ref is not None and seen_ref != variant.ref:
                raise VariantError(
                    "ref_mismatch",
                    f"REF {variant.ref} but the reference at this locus is {seen_ref}",
                )
            raise VariantError("no_features", f"{variant.key} is not in the feature store")
        return variant

    def score_keys(self, entries: Sequence[str]) -> pd.DataFrame:
        """One row per entry, in order; a bad entry gets its named error, never an exception."""
        rows = pd.DataFrame({"input": [str(e) for e in entries]})
        rows["variant"] = ""
        rows["error"] = ""
        good: dict[int, str] = {}
        for i, entry in enumerate(rows["input"]):
            try:
                good[i] = self.check_variant(entry).key
            except VariantError as error:
                rows.loc[i, "error"] = error.reason
        return self._merge(rows, good)

    def _merge(self, rows: pd.DataFrame, good: dict[int, str]) -> pd.DataFrame:
        rows.loc[list(good), "variant"] = list(good.values())
        if not good or self.store is None:
            return finalise(rows)
        features = self.store.lookup(dict.fromkeys(good.values())).reset_index(drop=True)
        scored = self.score_features(features).rename(columns={"error": "feature_error"})
        merged = rows.merge(scored, on="variant", how="left")
        feature_error = merged.pop("feature_error").fillna("")
        merged["error"] = merged["error"].where(merged["error"] != "", feature_error)
        return finalise(merged)


def failed_rows(inputs: Sequence[str], reasons: Sequence[str]) -> pd.DataFrame:
    return finalise(pd.DataFrame({"input": list(inputs), "error": list(reasons)}))


def finalise(rows: pd.DataFrame) -> pd.DataFrame:
    """Every result column present, errors with empty evidence, columns in declared order."""
    out = rows.copy()
    for column in RESULT_COLUMNS:
        if column not in out.columns:
            out[column] = pd.NA
    failed = out["error"].fillna("") != ""
    out.loc[failed, "evidence"] = "none"
    out.loc[failed, "points"] = 0
    out["error"] = out["error"].fillna("")
    out["points"] = pd.to_numeric(out["points"], errors="coerce").fillna(0).astype(int)
    return out[list(RESULT_COLUMNS)]


def load_scorer(settings=None, *, with_priority: bool = True, with_store: bool = True) -> Scorer:
    """Evidence champion (required, checked), priority champion (optional) and the store.

    The CLI and the service load through here, so both refuse a model whose
    calibration or feature schema is incomplete, or a store that lacks its features.
    ``vipredict annotate`` brings its own (partitioned) store and gives no priority,
    so it skips loading both.
    """
    from vipredict.featuresets import load_feature_set
    from vipredict.tracking import (
        champion_version,
        load_champion,
        require_thresholds,
        setup_mlflow,
    )

    evidence = load_champion(load_feature_set("noaf").registered_model, settings)
    require_thresholds(evidence.name, evidence.calibration.thresholds)
    if not evidence.feature_names:
        raise ModelNotReadyError(f"{evidence.name} v{evidence.version} has an empty feature schema")
    priority_name = load_feature_set("af").registered_model
    priority = None
    if with_priority:
        if champion_version(setup_mlflow(settings), priority_name) is not None:
            priority = load_champion(priority_name, settings)
        else:
            logger.warning("no %s champion: scoring without priority scores", priority_name)
    if not with_store:
        return Scorer(evidence, priority, None)
    try:
        store = FeatureStore.load(settings)
    except FileNotFoundError as error:
        raise ModelNotReadyError(str(error)) from error
    require_store_columns(evidence, store.table.columns)
    return Scorer(evidence, priority, store)


def require_store_columns(evidence: LoadedModel, columns: Iterable[str]) -> None:
    """Refuse a store that lacks any feature of the evidence model (named in the error)."""
    present = set(columns)
    absent = [c for c in evidence.feature_names if c not in present]
    if absent:
        raise ModelNotReadyError(f"the feature store lacks {evidence.name} features {absent[:5]}")
