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

import numpy as np
import pytest

from vipredict.acmg import CLINGEN_PRIOR, EVIDENCE_CODES, assign_evidence, evidence_points
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
    levels = np.array([0.1, 0.5, 0.95])
    # from the top: stays >= 0.1 down to 0.75 (0.5 dips), >= 0.5 only at 1.0, 0.95 never
    got = cal._pathogenic_thresholds(curve, grid, levels)[0]
    np.testing.assert_array_equal(got, [0.75, 1.0, np.nan])
    # benignity 0.99, 0.8, ...: from the bottom only 0.0 stays >= 0.9; 0.995 never
    benign = cal._benign_thresholds(curve, grid, np.array([0.9, 0.995]))[0]
    np.testing.assert_array_equal(benign, [0.0, np.nan])


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


@pytest.mark.e2e
@pytest.mark.parametrize("code", [c for c, v in PUBLISHED_REVEL.items() if v is not None])
def test_revel_point_estimate_reproduces_published(revel_result, code: str) -> None:
    assert revel_result.point_thresholds[code] == pytest.approx(PUBLISHED_REVEL[code], abs=0.05)


@pytest.mark.e2e
@pytest.mark.parametrize("code", EVIDENCE_CODES)
def test_revel_discount_is_conservative(revel_result, code: str) -> None:
    disc, point = revel_result.thresholds[code], revel_result.point_thresholds[code]
    if disc is not None:
        assert point is not None
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


@pytest.mark.e2e
@pytest.mark.parametrize("code", [c for c, v in PUBLISHED_REVEL.items() if c != "BP4_VeryStrong"])
def test_revel_bounded_thresholds_reproduce_published(revel_with_unlabelled, code: str) -> None:
    got, published = revel_with_unlabelled.thresholds[code], PUBLISHED_REVEL[code]
    assert (got is None) == (published is None)
    if published is not None:
        assert got == pytest.approx(published, abs=0.05)


@pytest.mark.e2e
@pytest.mark.xfail(
    strict=True,
    reason="BP4_VeryStrong (0.003) needs gnomAD's dense low-score tail; the VUS stand-in has "
    "too few very low REVEL scores, so the 3% window is wide there and the level is not reached",
)
def test_revel_bp4_very_strong_needs_gnomad(revel_with_unlabelled) -> None:
    got = revel_with_unlabelled.thresholds["BP4_VeryStrong"]
    assert got is not None and got == pytest.approx(0.003, abs=0.05)


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
