"""The ACMG/AMP arithmetic: level LRs and posteriors, points, placing scores against thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vipredict.acmg import (
    BA1_FAF,
    CLINGEN_LR,
    EVIDENCE_CODES,
    LEVELS,
    NO_EVIDENCE,
    POINTS,
    assign_evidence,
    evidence_points,
    frequency_criteria,
    level_lrs,
    likelihood_ratio_from_posterior,
    met_frequency_criteria,
    next_level,
    next_levels,
    posterior_from_lr,
)

# --------------------------------------------------------------------------- constants


@pytest.mark.parametrize(
    ("level", "lr", "posterior"),
    [
        ("Supporting", 2.406, 0.100),
        ("Moderate", 5.790, 0.211),
        ("Strong", 33.53, 0.607),
        ("VeryStrong", 1124.0, 0.981),
    ],
)
def test_level_lr_and_posterior(level: str, lr: float, posterior: float) -> None:
    assert CLINGEN_LR[level] == pytest.approx(lr, abs=5e-3)
    assert posterior_from_lr(CLINGEN_LR[level]) == pytest.approx(posterior, abs=1e-3)
    assert likelihood_ratio_from_posterior(posterior_from_lr(lr)) == pytest.approx(lr)


def test_codes_and_points() -> None:
    assert len(EVIDENCE_CODES) == 8
    assert [POINTS[c] for c in EVIDENCE_CODES] == [1, 2, 4, 8, -1, -2, -4, -8]
    assert level_lrs()["3pt"] == pytest.approx(13.93, abs=5e-3)


# --------------------------------------------------------------------------- applying thresholds

THRESHOLDS = {
    "PP3_Supporting": 0.6,
    "PP3_Moderate": 0.8,
    "PP3_Strong": 0.9,
    "PP3_VeryStrong": None,
    "BP4_Supporting": 0.3,
    "BP4_Moderate": 0.2,
    "BP4_Strong": 0.02,
    "BP4_VeryStrong": 0.005,
}


@pytest.mark.parametrize(
    ("reverse", "scores", "codes", "points"),
    [
        (
            False,
            [0.95, 0.9, 0.85, 0.6, 0.5, 0.3, 0.1, 0.01, 0.0],
            [
                "PP3_Strong",
                "PP3_Strong",
                "PP3_Moderate",
                "PP3_Supporting",
                "none",
                "BP4_Supporting",
                "BP4_Moderate",
                "BP4_Strong",
                "BP4_VeryStrong",
            ],
            [4, 4, 2, 1, 0, -1, -2, -4, -8],
        ),
        (True, [-0.95, -0.5, -0.1], ["PP3_Strong", "none", "BP4_Moderate"], [4, 0, -2]),
    ],
)
def test_assign_evidence_and_points(reverse, scores, codes, points) -> None:
    thresholds = THRESHOLDS
    if reverse:
        thresholds = {k: None if v is None else -v for k, v in THRESHOLDS.items()}
    got = assign_evidence(scores, thresholds, reverse=reverse)
    assert got.tolist() == codes
    assert evidence_points(got).tolist() == points


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.85, ("PP3_Strong", 0.05)),
        (0.5, ("PP3_Supporting", 0.1)),
        (0.35, ("BP4_Supporting", 0.05)),
        (0.58, ("PP3_Supporting", 0.02)),
        (0.95, (None, None)),
        (0.1, ("BP4_Strong", 0.08)),
    ],
)
def test_next_level(score, expected) -> None:
    code, distance = next_level(score, THRESHOLDS)
    assert code == expected[0]
    if expected[1] is None:
        assert distance is None
    else:
        assert distance == pytest.approx(expected[1])


# --------------------------------------------------------------------------- next_levels = old rule


def _first_stronger(
    score: float, thresholds: dict[str, float | None], family: str, current: str
) -> tuple[str | None, float | None]:
    """First code of ``family`` stronger than ``current`` that has a threshold, and its distance."""
    codes = [f"{family}_{lv}" for lv in LEVELS]
    stronger = codes[codes.index(current) + 1 :] if current in codes else codes
    for code in stronger:
        threshold = thresholds.get(code)
        if threshold is not None:
            return code, abs(threshold - score)
    return None, None


def _old_next_level(
    score: float, thresholds: dict[str, float | None], current: str
) -> tuple[str | None, float | None]:
    """The scalar rule ``next_levels`` replaced, written out plainly (the reference).

    ``current`` is the score's code from ``assign_evidence``. Without evidence both families
    are searched, with evidence only its own. In a family, the next level is the
    first stronger code that has a threshold; across families the nearer wins, and
    a tie goes to PP3 (searched first, replaced only by a strictly nearer BP4).
    """
    families = ("PP3", "BP4") if current == NO_EVIDENCE else (current.split("_")[0],)
    best: tuple[str | None, float | None] = (None, None)
    for family in families:
        code, distance = _first_stronger(score, thresholds, family, current)
        if distance is not None and (best[1] is None or distance < best[1]):
            best = (code, distance)
    return best


def _random_thresholds(rng: np.random.Generator) -> dict[str, float | None]:
    """Thresholds on a 1/64 lattice (exact float distances, so ties really happen).

    Usually ordered like calibrated ones (BP4 below PP3, stronger further out), but
    now and then shuffled; each level is unreached (None) with probability 1/4.
    """
    values = np.sort(rng.choice(np.arange(65), size=8, replace=False)) / 64
    if rng.random() < 0.2:
        rng.shuffle(values)
    pp3, bp4 = values[4:], values[:4][::-1]
    out: dict[str, float | None] = {}
    for family, ladder in (("PP3", pp3), ("BP4", bp4)):
        for lv, value in zip(LEVELS, ladder, strict=True):
            out[f"{family}_{lv}"] = None if rng.random() < 0.25 else float(value)
    return out


def test_next_levels_agree_with_the_old_scalar_rule() -> None:
    """Vectorised ``next_levels`` (and ``next_level``) give what the old per-score loop gave."""
    rng = np.random.default_rng(0)
    compared = ties = 0
    for _ in range(400):
        thresholds = _random_thresholds(rng)
        scores = np.concatenate([rng.integers(0, 65, 20) / 64, rng.uniform(-0.1, 1.1, 5)])
        codes, distances = next_levels(scores, thresholds)
        current = assign_evidence(scores, thresholds)
        for k, score in enumerate(scores.tolist()):
            expected = _old_next_level(score, thresholds, str(current[k]))
            got = (codes[k], None if codes[k] is None else float(distances[k]))
            assert got == expected, (score, thresholds)
            assert codes[k] is not None or math.isnan(distances[k])
            if k < 2:
                assert next_level(score, thresholds) == expected
            if current[k] == NO_EVIDENCE:
                pp3 = _first_stronger(score, thresholds, "PP3", NO_EVIDENCE)
                bp4 = _first_stronger(score, thresholds, "BP4", NO_EVIDENCE)
                ties += pp3[1] is not None and pp3[1] == bp4[1]
            compared += 1
    assert compared == 400 * 25
    assert ties > 0  # the tie rule was exercised, not only stated


def test_next_levels_of_a_missing_score_is_none() -> None:
    codes, distances = next_levels([np.nan, 0.5], THRESHOLDS)
    assert codes.tolist() == [None, "PP3_Supporting"]
    assert math.isnan(distances[0]) and distances[1] == pytest.approx(0.1)


# --------------------------------------------------------------------------- frequency criteria
# One variant per case: (group-max FAF95, bound, max AF, pooled AF). The bound is the
# largest FAF95, or AF where a group came as an AF only; it is never below the FAF95.

NAN = math.nan


def _one(faf: float, bound: float, af: float, pooled: float = NAN, bs1: float = 0.01) -> dict:
    return frequency_criteria(
        [faf], ["d:afr" if faf == faf else None], [af], ["d:nfe"], bs1_faf=bs1,
        faf_bound=[bound], faf_bound_group=["d:sas"], pooled_af=[pooled],
        pooled_group=["d:all"], sources=["d (input)"],
    )[0]  # fmt: skip


@pytest.mark.parametrize(
    ("faf", "bound", "ba1", "bs1", "basis"),
    [
        (0.06, 0.06, "met", "met", "faf95"),  # counts: FAF95 above 5%
        (0.02, 0.02, "not_met", "met", "faf95"),
        (NAN, 0.04, "not_met", "unknown", "af_upper_bound"),  # AF 4% only: FAF95 <= 4% < 5%
        (NAN, 0.009, "not_met", "not_met", "af_upper_bound"),
        (NAN, 0.9, "unknown", "unknown", "af_upper_bound"),  # AF 90% only: still no FAF95
        (0.001, 0.3, "unknown", "unknown", "af_upper_bound"),  # counted low, AF-only high
        (0.07, 0.3, "met", "met", "faf95"),  # a counted group decides met whatever the AF-only one
        (NAN, NAN, "unknown", "unknown", None),  # nothing known
    ],
)
def test_ba1_bs1_met_only_on_a_faf95(faf: float, bound: float, ba1: str, bs1: str, basis) -> None:
    got = _one(faf, bound, af=0.5)
    assert (got["BA1"]["status"], got["BS1"]["status"]) == (ba1, bs1)
    assert got["BA1"]["basis"] == basis
    assert got["BA1"]["met"] is {"met": True, "not_met": False, "unknown": None}[ba1]
    assert got["BA1"]["source"] == "d (input)"
    if ba1 == "met":
        assert got["BA1"]["faf"] > BA1_FAF and got["BA1"]["group"] == "d:afr"


@pytest.mark.parametrize(
    ("af", "pooled", "status", "group"),
    [
        (0.0, NAN, "met", "d:nfe"),  # absent in every group that was measured
        (5e-5, 2e-5, "met", "d:nfe"),
        (2e-4, NAN, "not_met", "d:nfe"),
        (NAN, 3e-4, "not_met", "d:all"),  # overall AF alone rules PM2 out: some group is >= it
        (NAN, 5e-5, "unknown", None),  # ... but cannot show every group is rare
        (NAN, NAN, "unknown", None),
    ],
)
def test_pm2_from_group_and_overall_af(af: float, pooled: float, status: str, group) -> None:
    got = _one(NAN, NAN, af=af, pooled=pooled)["PM2"]
    assert got["status"] == status
    assert got["group"] == group


def test_missing_labels_are_none_and_ba1_stands_alone() -> None:
    got = frequency_criteria(
        [0.2], [float("nan")], [0.3], [None], bs1_faf=0.01, sources=[float("nan")]
    )[0]
    assert got["BA1"]["status"] == "met" and got["BA1"]["group"] is None
    assert got["PM2"]["source"] is None
    assert met_frequency_criteria(got) == ["BA1"]  # BS1 is met too, but BA1 stands alone
