"""The ACMG/AMP arithmetic: level LRs and posteriors, points, placing scores against thresholds,
and the same placement as SVCv4 MIS_PRD points (the whole ladder, the ±3 level included)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vipredict.acmg import (
    BA1_FAF,
    CLINGEN_LR,
    EVIDENCE_CODES,
    LEVELS,
    MIS_PRD_CODE,
    NO_EVIDENCE,
    POINTS,
    assign_evidence,
    evidence_points,
    frequency_criteria,
    level_lrs,
    likelihood_ratio_from_posterior,
    met_frequency_criteria,
    mis_prd_ladder,
    mis_prd_points,
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


# --------------------------------------------------------------------------- SVCv4 MIS_PRD

#: SYNTHETIC thresholds with every rung of the ladder reached (3-point levels between
#: Moderate and Strong, as the calibration places them); higher scores are pathogenic.
LADDER = {
    "PP3_Supporting": 0.60,
    "PP3_Moderate": 0.70,
    "PP3_Strong": 0.90,
    "PP3_VeryStrong": 0.97,
    "BP4_Supporting": 0.40,
    "BP4_Moderate": 0.30,
    "BP4_Strong": 0.10,
    "BP4_VeryStrong": 0.03,
}
LADDER_3PT = {"PP3_3pt": 0.80, "BP4_3pt": 0.20}
#: The caps of the training configuration (``training/default.toml``).
TRAINING_CAPS = {"PP3": "Strong", "BP4": "Moderate"}
#: (threshold source, code, MIS_PRD at and beyond it, MIS_PRD just short of it).
RUNGS = [
    (LADDER, "PP3_Supporting", 1, 0),
    (LADDER, "PP3_Moderate", 2, 1),
    (LADDER_3PT, "PP3_3pt", 3, 2),
    (LADDER, "PP3_Strong", 4, 3),
    (LADDER, "PP3_VeryStrong", 4, 4),  # SVCv4 caps MIS_PRD at +4 where v3 gives 8 points
    (LADDER, "BP4_Supporting", -1, 0),
    (LADDER, "BP4_Moderate", -2, -1),
    (LADDER_3PT, "BP4_3pt", -3, -2),
    (LADDER, "BP4_Strong", -4, -3),
    (LADDER, "BP4_VeryStrong", -4, -4),
]
EPS = 1e-9


def _negated(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: None if v is None else -v for k, v in values.items()}


def test_mis_prd_code_and_range() -> None:
    assert MIS_PRD_CODE == "MIS_PRD"
    scores = np.linspace(-0.5, 1.5, 2001)
    points = mis_prd_points(scores, LADDER, LADDER_3PT)
    assert set(points.tolist()) == {-4, -3, -2, -1, 0, 1, 2, 3, 4}  # the whole ladder, no more


@pytest.mark.parametrize("reverse", [False, True], ids=["high_pathogenic", "reversed"])
@pytest.mark.parametrize(("source", "code", "at", "short"), RUNGS, ids=[r[1] for r in RUNGS])
def test_mis_prd_at_just_short_of_and_beyond_every_threshold(
    source: dict, code: str, at: int, short: int, reverse: bool
) -> None:
    """SYNTHETIC ladder: a rung applies at its threshold and beyond it, not just short of it
    (the comparison of ``assign_evidence``); reversed scores and thresholds give the same."""
    threshold = source[code]
    beyond = EPS if code.startswith("PP3") else -EPS  # toward the family's side
    scores = np.array([threshold, threshold + beyond, threshold - beyond])
    thresholds, three_point = LADDER, LADDER_3PT
    if reverse:
        scores, thresholds, three_point = -scores, _negated(LADDER), _negated(LADDER_3PT)
    got = mis_prd_points(scores, thresholds, three_point, reverse=reverse)
    assert got.tolist() == [at, at, short]
    codes = assign_evidence(scores, thresholds, reverse=reverse)
    if "3pt" not in code:  # outside the 3-point band MIS_PRD is the v3 code's points, to ±4
        assert got[:2].tolist() == np.clip(evidence_points(codes[:2]), -4, 4).tolist()


def test_mis_prd_of_unreached_levels() -> None:
    """SYNTHETIC: an unreached (None) rung is never given; the rung below it holds on."""
    no_3pt = mis_prd_points([0.85, 0.25], LADDER, {"PP3_3pt": None, "BP4_3pt": None})
    assert no_3pt.tolist() == [2, -2]
    no_strong = {**LADDER, "PP3_Strong": None, "PP3_VeryStrong": None, "BP4_Strong": None}
    assert mis_prd_points([0.99, 0.85, 0.05, 0.0], no_strong, LADDER_3PT).tolist() == [
        3,
        3,
        -3,
        -4,  # BP4_VeryStrong is still reached
    ]
    nothing = dict.fromkeys(LADDER)
    assert mis_prd_points([0.0, 0.5, 1.0], nothing, {}).tolist() == [0, 0, 0]
    assert mis_prd_points([np.nan], LADDER, LADDER_3PT).tolist() == [0]  # NaN reaches nothing


@pytest.mark.parametrize(
    ("caps", "expected"),
    [
        # scores: VeryStrong, Strong, 3pt band, Moderate | BP4 3pt band, Strong, VeryStrong
        (None, [4, 4, 3, 2, -3, -4, -4]),
        (TRAINING_CAPS, [4, 4, 3, 2, -2, -2, -2]),  # a cap at Moderate also stops -3
        ({"PP3": "Moderate", "BP4": "Strong"}, [2, 2, 2, 2, -3, -4, -4]),  # Strong allows ±3
        ({"PP3": "Supporting", "BP4": "Supporting"}, [1, 1, 1, 1, -1, -1, -1]),
        ({"PP3": "VeryStrong", "BP4": "VeryStrong"}, [4, 4, 3, 2, -3, -4, -4]),
    ],
)
def test_mis_prd_caps(caps: dict | None, expected: list[int]) -> None:
    scores = [0.98, 0.92, 0.85, 0.75, 0.15, 0.05, 0.01]
    assert mis_prd_points(scores, LADDER, LADDER_3PT, caps=caps).tolist() == expected


def test_mis_prd_refuses_an_unknown_cap() -> None:
    with pytest.raises(ValueError, match="Extreme"):
        mis_prd_points([0.5], LADDER, LADDER_3PT, caps={"PP3": "Extreme"})


def test_mis_prd_equals_v3_points_outside_the_three_point_band() -> None:
    """SYNTHETIC thresholds capped as training caps them (levels beyond the cap removed):
    MIS_PRD and the v3 points differ only in the ±3 band, where MIS_PRD is ±3 and v3 ±2."""
    capped = {
        code: value
        for code, value in LADDER.items()
        if code not in ("PP3_VeryStrong", "BP4_Strong", "BP4_VeryStrong")
    } | {"PP3_VeryStrong": None, "BP4_Strong": None, "BP4_VeryStrong": None}
    three_point = {"PP3_3pt": 0.80, "BP4_3pt": 0.20}
    rng = np.random.default_rng(3)
    scores = np.concatenate([rng.uniform(0, 1, 5_000), list(LADDER.values()), [0.8, 0.2]])
    mis_prd = mis_prd_points(scores, capped, three_point, caps=TRAINING_CAPS)
    points = evidence_points(assign_evidence(scores, capped))
    band = (scores >= 0.80) & (scores < 0.90)  # PP3 3pt reached, Strong not (BP4: capped)
    assert (mis_prd[~band] == points[~band]).all()
    assert set(mis_prd[band].tolist()) == {3} and set(points[band].tolist()) == {2}
    assert band.sum() > 100 and (~band).sum() > 100


def test_mis_prd_ladder_names_where_each_value_starts() -> None:
    """SYNTHETIC: the card's table is the thresholds, capped; each start gives its value."""
    assert mis_prd_ladder(LADDER, LADDER_3PT) == {
        "+1": 0.60,
        "+2": 0.70,
        "+3": 0.80,
        "+4": 0.90,
        "-1": 0.40,
        "-2": 0.30,
        "-3": 0.20,
        "-4": 0.10,
    }
    capped = mis_prd_ladder(LADDER, LADDER_3PT, TRAINING_CAPS)
    assert capped["-3"] is None and capped["-4"] is None and capped["+3"] == 0.80
    only_very_strong = mis_prd_ladder({**LADDER, "PP3_Strong": None}, LADDER_3PT)
    assert only_very_strong["+4"] == 0.97
    for key, start in mis_prd_ladder(LADDER, LADDER_3PT).items():
        assert mis_prd_points([start], LADDER, LADDER_3PT).tolist() == [int(key)]


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
