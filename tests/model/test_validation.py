"""The VEP-format validation on real data: the split by ClinGen set, and harmonisation.

The mirror's VEP + dbNSFP tables (GRCh38) are matched to the ClinGen sets (GRCh37)
by gene and protein change. The counts are the issue's own (157 in 2019; 303 in
2020, 268 B/LB and 35 P/LP); the harmonisation figures are what the README quotes.
"""

from __future__ import annotations

import pandas as pd
import pytest

from vipredict.model.scorer import load_scorer
from vipredict.model.validation import (
    clingen_matches,
    harmonisation_table,
    validation_in_both_forms,
    vep_annotations,
)


@pytest.fixture(scope="module")
def vep() -> pd.DataFrame:
    return vep_annotations()


@pytest.fixture(scope="module")
def training_matches(vep: pd.DataFrame) -> pd.DataFrame:
    return clingen_matches("2019", vep)


@pytest.fixture(scope="module")
def validation_matches(vep: pd.DataFrame) -> pd.DataFrame:
    return clingen_matches("2020", vep)


def test_the_vep_tables_split_by_clingen_set_as_counted(vep, training_matches, validation_matches):
    assert vep["variant"].nunique() == len(vep) > 2_200
    assert len(training_matches) == 157
    assert len(validation_matches) == 303
    assert validation_matches["label"].value_counts().to_dict() == {0: 268, 1: 35}
    assert not set(training_matches["protein_change"]) & set(validation_matches["protein_change"])


def test_harmonised_features_mean_what_they_meant_in_training(training_matches):
    """Real rows: values of another quantity stay missing; the rest agree with training."""
    table = harmonisation_table(training_matches).set_index("feature")
    # dbNSFP's MutPred_score is MutPred v1 (8% agreement with MutPred2 before): not read.
    assert table.loc["mutpred2_score", "n_vep"] == 0
    # EA is not in dbNSFP; phastCons and SiPhy were absent from training.
    assert table.loc["ea_score", "n_vep"] == 0
    assert table.loc["phastcons100way", "n_training"] == 0
    # The first listed dbNSFP value is the training transcript's far more often.
    assert table.loc["vest4_score", "agree"] >= 0.70
    assert table.loc["fathmm_score", "agree"] >= 0.90
    for same in ("primateai_score", "mpc_score", "gerp_rs", "phylop100way"):
        assert table.loc[same, "agree"] == 1.0, same


def test_validation_rows_are_scored_in_both_forms_beside_the_comparators(
    trained_home, validation_matches
):
    """Real models: the 303 rows from their VEP annotations and from ClinGen's own."""
    scorer = load_scorer(trained_home, with_priority=False)
    report = validation_in_both_forms(scorer, validation_matches, set())
    assert report["n"] == 303 and report["n_pathogenic"] == 35
    for name in ("vipredict_from_vep", "vipredict_from_clingen", "REVEL", "BayesDel"):
        assert 0.5 < report[name]["auroc"] <= 1, name
    # VEP output carries no MutPred2 or EA: never the ClinGen tool-set profile.
    assert "clingen" not in report["vipredict_from_vep"]["profiles"]
    assert report["vipredict_from_clingen"]["profiles"].get("clingen", 0) > 0
