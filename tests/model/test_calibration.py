"""Tests of the ClinGen local posterior calibration (Pejaver et al. 2022).

The estimator's unit tests run on small synthetic score sets (fast tier). The
REVEL tests run the full 10,000-bootstrap calibration on the real 2019 ClinGen
set and compare against the published thresholds: real-data figures, so they
belong to the end-to-end tier (``e2e``), as do the real-data variants of the
estimator's property tests. The ACMG vocabulary (LR ladder, points, placing
scores against thresholds) is tested in ``tests/test_acmg.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vipredict.acmg import (
    CLINGEN_PRIOR,
    EVIDENCE_CODES,
    LEVELS,
    assign_evidence,
    evidence_points,
)
from vipredict.io.readers.scores import read_scores_tsv, read_unlabelled_tsv
from vipredict.jobs.calibrate import calibrate_files
from vipredict.model import calibration as cal
from vipredict.model.calibration import CalibrationResult, LocalPosteriorCalibrator, local_posterior
from vipredict.model.evaluation import published_thresholds, thresholds_of
from vipredict.model.plots import calibration_figure, save_figure

PUBLISHED_REVEL = thresholds_of(published_thresholds()["REVEL"])


@pytest.fixture(scope="module")
def revel() -> tuple[np.ndarray, np.ndarray]:
    """REVEL scores and labels of the real ClinGen 2019 set (end-to-end tier only)."""
    from vipredict.io.readers.clingen import read_clingen_set

    frame = read_clingen_set("2019").dropna(subset=["revel_score"])
    return frame["revel_score"].to_numpy(float), frame["label"].to_numpy(int)


@pytest.fixture(scope="module")
def revel_result(revel: tuple[np.ndarray, np.ndarray]) -> CalibrationResult:
    scores, labels = revel
    return LocalPosteriorCalibrator(n_bootstrap=10_000).fit(scores, labels).result_


def _reference_posterior(x, y, g, grid, w, minpoints=100, gft=0.03, increment=0.001):
    """Literal port of the original get_both_local_posteriors loop (slow, for checking)."""
    out = []
    top, bottom = grid.max(), grid.min()
    for t in grid:
        step = 0
        while True:
            h = step * increment
            lo, hi = t - h, t + h
            inside = (x >= lo - 1e-12) & (x <= hi + 1e-12)
            pos, neg = int((inside & (y == 1)).sum()), int((inside & (y == 0)).sum())
            if hi > top:
                c = (top - lo) / (hi - lo)
            elif lo < bottom:
                c = (hi - bottom) / (hi - lo)
            else:
                c = 1.0
            enough = pos + neg >= c * minpoints
            if enough and g is not None:
                enough = ((g >= lo - 1e-12) & (g <= hi + 1e-12)).sum() >= gft * c * g.size
            if enough:
                out.append(pos / (pos + w * neg))
                break
            step += 1
    return np.array(out)


def _reference_thresholds(posteriors: np.ndarray, thrs: np.ndarray, post: np.ndarray) -> np.ndarray:
    """Literal port of the original get_all_thresholds.m (its 1-based ``ind`` made 0-based).

    ``thrs`` is ordered as the original scans it: descending scores with the
    pathogenic posterior, ascending scores with the benign one (``1 - posterior``).
    """
    thresh = np.full((posteriors.shape[0], post.size), np.nan)
    for b, curve in enumerate(posteriors):
        for j, level in enumerate(post):
            below = np.flatnonzero(curve < level)  # find(posteriors(b, :) < Post(j))
            if below.size > 0 and below[0] > 0:  # ind = min(...) - 1; if ind > 0
                thresh[b, j] = thrs[below[0] - 1]
    return thresh


def _alternating_blocks(outer: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic: ``outer`` at 0.2, 0.4, 0.6 (2000, 6000, 2000), the other at 0.3, 0.5 (900 each).

    With ``min_labelled=1000`` a block of 2000 or 6000 is its own window (pure
    ``outer`` class), while a block of 900 is too small and its window widens to
    take in both neighbours: 8,000 of the 10,000 ``outer`` variants against 900
    of the 1,800 others, a local likelihood ratio of 0.8 / 0.5 = 1.6 towards
    ``outer``. Nowhere else does the posterior move towards the other class.
    """
    scores = np.repeat([0.2, 0.3, 0.4, 0.5, 0.6], [2000, 900, 6000, 900, 2000])
    labels = np.repeat([outer, 1 - outer, outer, 1 - outer, outer], [2000, 900, 6000, 900, 2000])
    return scores, labels


def _synthetic(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Scores on a 0.01 lattice, pathogenic more likely at high scores."""
    rng = np.random.default_rng(seed)
    scores = np.round(rng.uniform(0, 1, n), 2)
    labels = (rng.uniform(0, 1, n) < scores).astype(int)
    return scores, labels


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("prior", 0.0),
        ("prior", 1.0),
        ("prior", -0.2),
        ("c", 1.0),
        ("c", 0.5),
        ("min_labelled", 0),
        ("min_labelled", 2.5),
        ("unlabelled_fraction", -0.01),
        ("unlabelled_fraction", 1.5),
        ("n_bootstrap", -1),
        ("n_bootstrap", 10.5),
        ("one_sided_alpha", 0.0),
        ("one_sided_alpha", 0.5),
        ("one_sided_alpha", -0.05),
        ("increment", 0.0),
        ("increment", -0.001),
    ],
)
def test_bad_parameters_are_refused_by_name_when_fitting(parameter: str, value: float) -> None:
    """sklearn style: ``__init__`` only stores; ``fit`` checks and names the parameter."""
    calibrator = LocalPosteriorCalibrator(**{parameter: value})  # storing never raises
    with pytest.raises(ValueError, match=rf"^{parameter} must"):
        calibrator._check_params()
    scores, labels = _synthetic(0)
    with pytest.raises(ValueError, match=rf"^{parameter} must"):
        calibrator.fit(scores, labels)


@pytest.mark.parametrize(
    "parameters",
    [{}, {"n_bootstrap": 0}, {"unlabelled_fraction": 0.0}, {"unlabelled_fraction": 1.0},
     {"min_labelled": 1, "increment": 0.5, "one_sided_alpha": 0.25}],
)  # fmt: skip
def test_parameters_at_their_bounds_are_accepted(parameters: dict) -> None:
    LocalPosteriorCalibrator(**parameters)._check_params()


# --------------------------------------------------------------------------- local posterior


@pytest.mark.parametrize("pathogenic_share", [0.2, 0.5, 0.8])
def test_weight_makes_whole_set_posterior_equal_prior(pathogenic_share: float) -> None:
    """When every window holds the whole set, w must turn its class balance back into the prior."""
    rng = np.random.default_rng(1)
    scores = np.full(300, 0.5)  # one score: every window holds all variants
    labels = (rng.uniform(0, 1, 300) < pathogenic_share).astype(int)
    result = LocalPosteriorCalibrator(n_bootstrap=0).fit(scores, labels).result_
    np.testing.assert_array_equal(result.grid, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(result.posterior, CLINGEN_PRIOR, rtol=1e-12)


@pytest.mark.parametrize("with_unlabelled", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_posterior_matches_reference_loop(seed: int, with_unlabelled: bool) -> None:
    scores, labels = _synthetic(seed)
    g = np.round(np.random.default_rng(seed + 10).beta(1, 4, 500), 2) if with_unlabelled else None
    calibrator = LocalPosteriorCalibrator(n_bootstrap=0, increment=0.001)
    result = calibrator.fit(scores, labels, g).result_
    w = (1 - CLINGEN_PRIOR) * labels.sum() / (CLINGEN_PRIOR * (labels == 0).sum())
    expected = _reference_posterior(scores, labels, g, result.grid, w)
    np.testing.assert_allclose(result.posterior, expected, rtol=1e-12)


@pytest.fixture
def scored_set(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    """Labelled scores for the estimator's property tests: synthetic (fast) or REVEL (e2e)."""
    if request.param == "revel":
        return request.getfixturevalue("revel")
    return _synthetic(11, n=3000)


#: The property tests run on a synthetic set in the fast tier and on REVEL 2019 in e2e.
ON_BOTH_SETS = pytest.mark.parametrize(
    "scored_set", ["synthetic", pytest.param("revel", marks=pytest.mark.e2e)], indirect=True
)


@ON_BOTH_SETS
def test_windows_are_minimal_and_hold_100_labelled(scored_set) -> None:
    scores, labels = scored_set
    calibrator = LocalPosteriorCalibrator()
    prepared = calibrator._prepare(scores, labels, None)
    tables = prepared.tables
    lab = np.bincount(prepared.lab_bucket, minlength=2 * tables.grid.size)[None, :]
    cum = cal._cumulative(lab[:, 0::2] + lab[:, 1::2])
    steps = cal._minimal_steps(cum, None, tables, prepared.need)[0]
    flat = np.arange(tables.grid.size) * tables.n_steps + steps
    held = cum[0, tables.right[flat]] - cum[0, tables.left[flat]]
    assert np.all(held >= 100 * tables.coverage[flat])
    assert np.all(held[tables.coverage[flat] == 1.0] >= 100)
    shrunk = flat[steps > 0] - 1
    held_smaller = cum[0, tables.right[shrunk]] - cum[0, tables.left[shrunk]]
    assert np.all(held_smaller < 100 * tables.coverage[shrunk])


def test_concentrated_unlabelled_scores_widen_windows() -> None:
    scores, labels = _synthetic(3, n=600)
    plain = LocalPosteriorCalibrator(n_bootstrap=50).fit(scores, labels).result_
    crowded = np.full(2000, 0.1)  # all unlabelled mass at one score
    widened = LocalPosteriorCalibrator(n_bootstrap=50).fit(scores, labels, crowded).result_
    assert not np.allclose(plain.posterior, widened.posterior)
    assert widened.n_unlabelled == 2000


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uninformative_scores_reach_no_level(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = np.round(rng.uniform(0, 1, 3000), 3)
    labels = rng.integers(0, 2, 3000)
    result = LocalPosteriorCalibrator(n_bootstrap=300, random_state=seed).fit(scores, labels)
    assert all(v is None for v in result.result_.thresholds.values())
    assert all(v is None for v in result.result_.three_point.values())


def test_thresholds_follow_the_original_scan() -> None:
    grid = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    curve = np.array([[0.01, 0.2, 0.05, 0.3, 0.9]])
    levels = np.array([0.1, 0.5, 0.95, 0.005])
    # from the top: stays >= 0.1 down to 0.75 (0.5 dips), >= 0.5 only at 1.0, 0.95 never
    # (1.0 already misses it); 0.005 is never crossed (all >= 0.01): not reached either
    got = cal._pathogenic_thresholds(curve, grid, levels)[0]
    np.testing.assert_array_equal(got, [0.75, 1.0, np.nan, np.nan])
    # benignity 0.99, 0.8, 0.95, 0.7, 0.1: from the bottom only 0.0 stays >= 0.9;
    # 0.995 is missed at 0.0 already; 0.05 is never crossed: not reached
    benign = cal._benign_thresholds(curve, grid, np.array([0.9, 0.995, 0.05]))[0]
    np.testing.assert_array_equal(benign, [0.0, np.nan, np.nan])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_threshold_scan_matches_the_reference_port_cell_by_cell(seed: int) -> None:
    """Random curves (synthetic) through both scans, against the literal port of the original.

    Exponents spread the curves from near 0 to near 1, so every case occurs: a
    level crossed inside the range, missed at the first score scanned, and never
    crossed at all; the last two must both be NaN ("not reached").
    """
    rng = np.random.default_rng(seed)
    grid = np.sort(rng.uniform(-1.0, 1.0, 12))
    curves = rng.uniform(0, 1, (400, 12)) ** rng.uniform(0.02, 4.0, (400, 1))
    levels = np.array([0.02, 0.3, 0.7, 0.98])
    got_p = cal._pathogenic_thresholds(curves, grid, levels)
    got_b = cal._benign_thresholds(curves, grid, levels)
    np.testing.assert_array_equal(got_p, _reference_thresholds(curves[:, ::-1], grid[::-1], levels))
    np.testing.assert_array_equal(got_b, _reference_thresholds(1.0 - curves, grid, levels))
    for below in (
        curves[:, None, :] < levels[None, :, None],
        (1 - curves)[:, None, :] < levels[None, :, None],
    ):
        assert (~below.any(axis=2)).sum() >= 20  # never crossed
        assert (below.any(axis=2) & ~below.all(axis=2)).sum() >= 20  # crossed inside the range


@pytest.mark.parametrize(("outer", "family", "other"), [(1, "PP3", "BP4"), (0, "BP4", "PP3")])
def test_a_level_the_posterior_never_crosses_is_not_reached(
    outer: int, family: str, other: str
) -> None:
    """Point estimate and one-sided bound both report "not reached" (None), as the original.

    ``_alternating_blocks`` holds the local LR at 1.6 where the posterior dips
    and at 1 (pure class) elsewhere. With c = 16 the Supporting LR is 16^(1/8) =
    1.41, under 1.6: the posterior never drops below the Supporting level, which
    the original reports as not met; Moderate (LR 2), the 3-point level (2.83),
    Strong and Very Strong are crossed at the dips, so their threshold is the
    block beyond the last dip: 0.6 for PP3, 0.2 for BP4. Bootstrap counts move
    by ~3%, far from 1.41 and 2, so every bootstrap agrees. (With ClinGen's c
    the Supporting LR is 2.406, and a level above LR 2 cannot be left uncrossed:
    the windows at one class's own scores include a cover of them that counts
    each variant at most twice.)
    """
    scores, labels = _alternating_blocks(outer)
    calibrator = LocalPosteriorCalibrator(c=16.0, min_labelled=1000, n_bootstrap=200)
    result = calibrator.fit(scores, labels).result_
    prior_odds = CLINGEN_PRIOR / (1 - CLINGEN_PRIOR)
    dip_odds = 1.6 * prior_odds if outer == 1 else prior_odds / 1.6  # odds of pathogenicity
    pure = float(outer)
    dip = dip_odds / (1 + dip_odds)
    np.testing.assert_array_equal(result.grid, [0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0])
    np.testing.assert_allclose(
        result.posterior, [pure, pure, dip, pure, dip, pure, pure], rtol=1e-12
    )
    edge = 0.6 if family == "PP3" else 0.2
    expected = {f"{family}_{lv}": (None if lv == "Supporting" else edge) for lv in LEVELS}
    expected |= {f"{other}_{lv}": None for lv in LEVELS}
    assert result.point_thresholds == expected
    assert result.thresholds == expected
    assert result.three_point == {f"{family}_3pt": edge, f"{other}_3pt": None}


@pytest.mark.parametrize(
    ("values", "pathogenic", "expected"),
    [
        (np.r_[np.arange(100.0), [np.nan] * 3], True, 100 - 1 - (5 - 3)),
        (np.r_[np.arange(100.0), [np.nan] * 3], False, 2.0),
        (np.r_[np.arange(100.0), [np.nan] * 6], True, None),
    ],
)
def test_discount_counts_unreached_as_most_conservative(values, pathogenic, expected) -> None:
    # 103 bootstraps: floor(0.05 * 103) = 5, three of them unreached
    assert cal._discounted(values, 0.05, pathogenic) == expected


# --------------------------------------------------------------------------- REVEL 2019


#: Levels each REVEL 2019 calibration leaves unreached, point estimate and bound alike
#: (measured); every other level must be reached by both.
REVEL_UNREACHED = {
    "revel_result": set(),
    "revel_with_unlabelled": {"PP3_VeryStrong", "BP4_VeryStrong"},
}


@pytest.mark.e2e
@pytest.mark.parametrize("calibration", list(REVEL_UNREACHED))
def test_revel_point_thresholds_follow_the_reference_scan(
    request: pytest.FixtureRequest, calibration: str
) -> None:
    """The point thresholds are the original's scan of the point-estimate curve.

    Pejaver et al. publish REVEL's point estimates only in Table S1, which the
    mirror does not hold, so the published bounds (Table 2) are compared with
    our bounds (below), never with our point estimates.
    """
    result: CalibrationResult = request.getfixturevalue(calibration)
    levels_p, levels_b = LocalPosteriorCalibrator()._level_posteriors()
    curve = result.posterior[None, :]
    pathogenic = _reference_thresholds(curve[:, ::-1], result.grid[::-1], levels_p[:4])[0]
    benign = _reference_thresholds(1.0 - curve, result.grid, levels_b[:4])[0]
    expected = {f"PP3_{lv}": pathogenic[k] for k, lv in enumerate(LEVELS)}
    expected |= {f"BP4_{lv}": benign[k] for k, lv in enumerate(LEVELS)}
    expected = {k: None if np.isnan(v) else float(v) for k, v in expected.items()}
    assert result.point_thresholds == expected
    assert {k for k, v in expected.items() if v is None} == REVEL_UNREACHED[calibration]


@pytest.mark.e2e
@pytest.mark.parametrize("calibration", list(REVEL_UNREACHED))
@pytest.mark.parametrize("code", EVIDENCE_CODES)
def test_revel_discount_is_conservative(
    request: pytest.FixtureRequest, calibration: str, code: str
) -> None:
    """The one-sided bound gives evidence to fewer scores than the point estimate, never more."""
    result: CalibrationResult = request.getfixturevalue(calibration)
    disc, point = result.thresholds[code], result.point_thresholds[code]
    if code in REVEL_UNREACHED[calibration]:
        assert disc is None and point is None
    else:
        assert disc is not None and point is not None
        assert disc >= point if code.startswith("PP3") else disc <= point


@pytest.fixture(scope="module")
def revel_with_unlabelled(revel: tuple[np.ndarray, np.ndarray]) -> CalibrationResult:
    """ClinGen's full method: windows must also hold 3% of an unlabelled score set.

    ClinGen used gnomAD missense REVEL scores; the mirror's one real unlabelled
    REVEL set is the 33,842 ClinVar missense VUS of the revel-clinvar table.
    """
    from vipredict.io.readers.revel_clinvar import missense_vus_revel_scores

    scores, labels = revel
    unlabelled = missense_vus_revel_scores().to_numpy(float)
    return LocalPosteriorCalibrator(n_bootstrap=10_000).fit(scores, labels, unlabelled).result_


#: How far our bound's coverage may stray from the published one's, relative to it.
COVERAGE_TOLERANCE = 0.10


def _class_coverage(scores: np.ndarray, labels: np.ndarray, code: str, threshold: float) -> float:
    """Share of the code's own class (P/LP for PP3, B/LB for BP4) reaching ``threshold``."""
    if code.startswith("PP3"):
        return float((scores[labels == 1] >= threshold).mean())
    return float((scores[labels == 0] <= threshold).mean())


_NEEDS_GNOMAD = "needs gnomAD's dense low-score tail; in the VUS stand-in 0.16% of scores are "
_NEEDS_GNOMAD += "<= 0.016 and none <= 0.003, so the 3% unlabelled window is wide there"

#: Published REVEL levels the VUS stand-in does not reproduce, and how far it is (measured).
REVEL_NOT_REPRODUCED = {
    "BP4_Strong": f"BP4_Strong (0.016) {_NEEDS_GNOMAD}: measured 0.029, which gives BP4_Strong "
    "to 6.4% of the B/LB where the published threshold gives it to 2.2%",
    "BP4_VeryStrong": f"BP4_VeryStrong (0.003) {_NEEDS_GNOMAD}: not reached",
}


def _published_revel_case(code: str) -> Any:
    """A parameter, marked as a strict expected failure where REVEL_NOT_REPRODUCED says why."""
    reason = REVEL_NOT_REPRODUCED.get(code)
    if reason is None:
        return code
    return pytest.param(code, marks=pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.e2e
@pytest.mark.parametrize("code", [_published_revel_case(code) for code in EVIDENCE_CODES])
def test_revel_bounded_thresholds_reproduce_published(
    revel, revel_with_unlabelled, code: str
) -> None:
    """Our one-sided bounds against the published ones (Table 2): bound with bound.

    Scores are compared where they matter, in the variants they give the code:
    the share of the code's own class in the 2019 set reaching our threshold must
    be within 10% (relative) of the share reaching the published one. A fixed
    score tolerance cannot serve: REVEL's levels sit from 0.003 to 0.932, and
    the old ``abs=0.05`` let BP4_Strong (0.016) anywhere in [0, 0.066], up to 9
    times its published coverage (19.9% of the B/LB instead of 2.2%). A level
    the paper leaves unreached (PP3_VeryStrong) must be unreached here.
    """
    scores, labels = revel
    got, published = revel_with_unlabelled.thresholds[code], PUBLISHED_REVEL[code]
    if published is None:
        assert got is None
        return
    assert got is not None
    expected = _class_coverage(scores, labels, code, published)
    reached = _class_coverage(scores, labels, code, got)
    assert reached == pytest.approx(expected, rel=COVERAGE_TOLERANCE)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("code", "points", "pathogenic"),
    [("PP3_Strong", 4, True), ("BP4_Moderate", 2, False), ("BP4_Strong", 4, False)],
)
def test_the_unlabelled_condition_is_what_gives_revel_its_strong_coverage(
    revel, revel_result, revel_with_unlabelled, code: str, points: int, pathogenic: bool
) -> None:
    """Windows that must also hold 3% of the unlabelled scores are wider and steadier.

    Their bootstrap bounds sit much closer to the point estimates, so the same
    REVEL scores reach Strong/Moderate for far more of the 2019 set (measured:
    PP3_Strong 0.095 -> 0.265, BP4_Moderate 0.349 -> 0.523, BP4_Strong 0.015 ->
    0.064). vipredict's own models have no unlabelled set with their features in
    the mirror, which is why their hold-out coverage trails the targets.
    """
    scores, labels = revel

    def coverage(result: CalibrationResult) -> float:
        signed = evidence_points(assign_evidence(scores, result.thresholds))
        reached = signed >= points if pathogenic else -signed >= points
        return float(reached[labels == (1 if pathogenic else 0)].mean())

    assert coverage(revel_with_unlabelled) > 1.4 * coverage(revel_result)


@pytest.mark.e2e
def test_revel_result_shape(revel_result, revel) -> None:
    assert revel_result.n_bootstrap == 10_000
    assert revel_result.n_labelled == revel[0].size
    assert set(revel_result.three_point) == {"PP3_3pt", "BP4_3pt"}
    assert set(revel_result.thresholds) == set(EVIDENCE_CODES)
    assert np.all(revel_result.posterior_lower <= revel_result.posterior_upper)


@ON_BOTH_SETS
def test_reverse_gives_negated_thresholds(scored_set) -> None:
    scores, labels = scored_set
    plain = LocalPosteriorCalibrator(n_bootstrap=200).fit(scores, labels).result_
    flipped = LocalPosteriorCalibrator(n_bootstrap=200, reverse=True).fit(-scores, labels).result_
    assert sum(v is not None for v in plain.thresholds.values()) >= 2  # something to negate
    for key, value in plain.thresholds.items():
        assert flipped.thresholds[key] == (None if value is None else -value)
    assert flipped.three_point == {k: -v for k, v in plain.three_point.items() if v is not None}
    np.testing.assert_array_equal(flipped.grid, -plain.grid[::-1])
    np.testing.assert_allclose(local_posterior([-0.9], flipped), local_posterior([0.9], plain))


@ON_BOTH_SETS
def test_bootstraps_are_reproducible(scored_set) -> None:
    scores, labels = scored_set
    first = LocalPosteriorCalibrator(n_bootstrap=100, random_state=7).fit(scores, labels)
    again = LocalPosteriorCalibrator(n_bootstrap=100, random_state=7).fit(scores, labels)
    other = LocalPosteriorCalibrator(n_bootstrap=100, random_state=8).fit(scores, labels)
    np.testing.assert_array_equal(first.result_.posterior_lower, again.result_.posterior_lower)
    assert not np.array_equal(first.result_.posterior_lower, other.result_.posterior_lower)


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("0.5\t1\n0.3\tx\n", 2),
        ("0.5\t1\n\n0.2\t0\nabc\t1\n", 4),
        ("0.5\t1\t3\n", 1),
        ("nan\t0\n", 1),
        ("0.1\t2\n", 1),
    ],
)
def test_read_scores_tsv_names_bad_line(tmp_path: Path, content: str, line: int) -> None:
    path = tmp_path / "SCORES.tsv"
    path.write_text(content)
    with pytest.raises(ValueError, match=f":{line}:"):
        read_scores_tsv(path)


def test_calibrate_files_round_trip(tmp_path: Path) -> None:
    scores, labels = _synthetic(5, n=800)
    labelled = tmp_path / "SCORES.tsv"
    labelled.write_text("".join(f"{s}\t{y}\n" for s, y in zip(scores, labels, strict=True)))
    unlabelled = tmp_path / "U.tsv"
    unlabelled.write_text("".join(f"{s}\n" for s in scores[:300]))
    assert read_unlabelled_tsv(unlabelled).size == 300
    out = tmp_path / "out" / "calibration.json"
    result = calibrate_files(labelled, unlabelled, False, out, n_bootstrap=50)
    data = json.loads(out.read_text())
    assert set(data["thresholds"]) == set(EVIDENCE_CODES)
    assert data["n_bootstrap"] == 50 and data["prior"] == CLINGEN_PRIOR
    assert all(v is None or math.isfinite(v) for v in data["thresholds"].values())
    again = CalibrationResult.from_dict(data)
    assert again.thresholds == result.thresholds
    np.testing.assert_array_equal(again.posterior, result.posterior)
    plot = save_figure(calibration_figure(result), tmp_path / "plots" / "calibration.png")
    assert plot.read_bytes()[:4] == b"\x89PNG"
