"""Conservation family: cross-species conservation scores, passed through with NaN kept.

The scores are already on meaningful scales and gradient-boosted trees handle
missing values natively, so imputing here would only erase the signal that a
position could not be aligned. ``conservation_n_missing`` makes that signal
explicit for models that cannot see NaN.
"""

from __future__ import annotations

import pandas as pd

from vipredict.features.base import SchemaTransformer, count_missing
from vipredict.features.spec import FeatureSpec
from vipredict.schema import CONSERVATION_SCORES

FAMILY = "conservation"

_SCORE_SPECS = (
    FeatureSpec(
        "gerp_rs",
        "float64",
        "rejected substitutions (RS)",
        "GERP++ rejected-substitution score: substitutions expected under neutrality minus "
        "those observed; higher = more constrained (about -12.3 to 6.2).",
        FAMILY,
        ("gerp_rs",),
        tool="GERP++ RS (dbNSFP GERP++_RS)",
        transcript_rule="per position: the same for every transcript",
    ),
    FeatureSpec(
        "phylop100way",
        "float64",
        "-log10 p-value (signed)",
        "phyloP over 100 vertebrates: -log10 p of the observed rate; positive = "
        "conserved (slower than neutral), negative = accelerated.",
        FAMILY,
        ("phylop100way",),
        tool="phyloP 100 vertebrates (dbNSFP phyloP100way_vertebrate)",
        transcript_rule="per position: the same for every transcript",
    ),
    FeatureSpec(
        "phastcons100way",
        "float64",
        "probability (0-1)",
        "phastCons over 100 vertebrates: posterior probability the base lies in a "
        "conserved element; higher = more conserved.",
        FAMILY,
        ("phastcons100way",),
        tool="phastCons 100 vertebrates (absent from training: used by no profile)",
        transcript_rule="per position: the same for every transcript",
    ),
    FeatureSpec(
        "siphy_29way",
        "float64",
        "log-odds",
        "SiPhy over 29 mammals: log-odds of the site being under constraint; higher = "
        "more conserved.",
        FAMILY,
        ("siphy_29way",),
        tool="SiPhy 29 mammals (absent from training: used by no profile)",
        transcript_rule="per position: the same for every transcript",
    ),
)

FEATURES: tuple[FeatureSpec, ...] = (
    *_SCORE_SPECS,
    FeatureSpec(
        "conservation_n_missing",
        "float64",
        "count",
        "Number of the conservation scores above that are missing for the variant.",
        FAMILY,
        CONSERVATION_SCORES,
    ),
)


class ConservationFeatures(SchemaTransformer):
    """Pass-through of :data:`vipredict.schema.CONSERVATION_SCORES` plus a missing count."""

    def required_columns(self) -> tuple[str, ...]:
        """Exactly the canonical conservation columns."""
        return CONSERVATION_SCORES

    def feature_specs(self) -> tuple[FeatureSpec, ...]:
        """The module-level :data:`FEATURES`."""
        return FEATURES

    def _compute(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X[list(CONSERVATION_SCORES)].apply(pd.to_numeric, errors="coerce")
        out = out.astype("float64")
        out["conservation_n_missing"] = count_missing(out, CONSERVATION_SCORES)
        return out
