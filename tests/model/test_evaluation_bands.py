"""Per-band likelihood ratios with bootstrap intervals, their flags, and the model card.

All data here is SYNTHETIC and tiny, built so each figure can be worked out by
hand: evidence codes and labels chosen row by row, and interval designs whose
bootstrap distribution is a known binomial (every row of one class in the band,
so only the other class's count varies from resample to resample).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vipredict.acmg import CLINGEN_LR, EVIDENCE_CODES
from vipredict.config import ModelRole, feature_set_of
from vipredict.io.files import json_safe
from vipredict.model.cards import model_card
from vipredict.model.evaluation import band_coverage_and_lr, band_lr, evaluate_codes

SUPPORTING, MODERATE = CLINGEN_LR["Supporting"], CLINGEN_LR["Moderate"]


def _rows(pathogenic: list[str], benign: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Codes and labels of P/LP rows then B/LB rows."""
    codes = np.array([*pathogenic, *benign], dtype=object)
    labels = np.array([1] * len(pathogenic) + [0] * len(benign))
    return codes, labels


#: P/LP (5): two PP3_Strong, one PP3_Supporting, one none, one BP4_Supporting.
#: B/LB (6): two PP3_Supporting, one none, one BP4_Moderate, two BP4_Supporting.
MIXED = _rows(
    ["PP3_Strong", "PP3_Strong", "PP3_Supporting", "none", "BP4_Supporting"],
    [
        "PP3_Supporting",
        "PP3_Supporting",
        "none",
        "BP4_Moderate",
        "BP4_Supporting",
        "BP4_Supporting",
    ],
)


def _binomial_tails(n: int, k0: int) -> list[float]:
    """P(K >= k) for k = 0..n+1, K ~ Binomial(n, k0 / n): a class of n rows, k0 in the band,
    resampled with replacement."""
    p = k0 / n
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    return [sum(pmf[k:]) for k in range(n + 1)] + [0.0]


def _order_statistic_count(n: int, k0: int, q: float) -> int:
    """The band count whose LR ``n / k`` is the q-tail order statistic: the largest k with
    P(K >= k) >= q (LR falls as k rises). Asserts the design keeps the empirical tail of
    20,000 resamples (sd ~0.001) well clear of the boundary, so the answer is not luck."""
    tails = _binomial_tails(n, k0)
    k = max(k for k in range(n + 1) if tails[k] >= q)
    assert tails[k] - q > 0.005 and q - tails[k + 1] > 0.005, "design too close to a boundary"
    return k


# --------------------------------------------------------------------------- band counts


def test_band_counts_exactly_that_code_and_mirrors_bp4():
    """Hand-computed: PP3_Supporting band P 1/5 vs B 2/6 -> LR 0.6 (cumulative would give
    3/5 over 2/6 = 1.8); BP4_Supporting band B 2/6 vs P 1/5 -> 5/3 (cumulative with the
    BP4_Moderate row: 2.5, which would hold)."""
    table = band_coverage_and_lr(*MIXED)
    assert set(table) == {"PP3_Supporting", "PP3_Strong", "BP4_Supporting", "BP4_Moderate"}
    supporting = table["PP3_Supporting"]
    assert (supporting["n"], supporting["n_right"], supporting["n_wrong"]) == (3, 1, 2)
    assert supporting["share"] == pytest.approx(0.2)
    assert supporting["lr"] == pytest.approx(0.6)
    assert supporting["clingen_lr"] == pytest.approx(2.406, abs=5e-4)
    assert supporting["holds"] is False
    strong = table["PP3_Strong"]
    assert (strong["n"], strong["n_right"], strong["n_wrong"]) == (2, 2, 0)
    assert strong["share"] == pytest.approx(0.4) and strong["lr"] == math.inf
    assert strong["holds"] is True
    benign = table["BP4_Supporting"]
    assert (benign["n"], benign["n_right"], benign["n_wrong"]) == (3, 2, 1)
    assert benign["share"] == pytest.approx(1 / 3)
    assert benign["lr"] == pytest.approx(5 / 3)
    assert benign["holds"] is False
    moderate = table["BP4_Moderate"]
    assert (moderate["n_right"], moderate["n_wrong"], moderate["lr"]) == (1, 0, math.inf)


# --------------------------------------------------------------------------- band_lr


def test_band_lr_point_and_counts_are_the_bands():
    """Same hand-computed figures as the band counts; a band no row got has no entry."""
    table = band_lr(*MIXED, n_bootstrap=500, seed=1)
    assert set(table) == {"PP3_Supporting", "PP3_Strong", "BP4_Supporting", "BP4_Moderate"}
    counts = {code: (entry["n_pathogenic"], entry["n_benign"]) for code, entry in table.items()}
    assert counts == {
        "PP3_Supporting": (1, 2),
        "PP3_Strong": (2, 0),
        "BP4_Supporting": (1, 2),
        "BP4_Moderate": (0, 1),
    }
    assert table["PP3_Supporting"]["lr"] == pytest.approx(0.6)
    assert table["BP4_Supporting"]["lr"] == pytest.approx(5 / 3)
    assert table["PP3_Strong"]["lr"] == math.inf
    assert table["PP3_Strong"]["clingen_lr"] == pytest.approx(33.53, abs=5e-3)
    assert [table[c]["holds"] for c in table] == [False, True, False, True]


def test_pp3_interval_is_the_binomial_order_statistic():
    """20 P/LP all PP3_Moderate; 6 of 50 B/LB too. Within-class resampling keeps the P/LP
    share at 1, so LR* = 50 / K, K ~ Binomial(50, 0.12): the 2.5% bound is 50/11 = 4.55
    and the 97.5% bound 50/2 = 25. Resampling all rows together would move the shares'
    denominators and leave that lattice."""
    codes, labels = _rows(["PP3_Moderate"] * 20, ["PP3_Moderate"] * 6 + ["none"] * 44)
    band = band_lr(codes, labels, n_bootstrap=20_000, seed=3)["PP3_Moderate"]
    k_high, k_low = (_order_statistic_count(50, 6, q) for q in (0.025, 0.975))
    assert (k_high, k_low) == (11, 2)
    assert band["lr"] == pytest.approx(50 / 6)
    assert band["ci"] == [pytest.approx(50 / 11), pytest.approx(50 / 2)]
    assert band["holds"] is True  # the point reaches 5.79 ...
    # ... but the interval does not: flagged in words.
    assert band["flag"] == "PP3_Moderate: lower 95% bound 4.55 is under ClinGen's 5.79 for Moderate"


def test_bp4_interval_is_mirrored_and_uses_the_pathogenic_count():
    """30 B/LB all BP4_Supporting; 4 of 40 P/LP too. LR = B share over P share = 1 / 0.1 = 10;
    LR* = 40 / K, K ~ Binomial(40, 0.1): bounds 40/8 = 5 and 40/1 = 40, over 2.41: no flag."""
    codes, labels = _rows(["BP4_Supporting"] * 4 + ["none"] * 36, ["BP4_Supporting"] * 30)
    band = band_lr(codes, labels, n_bootstrap=20_000, seed=5)["BP4_Supporting"]
    assert (band["n_pathogenic"], band["n_benign"]) == (4, 30)
    assert band["lr"] == pytest.approx(10.0)
    k_high, k_low = (_order_statistic_count(40, 4, q) for q in (0.025, 0.975))
    assert band["ci"] == [pytest.approx(40 / k_high), pytest.approx(40 / k_low)]
    assert band["ci"] == [pytest.approx(5.0), pytest.approx(40.0)]
    assert band["flag"] == ""


def test_interval_contains_the_point_and_narrows_with_n():
    """The MIXED rows, then the same rows nine times over: same LRs, intervals that still
    hold them and are narrower (the log width should shrink about threefold)."""
    once = band_lr(*MIXED, n_bootstrap=4000, seed=2)
    codes, labels = MIXED
    nine = band_lr(np.tile(codes, 9), np.tile(labels, 9), n_bootstrap=4000, seed=2)
    for code in ("PP3_Supporting", "BP4_Supporting"):
        small, large = once[code], nine[code]
        assert large["lr"] == pytest.approx(small["lr"])
        for band in (small, large):
            low, high = band["ci"]
            assert low <= band["lr"] <= high
        assert math.isinf(small["ci"][1])  # 1 or 2 rows of the other class: often none
        assert math.isfinite(large["ci"][1])
        assert math.log(large["ci"][1] / large["ci"][0]) < 2.0
        assert large["ci"][0] > small["ci"][0] and large["ci"][1] < small["ci"][1]


@pytest.mark.parametrize("n_benign_in_band", [2, 4, 6, 8, 12, 20])
def test_flag_fires_exactly_when_the_lower_bound_is_under_clingen(n_benign_in_band):
    """20 P/LP all PP3_Moderate, k of 50 B/LB too (LR 50/k): flagged iff lower bound < 5.79.
    Hand-computed lower bounds (binomial order statistics, as above): k=2 -> 50/5 = 10 and
    k=4 -> 50/8 = 6.25 (no flag); k=6 -> 50/11 = 4.55 (flag, though LR 8.33 holds)."""
    codes, labels = _rows(
        ["PP3_Moderate"] * 20,
        ["PP3_Moderate"] * n_benign_in_band + ["none"] * (50 - n_benign_in_band),
    )
    band = band_lr(codes, labels, n_bootstrap=20_000, seed=11)["PP3_Moderate"]
    low = band["ci"][0]
    assert (band["flag"] != "") == (low < MODERATE)
    if band["flag"]:
        assert band["flag"] == (
            f"PP3_Moderate: lower 95% bound {low:.3g} is under ClinGen's 5.79 for Moderate"
        )
    expected_flag = {2: False, 4: False, 6: True, 8: True, 12: True, 20: True}
    assert (band["flag"] != "") is expected_flag[n_benign_in_band]
    assert band["holds"] is (50 / n_benign_in_band >= MODERATE)
    if n_benign_in_band in (2, 4):
        assert low == pytest.approx(50 / _order_statistic_count(50, n_benign_in_band, 0.025))


def test_a_band_without_the_other_class_is_infinite_unbounded_and_said_so():
    """3 P/LP in PP3_Strong, no B/LB: LR inf in every resample, interval [inf, inf]; the
    flag says the bootstrap cannot bound it (three variants are no Strong evidence)."""
    codes, labels = _rows(["PP3_Strong"] * 3 + ["none"] * 5, ["none"] * 10)
    band = band_lr(codes, labels, n_bootstrap=200, seed=0)["PP3_Strong"]
    assert band["lr"] == math.inf and band["ci"] == [math.inf, math.inf]
    assert band["flag"] == (
        "PP3_Strong: no B/LB variant in the band (3 P/LP), so its LR is infinite and the "
        "bootstrap cannot bound it from below"
    )


def test_band_lr_is_reproducible_and_json_safe():
    """Fixed seed, same answer; infinite LRs and bounds become null in the JSON report."""
    first = band_lr(*MIXED, n_bootstrap=300, seed=9)
    assert band_lr(*MIXED, n_bootstrap=300, seed=9) == first
    text = json.dumps(json_safe(first), allow_nan=False)
    parsed = json.loads(text)
    assert parsed["PP3_Strong"]["lr"] is None and parsed["PP3_Strong"]["ci"] == [None, None]
    assert parsed["PP3_Supporting"]["lr"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="n_bootstrap"):
        band_lr(*MIXED, n_bootstrap=0)


# --------------------------------------------------------------------------- model card


def test_model_card_shows_band_intervals_flags_and_rare_line():
    """A report built from the MIXED rows (SYNTHETIC): the evidence card lists each band's
    class counts and interval, the flags in words, and the rare-variant figures."""
    codes, labels = MIXED
    ranking = np.linspace(1, 0, labels.size)  # P/LP rows first: AUROC 1
    metrics = evaluate_codes(codes, ranking, labels, np.ones(labels.size, dtype=bool))
    metrics |= {"model": {"name": "vipredict-noaf", "version": "3", "run_id": "abc"}}
    name = feature_set_of(ModelRole.EVIDENCE)
    rare_metrics = metrics | {"auroc_gene_disjoint": None, "n_gene_disjoint": 0}
    report = {
        "dataset": "clingen_2020",
        "n": labels.size,
        "n_pathogenic": int(labels.sum()),
        "levels": list(EVIDENCE_CODES),
        "models": {name: metrics},
        "rare_variants": {
            "maf_below": 1e-4,
            "n": 11,
            "n_pathogenic": 5,
            "n_gene_disjoint": 0,
            "models": {name: rare_metrics},
        },
    }
    card = model_card(report, ModelRole.EVIDENCE)
    # 1 of 5 P/LP and 2 of 6 B/LB: a third of resamples lose the P/LP row (LR 0), a
    # tenth both B/LB rows (LR inf), so the interval is [0, inf].
    band = metrics["band_lr"]["PP3_Supporting"]
    assert band["ci"] == [0.0, math.inf]
    assert "| PP3_Supporting | 1 | 2 | 0.200 | 0.6 (0–∞) | 2.41 | False |" in card
    assert "| PP3_Strong | 2 | 0 | 0.400 | ∞ (∞–∞) | 33.5 | True |" in card
    assert "- PP3_Supporting: lower 95% bound 0 is under ClinGen's 2.41 for Supporting" in card
    assert "- PP3_Strong: no B/LB variant in the band (2 P/LP)" in card
    assert (
        "Rare variants (global MAF < 0.0001 or absent, PM2-eligible): n=11 (5 P/LP); "
        "AUROC 1.000; gene-disjoint AUROC - (n=0)."
    ) in card
    assert card.count("| PP3_Supporting | 1 | 2 |") == 2  # the table, then the rare table
    assert "Flagged:" in card and "Flagged on rare variants:" in card


def test_model_card_names_what_the_guard_left_out_and_what_validation_informed():
    """The card of a report from ``vipredict evaluate`` says how many validation variants
    the leakage guard left out, per reason, and lists the decisions the set informed."""
    codes, labels = MIXED
    metrics = evaluate_codes(codes, np.linspace(1, 0, labels.size), labels, np.ones(11, bool))
    metrics |= {"model": {"name": "vipredict-noaf", "version": "3", "run_id": "abc"}}
    report = {
        "dataset": "clingen_2020",
        "n": labels.size,
        "n_pathogenic": int(labels.sum()),
        "n_holdout_total": 40,
        "excluded": {"shared_locus": {"n": 3, "variants": []}, "shared_protein_change": {"n": 1}},
        "decisions_informed": ["a first decision", "a second decision"],
        "levels": list(EVIDENCE_CODES),
        "models": {feature_set_of(ModelRole.EVIDENCE): metrics},
    }
    card = model_card(report, ModelRole.EVIDENCE)
    assert "of 40 validation variants, 3 shared locus, 1 shared protein change" in card
    assert "  - a first decision\n  - a second decision" in card
