"""Validation in the format pipelines send: the VEP + dbNSFP tables against the ClinGen sets.

The mirror's VEP tables (``vep_dbnsfp_benign``/``vep_dbnsfp_pathogenic``, GRCh38)
overlap the ClinGen sets (GRCh37) by gene and protein change:

* the variants also in **2019** measure harmonisation: a feature read from VEP
  output should equal the value the model was trained on for the same variant;
* the variants also in **2020** are a small validation set in the format a
  pipeline sends, scored from their VEP annotations and, for contrast, from the
  ClinGen set's own annotations;
* the variants in **neither** set are an independent test set that is run on
  every landing elsewhere. Nothing here reads them: :func:`clingen_matches`
  returns matched rows only, and no function computes a figure on the rest.

Matching by gene + protein change (not by position) is what makes the two
builds comparable without a lift-over; two nucleotide changes giving the same
protein change would be matched to one another, which is rare among missense
variants and harmless for a harmonisation measurement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vipredict.acmg import assign_evidence
from vipredict.io.inputs import InputRecord, Inputs
from vipredict.io.readers.clingen import read_clingen_set
from vipredict.io.readers.vep import read_vep_source
from vipredict.model.evaluation import (
    evaluate_codes,
    evaluate_evidence,
    published_thresholds,
    thresholds_of,
)
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES

VEP_TABLES = ("vep_dbnsfp_benign", "vep_dbnsfp_pathogenic")
#: Comparators whose published thresholds are applied to the same rows (scores from the VEP table).
COMPARATORS = ("REVEL", "BayesDel")
#: Two values of one feature agree when they differ by at most this, relative to max(1, |value|).
AGREEMENT_TOLERANCE = 1e-3


def protein_change(frame: pd.DataFrame) -> pd.Series:
    """``GENE:R123W``: the key that names one missense change in either build."""
    return (
        frame["gene"].astype("string")
        + ":"
        + frame["aa_ref"].astype("string")
        + frame["aa_pos"].astype("string")
        + frame["aa_alt"].astype("string")
    )


def vep_annotations() -> pd.DataFrame:
    """Both VEP tables as the VEP reader gives them (harmonised canonical annotations)."""
    return pd.concat([read_vep_source(name) for name in VEP_TABLES], ignore_index=True)


def clingen_matches(year: str, vep: pd.DataFrame | None = None) -> pd.DataFrame:
    """VEP rows whose protein change is in ClinGen ``year``, beside that set's own row.

    Columns: the VEP row's (suffix ``_vep``), the ClinGen row's (suffix ``_clingen``),
    ``label`` (ClinGen's) and ``protein_change``. Unmatched VEP rows are dropped
    here and never looked at.
    """
    vep = vep_annotations() if vep is None else vep
    # Not de-duplicated by variant first: a variant listed once per transcript has
    # one protein change per transcript, and the VEP row may name either.
    clingen = read_clingen_set(year)
    clingen = clingen.assign(protein_change=protein_change(clingen))
    clingen = clingen.drop_duplicates("protein_change")
    vep = vep.assign(protein_change=protein_change(vep))
    merged = vep.merge(clingen, on="protein_change", suffixes=("_vep", "_clingen"))
    return merged.rename(columns={"label_clingen": "label"}).reset_index(drop=True)


def side(matches: pd.DataFrame, suffix: str) -> pd.DataFrame:
    """One side of :func:`clingen_matches` under its canonical column names."""
    columns = [c for c in matches.columns if c.endswith(suffix)]
    renamed = matches[columns].rename(columns={c: c[: -len(suffix)] for c in columns})
    return renamed.assign(label=matches["label"].to_numpy())


def harmonisation_table(matches: pd.DataFrame) -> pd.DataFrame:
    """Per feature: how often the VEP-derived value equals the training value.

    ``agree`` is the share of variants with both values whose values agree
    (:data:`AGREEMENT_TOLERANCE`); ``vep_only`` counts values VEP gives where
    training had none (a feature the model never saw filled).
    """
    rows = []
    for column in (*FUNCTIONAL_SCORES, *CONSERVATION_SCORES):
        vep = pd.to_numeric(matches[f"{column}_vep"], errors="coerce")
        training = pd.to_numeric(matches[f"{column}_clingen"], errors="coerce")
        both = vep.notna() & training.notna()
        difference = (vep - training).abs()[both]
        scale = np.maximum(1.0, training[both].abs())
        rows.append(
            {
                "feature": column,
                "n_training": int(training.notna().sum()),
                "n_vep": int(vep.notna().sum()),
                "n_both": int(both.sum()),
                "agree": float((difference <= AGREEMENT_TOLERANCE * scale).mean())
                if both.any()
                else None,
                "median_abs_difference": float(difference.median()) if both.any() else None,
                "vep_only": int((vep.notna() & training.isna()).sum()),
            }
        )
    return pd.DataFrame(rows)


def score_annotations(scorer, annotations: pd.DataFrame) -> pd.DataFrame:
    """Results of annotation rows scored from the annotations themselves (no store)."""
    records = [InputRecord(str(k), str(k)) for k in annotations["variant"]]
    return scorer.score(Inputs(records, annotations.reset_index(drop=True))).results


def validation_in_both_forms(scorer, matches: pd.DataFrame, train_genes: set[str]) -> dict:
    """The matched validation rows scored from VEP annotations and from ClinGen's, with the
    comparators' published thresholds applied to the VEP table's own scores of the same rows."""
    labels = matches["label"].to_numpy(dtype=int)
    disjoint = ~matches["gene_clingen"].isin(train_genes).to_numpy()
    report: dict = {"n": len(matches), "n_pathogenic": int(labels.sum())}
    for form, suffix in (("vep", "_vep"), ("clingen", "_clingen")):
        results = score_annotations(scorer, side(matches, suffix))
        report[f"vipredict_from_{form}"] = evaluate_evidence(results, labels, disjoint)
    published = published_thresholds()
    for name in COMPARATORS:
        entry = published[name]
        scores = pd.to_numeric(matches[f"{entry['column']}_vep"], errors="coerce").to_numpy(float)
        codes = np.where(
            np.isnan(scores), "none", assign_evidence(scores, thresholds_of(entry))
        ).astype(object)
        report[name] = evaluate_codes(codes, scores, labels, disjoint)
    return report
