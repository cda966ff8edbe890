"""``vipredict evaluate`` end to end on the real trained home: the report behind the README's
validation figures, checked for what a reviewer reads first (what the set is, what the
leakage guard left out, and that every predictor's bands carry intervals)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from vipredict.acmg import CLINGEN_LR, EVIDENCE_CODES
from vipredict.config import Settings
from vipredict.jobs.evaluate import VALIDATION_DECISIONS, run_evaluation
from vipredict.model.evaluation import COMPARATORS, is_rare


@pytest.fixture(scope="module")
def report(trained_home: Settings) -> dict:
    return run_evaluation(trained_home)


def test_the_report_calls_2020_a_validation_set_and_lists_what_it_informed(report):
    assert report["dataset"] == "clingen_2020" and report["role"] == "validation"
    assert report["decisions_informed"] == list(VALIDATION_DECISIONS)


def test_each_validation_variant_counts_once_and_relatives_of_training_are_left_out(report):
    """9,114 rows of 9,058 variants; 88 share a 2019 locus and 17 a gene + protein change
    (14 both): 91 left out before the rows every comparator scores are taken."""
    assert report["n_holdout_total"] == 9_058 and report["n_duplicate_rows"] == 56
    excluded = {reason: entry["n"] for reason, entry in report["excluded"].items()}
    assert excluded == {"conflicting_labels": 0, "shared_locus": 88, "shared_protein_change": 17}
    assert report["n_evaluated"] == 9_058 - 91
    assert 0 < report["n"] < report["n_evaluated"]


def test_every_predictor_has_per_band_lrs_with_intervals(report):
    assert set(report["models"]) == {"noaf", "af", *COMPARATORS}
    for name, metrics in report["models"].items():
        assert metrics["band_lr"], name
        for code, band in metrics["band_lr"].items():
            assert code in EVIDENCE_CODES
            low, high = band["ci"]
            assert low <= band["lr"] <= high, (name, code)
            assert band["clingen_lr"] == CLINGEN_LR[code.split("_")[1]]
            assert bool(band["flag"]) == (low < band["clingen_lr"] or math.isinf(low)), (name, code)


def test_rare_variants_are_the_pm2_eligible_rows_for_every_predictor(report):
    rare = report["rare_variants"]
    assert rare["maf_below"] == 1e-4 and 0 < rare["n"] < report["n"]
    assert set(rare["models"]) == set(report["models"])
    assert is_rare(pd.Series([5e-5, 1e-4, None])).tolist() == [True, False, True]
