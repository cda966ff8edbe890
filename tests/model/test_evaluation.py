"""Hold-out evaluation: every function behind a headline figure, on known answers.

The figures are worked out by hand from SYNTHETIC rows: tiny code/label arrays
built row by row, and the SYNTHETIC tiny home's 600 store rows with labels set
here from the model's own answers (so AUROC and band counts follow by
construction). Nothing here is a real result.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from vipredict.acmg import CLINGEN_LR, EVIDENCE_CODES, assign_evidence
from vipredict.model.evaluation import (
    COMPARATORS,
    calibration_holds,
    comparable_rows,
    coverage_and_lr,
    evaluate_model,
    evaluate_predictor,
    is_rare,
    masking_robustness,
    published_thresholds,
    rare_variants,
    thresholds_of,
)
from vipredict.model.registry import LoadedModel
from vipredict.model.scorer import Scorer, profile_evidence

#: The comparators' score columns, as the published-thresholds file names them.
COMPARATOR_COLUMNS = (
    "revel_score",
    "bayesdel_noaf_score",
    "mutpred2_score",
    "vest4_score",
    "cadd_phred",
)


def test_coverage_counts_a_level_or_stronger_and_lr_is_the_ratio():
    codes = np.array(
        [
            "PP3_Strong",
            "PP3_Supporting",
            "none",
            "PP3_Supporting",
            "BP4_Moderate",
            "BP4_Supporting",
            "none",
            "BP4_Strong",
        ]
    )
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    coverage, lr = coverage_and_lr(codes, labels)
    # P/LP: 4; PP3_Supporting-or-more: 2 of 4 P/LP, 1 of 4 B/LB -> LR 2
    assert coverage["PP3_Supporting"] == pytest.approx(0.5)
    assert lr["PP3_Supporting"] == pytest.approx(2.0)
    assert coverage["PP3_Strong"] == pytest.approx(0.25)
    assert lr["PP3_Strong"] == math.inf
    # BP4_Supporting-or-more: 2 of 4 B/LB, 1 of 4 P/LP (the BP4_Strong one)
    assert coverage["BP4_Supporting"] == pytest.approx(0.5)
    assert lr["BP4_Supporting"] == pytest.approx(2.0)
    assert coverage["BP4_Moderate"] == pytest.approx(0.25)
    assert coverage["PP3_VeryStrong"] is None and lr["BP4_VeryStrong"] is None


def test_calibration_holds_compares_with_clingen_lrs():
    metrics = {
        "empirical_lr": {
            "PP3_Supporting": 2.5,
            "PP3_Strong": 20.0,
            "BP4_Moderate": 6.0,
            "BP4_Strong": None,
        }
    }
    assert calibration_holds(metrics) == {
        "PP3_Supporting": True,
        "PP3_Strong": False,
        "BP4_Moderate": True,
    }


def test_published_thresholds_are_ordered_like_evidence_levels():
    for name, entry in published_thresholds().items():
        values = thresholds_of(entry)
        pp3 = [v for k, v in values.items() if k.startswith("PP3") and v is not None]
        bp4 = [v for k, v in values.items() if k.startswith("BP4") and v is not None]
        assert pp3 == sorted(pp3), name
        assert bp4 == sorted(bp4, reverse=True), name
        assert max(bp4) < min(pp3), name


def test_coverage_is_a_share_of_each_class_and_lr_a_ratio_of_shares():
    """Unequal classes (3 P/LP, 6 B/LB), so shares and counts disagree. By hand:
    PP3_Supporting-or-more: P 1/3, B 1/6 -> coverage 1/3, LR 2 (counts would give 1);
    BP4_Supporting-or-more: B 3/6, P 1/3 -> coverage 1/2, LR 1.5 (counts: 3);
    BP4_Moderate: B 1/6, P 0 -> LR inf."""
    pathogenic = ["PP3_Moderate", "none", "BP4_Supporting"]
    benign = ["PP3_Supporting", "none", "none", "BP4_Supporting", "BP4_Supporting", "BP4_Moderate"]
    codes = np.array([*pathogenic, *benign])
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0])
    coverage, lr = coverage_and_lr(codes, labels)
    assert coverage["PP3_Supporting"] == pytest.approx(1 / 3)
    assert lr["PP3_Supporting"] == pytest.approx(2.0)
    assert coverage["PP3_Moderate"] == pytest.approx(1 / 3) and lr["PP3_Moderate"] == math.inf
    assert coverage["BP4_Supporting"] == pytest.approx(0.5)
    assert lr["BP4_Supporting"] == pytest.approx(1.5)
    assert coverage["BP4_Moderate"] == pytest.approx(1 / 6) and lr["BP4_Moderate"] == math.inf
    assert coverage["PP3_Strong"] is None and lr["BP4_Strong"] is None


# --------------------------------------------------------------------------- evaluate_predictor

#: Eight scores, labels and thresholds (SYNTHETIC). Codes by hand: 0.9, 0.8 PP3_Moderate;
#: 0.6 PP3_Supporting; 0.5 none; 0.3, 0.2 BP4_Supporting; 0.1, 0.05 BP4_Moderate.
SCORES = np.array([0.9, 0.8, 0.6, 0.5, 0.3, 0.2, 0.1, 0.05])
LABELS = np.array([1, 1, 0, 1, 0, 0, 1, 0])
THRESHOLDS = {code: None for code in EVIDENCE_CODES} | {
    "PP3_Supporting": 0.55,
    "PP3_Moderate": 0.75,
    "BP4_Supporting": 0.35,
    "BP4_Moderate": 0.15,
}


def _check_predictor_figures(metrics: dict) -> None:
    """By hand: pairs won by each P/LP score (0.9: 4, 0.8: 4, 0.5: 3, 0.1: 1) -> AUROC 12/16;
    precision at each P/LP in rank order 1, 1, 3/4, 4/7 -> AUPRC 0.8304."""
    assert metrics["auroc"] == pytest.approx(0.75)
    assert metrics["auprc"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 7) / 4)
    assert metrics["coverage"]["PP3_Supporting"] == pytest.approx(0.5)
    assert metrics["empirical_lr"]["PP3_Supporting"] == pytest.approx(2.0)
    assert metrics["empirical_lr"]["PP3_Moderate"] == math.inf
    assert metrics["empirical_lr"]["BP4_Supporting"] == pytest.approx(3.0)
    assert metrics["empirical_lr"]["BP4_Moderate"] == pytest.approx(1.0)
    counts = {c: (b["n_pathogenic"], b["n_benign"]) for c, b in metrics["band_lr"].items()}
    assert counts == {
        "PP3_Supporting": (0, 1),
        "PP3_Moderate": (2, 0),
        "BP4_Supporting": (0, 2),
        "BP4_Moderate": (1, 1),
    }
    assert metrics["band_lr"]["PP3_Supporting"]["lr"] == 0.0
    assert metrics["band_lr"]["BP4_Moderate"]["lr"] == pytest.approx(1.0)


def test_evaluate_predictor_known_answers():
    """SYNTHETIC: discrimination, cumulative and per-band evidence of eight scores; the
    gene-disjoint rows (0, 2, 4, 6: P 0.9, 0.1 vs B 0.6, 0.3) give AUROC 2/4."""
    disjoint = np.arange(8) % 2 == 0
    metrics = evaluate_predictor(SCORES, LABELS, THRESHOLDS, disjoint)
    _check_predictor_figures(metrics)
    assert metrics["auroc_gene_disjoint"] == pytest.approx(0.5)
    assert metrics["n_gene_disjoint"] == 4


def test_evaluate_predictor_reverse_and_eligible():
    """Low-is-pathogenic scores with mirrored thresholds give the same figures; rows not
    eligible (0 and 4) lose their evidence, not their ranking."""
    mirrored = {c: (None if t is None else 1 - t) for c, t in THRESHOLDS.items()}
    everywhere = np.ones(8, dtype=bool)
    _check_predictor_figures(
        evaluate_predictor(1 - SCORES, LABELS, mirrored, everywhere, reverse=True)
    )
    eligible = ~np.isin(np.arange(8), [0, 4])
    metrics = evaluate_predictor(SCORES, LABELS, THRESHOLDS, everywhere, eligible=eligible)
    assert metrics["auroc"] == pytest.approx(0.75)
    assert metrics["coverage"]["PP3_Moderate"] == pytest.approx(0.25)
    assert metrics["band_lr"]["PP3_Moderate"]["n_pathogenic"] == 1
    assert metrics["band_lr"]["BP4_Supporting"]["n_benign"] == 1


def test_a_subset_with_one_class_has_no_auroc_rather_than_an_error():
    """Gene-disjoint rows 0 and 1 are both P/LP: AUROC undefined (None), the rest computed."""
    disjoint = np.isin(np.arange(8), [0, 1])
    metrics = evaluate_predictor(SCORES, LABELS, THRESHOLDS, disjoint)
    assert metrics["auroc_gene_disjoint"] is None and metrics["n_gene_disjoint"] == 2
    assert metrics["auroc"] == pytest.approx(0.75)
    benign_only = evaluate_predictor(
        SCORES[LABELS == 0], LABELS[LABELS == 0], THRESHOLDS, disjoint[:4]
    )
    assert benign_only["auroc"] is None and benign_only["auprc"] is None


# --------------------------------------------------------------------------- comparable_rows


def test_comparable_rows_needs_every_comparator_and_nothing_else():
    """Row i (0-4) lacks comparator i; row 5 has all five (and lacks SIFT, no comparator)."""
    frame = pd.DataFrame(1.0, index=range(6), columns=[*COMPARATOR_COLUMNS, "sift_score"])
    for i, column in enumerate(COMPARATOR_COLUMNS):
        frame.loc[i, column] = np.nan
    frame.loc[5, "sift_score"] = np.nan
    assert comparable_rows(frame).tolist() == [False] * 5 + [True]
    assert sorted(e["column"] for e in published_thresholds().values()) == sorted(
        COMPARATOR_COLUMNS
    )


# --------------------------------------------------------------------------- models (tiny home)


@pytest.fixture(scope="module")
def store_rows(tiny_scorer: Scorer) -> pd.DataFrame:
    """The SYNTHETIC tiny store's 600 feature rows."""
    return tiny_scorer.store.read_all().reset_index(drop=True)


def carried_profile(model: LoadedModel, rows: pd.DataFrame) -> np.ndarray:
    """Per row, the first of the model's profiles whose every source it carries ("" if
    none), worked out here from the profiles' source lists, not by the scorer's routing."""
    chosen = np.full(len(rows), "", dtype=object)
    for profile in model.profiles:
        carried = rows[list(profile.profile.sources)].notna().all(axis=1).to_numpy()
        chosen[(chosen == "") & carried] = profile.name
    return chosen


def _profile_counts(carried: np.ndarray) -> dict[str, int]:
    return dict(Counter("none" if name == "" else name for name in carried))


def test_evaluate_model_ranks_by_posterior_and_abstentions_last(tiny_scorer, store_rows):
    """Labels made here: P/LP above the median posterior of scored rows, B/LB at or below,
    and every unscored row P/LP. So each top P/LP outranks every B/LB, each unscored P/LP
    (ranked below all) none: AUROC = n_top / (n_top + n_unscored), by hand; the same on the
    gene-disjoint rows. Bands count the scorer's codes against these labels."""
    model = tiny_scorer.evidence_model
    answers = profile_evidence(model, store_rows)  # the scorer's answers: this test's input
    posterior = answers["posterior"].to_numpy()
    carried = carried_profile(model, store_rows)
    scored = carried != ""
    assert np.isnan(posterior[~scored]).all() and not np.isnan(posterior[scored]).any()
    labels = np.where(scored, posterior > np.median(posterior[scored]), True).astype(int)
    rows = store_rows.assign(label=labels)
    disjoint = rows["gene"].isin(["SYN1", "SYN2", "SYN3", "SYN4", "SYN5"]).to_numpy()
    metrics = evaluate_model(model, rows, disjoint)

    top, unscored = int((scored & (labels == 1)).sum()), int((~scored).sum())
    assert unscored > 10 and top > 100
    assert metrics["auroc"] == pytest.approx(top / (top + unscored))
    top_d, unscored_d = (
        int((scored & disjoint & (labels == 1)).sum()),
        int((~scored & disjoint).sum()),
    )
    assert metrics["auroc_gene_disjoint"] == pytest.approx(top_d / (top_d + unscored_d))
    assert metrics["n_gene_disjoint"] == int(disjoint.sum())
    assert metrics["scored"] == pytest.approx(scored.mean())
    assert metrics["profiles"] == _profile_counts(carried)

    codes = answers["evidence"].to_numpy()
    expected = {
        code: (
            int(((codes == code) & (labels == 1)).sum()),
            int(((codes == code) & (labels == 0)).sum()),
        )
        for code in EVIDENCE_CODES
        if (codes == code).any()
    }
    got = {c: (b["n_pathogenic"], b["n_benign"]) for c, b in metrics["band_lr"].items()}
    assert got == expected and len(expected) >= 3
    assert metrics["calibration_holds"] == {
        level: lr >= CLINGEN_LR[level.split("_")[1]]
        for level, lr in metrics["empirical_lr"].items()
        if lr is not None
    }


def test_evaluate_model_of_an_unprofiled_model_uses_its_score_and_thresholds(
    tiny_scorer, store_rows
):
    """The priority model (SYNTHETIC home) ranked by its own score: labels set to score above
    its median give AUROC 1 exactly; bands are its thresholds' codes."""
    model = tiny_scorer.priority_model
    assert model is not None and not model.profiles
    scores = model.predict(store_rows)
    labels = (scores > np.median(scores)).astype(int)
    metrics = evaluate_model(model, store_rows.assign(label=labels), np.ones(len(labels), bool))
    assert metrics["auroc"] == 1.0 and metrics["auroc_gene_disjoint"] == 1.0
    codes = assign_evidence(scores, model.calibration.thresholds)
    got = {c: (b["n_pathogenic"], b["n_benign"]) for c, b in metrics["band_lr"].items()}
    assert got == {
        c: (int(((codes == c) & (labels == 1)).sum()), int(((codes == c) & (labels == 0)).sum()))
        for c in EVIDENCE_CODES
        if (codes == c).any()
    }


def _blanked(scenario: str, model: LoadedModel) -> list[str]:
    """Sources a scenario blanks, read from its name: ``without_<source>`` that source,
    ``only_<profile>`` every profile source outside that profile."""
    every = list(dict.fromkeys(s for p in model.profiles for s in p.profile.sources))
    if scenario.startswith("without_"):
        return [scenario.removeprefix("without_")]
    kept = next(p.profile.sources for p in model.profiles if f"only_{p.name}" == scenario)
    return [s for s in every if s not in kept]


def test_masking_robustness_scores_each_scenario_as_its_blanked_rows_route(tiny_scorer, store_rows):
    """SYNTHETIC rows: one scenario per profile source and per profile; in each, the share
    scored and the rows per profile are those the blanked rows carry (worked out here), and
    the input rows are left as they were."""
    model = tiny_scorer.evidence_model
    rows = store_rows.assign(label=store_rows["label"].astype(int))
    before = rows.copy()
    result = masking_robustness(model, rows, np.zeros(len(rows), dtype=bool))
    every = {s for p in model.profiles for s in p.profile.sources}
    assert set(result) == {f"without_{s}" for s in every} | {
        f"only_{p.name}" for p in model.profiles
    }
    unmasked = (carried_profile(model, rows) != "").mean()
    for scenario, metrics in result.items():
        masked = rows.copy()
        masked[_blanked(scenario, model)] = np.nan
        carried = carried_profile(model, masked)
        assert metrics["scored"] == pytest.approx((carried != "").mean()), scenario
        assert metrics["profiles"] == _profile_counts(carried), scenario
    # The smallest profile alone: only profiles within its sources can still score a row.
    smallest = min(model.profiles, key=lambda p: len(p.profile.sources))
    within = {
        p.name for p in model.profiles if set(p.profile.sources) <= set(smallest.profile.sources)
    }
    alone = result[f"only_{smallest.name}"]
    assert alone["scored"] < unmasked
    assert set(alone["profiles"]) <= within | {"none"}
    pd.testing.assert_frame_equal(rows, before)


# --------------------------------------------------------------------------- rare variants

#: MAF of row i is MAFS[i % 5]: 0 (absent), 5e-5, exactly 1e-4 (not rare), 2e-3, missing.
MAFS = np.array([0.0, 5e-5, 1e-4, 2e-3, np.nan])
RARE_BY_HAND = np.array([True, True, False, False, True])


def test_is_rare_is_under_pm2_or_absent():
    assert is_rare(pd.Series(MAFS)).tolist() == RARE_BY_HAND.tolist()
    assert is_rare(pd.Series([None, "0.00009", 1.0], dtype=object)).tolist() == [True, True, False]


@pytest.fixture(scope="module")
def rare_rows(store_rows: pd.DataFrame) -> pd.DataFrame:
    """SYNTHETIC: the tiny store rows with MAFs cycling through MAFS and comparator scores
    set by hand: REVEL 0.95 (PP3_Strong) for rare P/LP and common B/LB, 0.25
    (BP4_Supporting) for the others, so it ranks perfectly on rare rows and backwards on
    common ones; BayesDel 0 everywhere (no evidence, AUROC 1/2)."""
    n = len(store_rows)
    rare = RARE_BY_HAND[np.arange(n) % 5]
    labels = store_rows["label"].astype(int).to_numpy()
    return store_rows.assign(
        label=labels,
        af_global=MAFS[np.arange(n) % 5],
        revel_score=np.where(rare == (labels == 1), 0.95, 0.25),
        bayesdel_noaf_score=0.0,
    )


def test_rare_variants_evaluates_every_predictor_on_the_rare_rows(tiny_scorer, rare_rows):
    rare = RARE_BY_HAND[np.arange(len(rare_rows)) % 5]
    labels = rare_rows["label"].to_numpy()
    disjoint = rare_rows["gene"].isin(["SYN1", "SYN2", "SYN3", "SYN4", "SYN5"]).to_numpy()
    model = tiny_scorer.evidence_model
    result = rare_variants({"noaf": model}, rare_rows, disjoint)
    assert result["maf_below"] == 1e-4
    assert result["n"] == 360  # 3 of every 5 of 600 rows
    assert result["n_pathogenic"] == int(labels[rare].sum())
    assert result["n_gene_disjoint"] == int((disjoint & rare).sum())
    assert list(result["models"]) == ["noaf", *COMPARATORS]
    assert result["models"]["noaf"]["model"] == {
        "name": model.name, "version": model.version, "run_id": model.run_id,
    }  # fmt: skip
    assert "model" not in result["models"]["REVEL"]
    revel = result["models"]["REVEL"]
    assert revel["auroc"] == 1.0 and revel["auroc_gene_disjoint"] == 1.0
    counts = {c: (b["n_pathogenic"], b["n_benign"]) for c, b in revel["band_lr"].items()}
    n_p = int(labels[rare].sum())
    assert counts == {"PP3_Strong": (n_p, 0), "BP4_Supporting": (0, 360 - n_p)}
    assert result["models"]["BayesDel"]["auroc"] == 0.5
    assert result["models"]["BayesDel"]["band_lr"] == {}
    carried = carried_profile(model, rare_rows[rare])
    assert result["models"]["noaf"]["profiles"] == _profile_counts(carried)


def test_rare_variants_with_one_class_or_no_row_does_not_fail(tiny_scorer, rare_rows):
    """Every rare row made B/LB (REVEL scores kept): AUROCs undefined (None), the bands still
    counted, against B/LB only; no rare row at all: n 0 and no models."""
    rare = RARE_BY_HAND[np.arange(len(rare_rows)) % 5]
    benign = rare_rows.assign(label=np.where(rare, 0, rare_rows["label"]))
    disjoint = np.ones(len(rare_rows), dtype=bool)
    result = rare_variants({"noaf": tiny_scorer.evidence_model}, benign, disjoint)
    assert (result["n"], result["n_pathogenic"]) == (360, 0)
    for metrics in result["models"].values():
        assert metrics["auroc"] is None and metrics["auroc_gene_disjoint"] is None
    was_pathogenic = int(rare_rows["label"].to_numpy()[rare].sum())
    revel = result["models"]["REVEL"]["band_lr"]
    counts = {c: (b["n_pathogenic"], b["n_benign"]) for c, b in revel.items()}
    assert counts == {
        "PP3_Strong": (0, was_pathogenic),
        "BP4_Supporting": (0, 360 - was_pathogenic),
    }
    # No P/LP left: PP3's share of P/LP is 0 (LR 0), BP4's LR over no P/LP is infinite.
    assert revel["PP3_Strong"]["lr"] == 0.0 and revel["BP4_Supporting"]["lr"] == math.inf
    assert result["models"]["REVEL"]["empirical_lr"]["PP3_Strong"] == 0.0
    common = rare_rows.assign(af_global=0.01)
    empty = rare_variants({"noaf": tiny_scorer.evidence_model}, common, disjoint)
    assert (empty["n"], empty["n_pathogenic"], empty["models"]) == (0, 0, {})
