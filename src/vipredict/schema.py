"""The canonical annotation table every reader emits and every feature builder reads.

Readers translate each source's own column names (dbNSFP v2 vs v4, VEP plugin
fields, the R-mangled names of the ClinGen ``.rda`` files) into these names once,
at the boundary; nothing downstream knows where a value came from except through
the provenance columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

KEY = "variant"
LOCUS_COLUMNS = ("build", "chrom", "pos", "ref", "alt")
PROVENANCE_COLUMNS = ("source", "source_version")

#: Per-tool scores. Units/direction are documented in the feature builders.
CONSERVATION_SCORES = ("gerp_rs", "phylop100way", "phastcons100way", "siphy_29way")
FUNCTIONAL_SCORES = (
    "sift_score",
    "polyphen2_score",
    "fathmm_score",
    "vest4_score",
    "mutpred2_score",
    "ea_score",
    "primateai_score",
    "mpc_score",
    "cadd_phred",
)
#: Ensemble predictors vipredict is compared against: never model features.
COMPARATOR_SCORES = ("revel_score", "bayesdel_noaf_score")
PROTEIN_COLUMNS = ("aa_ref", "aa_pos", "aa_alt")
LABEL_COLUMNS = ("label", "clnsig")

ANNOTATION_COLUMNS = (
    KEY,
    *LOCUS_COLUMNS,
    "gene",
    *PROTEIN_COLUMNS,
    *CONSERVATION_SCORES,
    *FUNCTIONAL_SCORES,
    *COMPARATOR_SCORES,
    "af_global",
    *PROVENANCE_COLUMNS,
)

_FLOAT_COLUMNS = (*CONSERVATION_SCORES, *FUNCTIONAL_SCORES, *COMPARATOR_SCORES, "af_global")


class SchemaError(ValueError):
    """A table that does not match the schema its consumer declared."""


def conform_annotations(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every annotation column present and typed (missing -> NA).

    Called by every reader on its way out, so readers only fill what their
    source actually carries.
    """
    out = frame.copy()
    for column in ANNOTATION_COLUMNS:
        if column not in out.columns:
            out[column] = pd.NA
    for column in _FLOAT_COLUMNS:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out["pos"] = pd.to_numeric(out["pos"], errors="coerce").astype("Int64")
    out["aa_pos"] = pd.to_numeric(out["aa_pos"], errors="coerce").astype("Int64")
    for column in (
        KEY,
        "build",
        "chrom",
        "ref",
        "alt",
        "gene",
        "aa_ref",
        "aa_alt",
        *PROVENANCE_COLUMNS,
    ):
        out[column] = out[column].astype("string")
    extra = [c for c in out.columns if c not in ANNOTATION_COLUMNS]
    return out[[*ANNOTATION_COLUMNS, *extra]]


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(f"{what} lacks column(s) {', '.join(missing)}")
