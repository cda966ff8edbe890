"""Functional family: per-tool deleteriousness predictions, passed through with NaN kept.

Directions differ between tools and are documented per feature instead of being
flipped here: tree models are invariant to monotone transforms, and keeping the
published scale lets a reviewer compare a feature value with the tool's own
thresholds. The ensemble comparators (REVEL, BayesDel) are what vipredict is
benchmarked against, so using them as inputs would leak the comparator into the
model; this family refuses them explicitly.
"""

from __future__ import annotations

import pandas as pd

from vipredict.features.base import SchemaTransformer, count_missing
from vipredict.features.spec import FeatureSpec, refuse_comparators, spec_names
from vipredict.schema import FUNCTIONAL_SCORES, SchemaError

FAMILY = "functional"


#: Which transcript's value every per-tool score is: what the readers apply
#: (:mod:`vipredict.io.readers.vep`), measured against the ClinGen rows.
TRANSCRIPT_RULE = (
    "one transcript: MANE Select, else VEP's canonical, else PICK, else the first listed; "
    "of several dbNSFP values in that entry, the first listed"
)

#: What each score is in the training data (dbNSFP-derived columns of the ClinGen 2019
#: set), and so what a reader must give it; another quantity stays missing.
TOOLS = {
    "sift_score": "SIFT (dbNSFP SIFT_score; VEP's SIFT read as the same score)",
    "polyphen2_score": "PolyPhen-2 HumVar (pph2_prob; VEP's PolyPhen default; never HDIV)",
    "fathmm_score": "FATHMM (dbNSFP FATHMM_score)",
    "vest4_score": "VEST4 (dbNSFP VEST4_score)",
    "mutpred2_score": "MutPred2 (MutPred2.0_score; dbNSFP's MutPred_score is MutPred v1: refused)",
    "ea_score": "Evolutionary Action 1.0, as a fraction (not in dbNSFP)",
    "primateai_score": "PrimateAI (dbNSFP PrimateAI_score)",
    "mpc_score": "MPC (dbNSFP MPC_score)",
    "cadd_phred": "CADD v1.6 PHRED (GRCh37 scores in training; GRCh38 scores differ slightly)",
}


def _score(name: str, unit: str, description: str) -> FeatureSpec:
    return FeatureSpec(
        name, "float64", unit, description, FAMILY, (name,), TOOLS[name], TRANSCRIPT_RULE
    )


_SCORE_SPECS = (
    _score(
        "sift_score",
        "score (0-1)",
        "SIFT normalised probability the substitution is tolerated; LOWER = more "
        "damaging (< 0.05 called deleterious).",
    ),
    _score(
        "polyphen2_score",
        "probability (0-1)",
        "PolyPhen-2 probability of being damaging; higher = more damaging.",
    ),
    _score(
        "fathmm_score",
        "score (unbounded)",
        "FATHMM weighted score; LOWER (more negative) = more damaging (< -1.5 called "
        "damaging).",
    ),
    _score("vest4_score", "score (0-1)", "VEST4 score; higher = more damaging."),
    _score(
        "mutpred2_score",
        "probability (0-1)",
        "MutPred2 probability of pathogenicity; higher = more damaging.",
    ),
    _score(
        "ea_score",
        "score (0-1)",
        "Evolutionary Action: predicted fitness effect as a fraction (EA's own 0-100 scale "
        "divided by 100, as in the ClinGen sets); higher = more damaging.",
    ),
    _score(
        "primateai_score",
        "score (0-1)",
        "PrimateAI deep-learning score; higher = more damaging.",
    ),
    _score(
        "mpc_score",
        "score (>= 0, about 0-5)",
        "MPC missense badness x regional constraint; higher = more damaging.",
    ),
    _score(
        "cadd_phred",
        "PHRED (-10 log10 rank)",
        "CADD scaled score: 10 = top 10%, 20 = top 1% of possible SNVs; higher = more "
        "damaging.",
    ),
)

FEATURES: tuple[FeatureSpec, ...] = (
    *_SCORE_SPECS,
    FeatureSpec(
        "functional_n_missing",
        "float64",
        "count",
        "Number of the functional scores above that are missing for the variant.",
        FAMILY,
        FUNCTIONAL_SCORES,
    ),
)

if set(spec_names(_SCORE_SPECS)) != set(FUNCTIONAL_SCORES):
    raise SchemaError("functional FEATURES drifted from schema.FUNCTIONAL_SCORES")


refuse_comparators(spec_names(FEATURES), "functional FEATURES")


class FunctionalFeatures(SchemaTransformer):
    """Pass-through of :data:`vipredict.schema.FUNCTIONAL_SCORES` plus a missing count."""

    def required_columns(self) -> tuple[str, ...]:
        """Exactly the canonical functional-score columns (comparators are not read)."""
        return FUNCTIONAL_SCORES

    def feature_specs(self) -> tuple[FeatureSpec, ...]:
        """The module-level :data:`FEATURES`."""
        return FEATURES

    def _compute(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X[list(FUNCTIONAL_SCORES)].apply(pd.to_numeric, errors="coerce")
        out = out.astype("float64")
        out["functional_n_missing"] = count_missing(out, FUNCTIONAL_SCORES)
        refuse_comparators(list(out.columns), type(self).__name__)
        return out
