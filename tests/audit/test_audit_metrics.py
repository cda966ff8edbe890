"""Per-group metrics and their bootstrap intervals, on real ClinGen 2020 REVEL scores.

REVEL is a real predictor with real labels, so these tests check the metric code
against scikit-learn without needing a trained model.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vipredict.acmg import assign_evidence, likelihood_ratio_from_posterior
from vipredict.audit.metrics import (
    MIN_N,
    GroupData,
    bootstrap_weights,
    group_metrics,
    reliability_bins,
    weighted_auroc,
)
from vipredict.io.readers.clingen import read_clingen_set
from vipredict.model.evaluation import published_thresholds, thresholds_of


@pytest.fixture(scope="module")
def revel() -> GroupData:
    """2020 hold-out REVEL scores with their published ClinGen evidence; REVEL as posterior."""
    rows = read_clingen_set("2020").dropna(subset=["revel_score"])
    score = rows["revel_score"].to_numpy()
    codes = assign_evidence(score, thresholds_of(published_thresholds()["REVEL"]))
    lr = likelihood_ratio_from_posterior(np.clip(score, 1e-6, 1 - 1e-6))
    return GroupData.from_columns(rows["label"].to_numpy(dtype=int), score, lr, codes)


def test_auroc_matches_sklearn_with_and_without_weights(revel: GroupData):
    ones = np.ones((1, len(revel)))
    assert weighted_auroc(revel.score, revel.label, ones)[0] == pytest.approx(
        roc_auc_score(revel.label, revel.score), abs=1e-12
    )
    weights = np.random.default_rng(3).integers(0, 4, size=len(revel))
    assert weighted_auroc(revel.score, revel.label, weights[None, :])[0] == pytest.approx(
        roc_auc_score(revel.label, revel.score, sample_weight=weights), abs=1e-12
    )


def test_bootstrap_weights_are_resamples_of_every_row():
    weights = bootstrap_weights(500, 40, np.random.default_rng(0))
    assert weights.shape == (40, 500)
    assert (weights.sum(axis=1) == 500).all()
    assert (weights == 0).any(axis=1).all()  # a resample leaves rows out


def test_large_group_has_every_metric_with_an_interval_around_it(revel: GroupData):
    out = group_metrics(revel, 100, np.random.default_rng(1))
    assert out["warning"] == "" and out["withheld"] == []
    assert out["n"] == len(revel) and out["n_pathogenic"] == int(revel.label.sum())
    for name in ("auroc", "pp3_on_benign", "bp4_on_pathogenic", "evidence_coverage"):
        low, high = out[f"{name}_ci"]
        assert low <= out[name] <= high and high - low < 0.05
    pp3_on_benign = revel.pp3[revel.label == 0].mean()
    assert out["pp3_on_benign"] == pytest.approx(pp3_on_benign)
    assert out["fraction_pathogenic"] == pytest.approx(revel.label.mean())


def test_small_group_withholds_and_says_why(revel: GroupData):
    pathogenic = np.flatnonzero(revel.label == 1)[:3]
    benign = np.flatnonzero(revel.label == 0)[: MIN_N + 5]
    rows = np.concatenate([pathogenic, benign])
    small = GroupData(*(getattr(revel, f)[rows] for f in ("label", "score", "lr", "pp3", "bp4")))
    out = group_metrics(small, 100, np.random.default_rng(2))
    assert np.isnan(out["auroc"]) and np.isnan(out["auroc_ci"]).all()
    assert {"auroc", "calibration_gap", "bp4_on_pathogenic"} <= set(out["withheld"])
    assert "pp3_on_benign" not in out["withheld"]  # 35 B/LB are enough for a rate on B/LB
    assert "3 P/LP" in out["warning"] and "too few to say" in out["warning"]


def test_reliability_bins_cover_every_scored_variant(revel: GroupData):
    points = reliability_bins(revel, n_bins=5)
    assert sum(p["n"] for p in points) == int(revel.scored.sum())
    predicted = [p["predicted"] for p in points]
    assert predicted == sorted(predicted)
