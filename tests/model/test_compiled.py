"""Compiled trees (lleaves) answer as LightGBM does, on the real trained home.

Each test compiles into a home of its own (``compiled_home``: the trained home's
settings with another ``home``), so no other test module finds compiled trees in
the session's trained home and changes path with test order.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vipredict.config import Settings
from vipredict.model import compiled as compiled_module
from vipredict.model.compiled import (
    CompileUnavailableError,
    cache_dir,
    cache_key,
    cached,
    compile_all,
    compiled,
)
from vipredict.model.scorer import FeatureMatrix, Scorer, load_scorer, route_codes, row_evidence
from vipredict.model.single import SingleScorer
from vipredict.store.partitioned import Store

pytestmark = pytest.mark.skipif(shutil.which("ld") is None, reason="no system linker")


@pytest.fixture(scope="module")
def real(trained_home: Settings) -> tuple[Scorer, FeatureMatrix, np.ndarray]:
    """The real champion as annotate loads it, every real store row, and each row's profile."""
    scorer = load_scorer(trained_home, with_priority=False, with_store=False)
    rows = Store.open(trained_home).read_all()
    names = [
        n for p in scorer.evidence_model.profiles for n in (*p.profile.sources, *p.feature_names)
    ]
    numeric = [c for c in dict.fromkeys(names) if c in rows.columns]
    matrix = FeatureMatrix.of_frame(rows, numeric)
    return scorer, matrix, route_codes(scorer.evidence_model, matrix)


@pytest.fixture(scope="module")
def compiled_home(trained_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Where these tests cache compiled trees (the trained home's own cache stays empty)."""
    return replace(trained_home, home=tmp_path_factory.mktemp("compiled-home"))


@pytest.fixture(scope="module")
def fast(real, compiled_home: Settings) -> Scorer:
    """The real champion with every profile's trees compiled."""
    scorer = replace(real[0], predictors={})
    built = scorer.compile(compiled_home)
    assert sorted(built) == sorted(p.name for p in scorer.evidence_model.profiles)
    return scorer


def test_compiled_scores_and_decisions_are_lightgbms_on_every_real_store_row(real, fast):
    scorer, matrix, codes = real
    model = scorer.evidence_model
    for i, profile in enumerate(model.profiles):
        values = matrix.values[np.ix_(codes == i, matrix.positions(profile.feature_names))]
        assert len(values) > 0, profile.name
        lightgbm = profile.booster.predict(values)
        native = fast.predictors[profile.name].predict(values)
        assert np.abs(native - lightgbm).max() <= 1e-12, profile.name
    slow, quick = row_evidence(model, matrix), fast.row_evidence(matrix)
    for name in ("evidence", "profile", "error"):
        assert getattr(quick, name).tolist() == getattr(slow, name).tolist(), name
    np.testing.assert_array_equal(quick.mis_prd, slow.mis_prd)  # NaN where unscored
    # The posterior is interpolated on the calibration grid, whose steepest steps turn the
    # scores' ~1e-16 into up to ~6e-12 here: equal to far more digits than are written.
    assert np.allclose(quick.posterior, slow.posterior, rtol=0, atol=1e-10, equal_nan=True)
    assert np.allclose(quick.score, slow.score, rtol=0, atol=1e-12, equal_nan=True)
    assert (quick.evidence != "none").sum() > 100


def _on_a_threshold(scorer: Scorer, fast: Scorer, matrix: FeatureMatrix, codes: np.ndarray):
    """The champion with its first profile's only threshold put exactly between a real row's
    LightGBM and compiled scores (at the one of them that reaches it), and that row."""
    profile = scorer.evidence_model.profiles[0]
    rows = np.flatnonzero(codes == 0)
    values = matrix.values[np.ix_(rows, matrix.positions(profile.feature_names))]
    lightgbm = profile.booster.predict(values)
    native = fast.predictors[profile.name].predict(values)
    differ = np.flatnonzero(lightgbm != native)
    assert len(differ), "no row where the two sums differ in the last bit"
    k = differ[0]
    threshold = max(lightgbm[k], native[k])  # the larger reaches PP3, the smaller does not
    calibration = replace(
        profile.calibration,
        thresholds={key: None for key in profile.calibration.thresholds}
        | {"PP3_Supporting": float(threshold)},
        three_point={key: None for key in profile.calibration.three_point},
    )
    profiles = (replace(profile, calibration=calibration), *scorer.evidence_model.profiles[1:])
    model = replace(scorer.evidence_model, profiles=profiles)
    one = FeatureMatrix(matrix.values[rows[k : k + 1]], matrix.columns)
    return model, one


def test_a_score_on_a_threshold_is_decided_as_lightgbm_decides(real, fast, monkeypatch):
    scorer, matrix, codes = real
    model, row = _on_a_threshold(scorer, fast, matrix, codes)
    expected = row_evidence(model, row)
    got = row_evidence(model, row, predictors=fast.predictors)
    assert got.evidence.tolist() == expected.evidence.tolist()
    np.testing.assert_array_equal(got.mis_prd, expected.mis_prd)
    # Without the guard the compiled score lands on the other side: this test would fail.
    monkeypatch.setattr(compiled_module, "GUARD_TOLERANCE", -1.0)
    unguarded = row_evidence(model, row, predictors=fast.predictors)
    assert unguarded.evidence.tolist() != expected.evidence.tolist()


def test_the_cache_is_keyed_by_the_model(real, fast, compiled_home, tmp_path):
    scorer, matrix, codes = real
    first, second = scorer.evidence_model.profiles[:2]
    assert cache_key(first.booster.model_to_string()) != cache_key(second.booster.model_to_string())
    own = replace(compiled_home, home=tmp_path)
    built = compiled(first.booster, own)
    assert cached(first.booster, own) is not None
    assert cached(second.booster, own) is None  # the other model's library is not reused
    other = compiled(second.booster, own)
    assert other.path != built.path
    values = matrix.values[np.ix_(codes == 1, matrix.positions(second.feature_names))]
    assert np.abs(other.predict(values) - second.booster.predict(values)).max() <= 1e-12


def test_a_half_written_or_damaged_library_is_never_loaded(real, fast, compiled_home, tmp_path):
    scorer = real[0]
    booster = scorer.evidence_model.profiles[0].booster
    good = fast.predictors[scorer.evidence_model.profiles[0].name].path
    target = cache_dir(replace(compiled_home, home=tmp_path))
    target.mkdir()
    # A compile in progress writes under a hidden name: a reader does not see it.
    partial = target / ".partial-123"
    partial.mkdir()
    shutil.copy(good, partial / "forest.so")
    settings = replace(compiled_home, home=tmp_path)
    assert cached(booster, settings) is None
    # A file under the final name whose bytes do not match it (truncated) is refused.
    (target / good.name).write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert cached(booster, settings) is None
    shutil.copy(good, target / good.name)  # the whole library, under the same name: loaded
    assert cached(booster, settings) is not None


def test_a_failed_compile_leaves_nothing_to_load(real, tmp_path, compiled_home, monkeypatch):
    booster = real[0].evidence_model.profiles[0].booster
    settings = replace(compiled_home, home=tmp_path)

    def half(model_file: Path, object_file: Path) -> None:
        object_file.write_bytes(b"\x7fELF half an object")
        raise CompileUnavailableError("killed mid-compile")

    monkeypatch.setattr(compiled_module, "_compile_object", half)
    with pytest.raises(CompileUnavailableError):
        compiled(booster, settings)
    assert list(cache_dir(settings).iterdir()) == []
    assert cached(booster, settings) is None


def test_the_one_row_service_path_never_compiles(real, fast, trained_home, monkeypatch):
    """A scorer without compiled trees answers through LightGBM and leaves the cache empty;
    the service's one-row path answers through LightGBM even beside compiled trees."""
    scorer, matrix, codes = real

    def refuse(*args, **kwargs):
        raise AssertionError("compiled trees used on the one-row path")

    for name in ("compiled", "cached", "compile_all", "_compile_object"):
        monkeypatch.setattr(compiled_module, name, refuse)
    monkeypatch.setattr(compiled_module.CompiledPredictor, "predict", refuse)
    plain = replace(scorer, predictors={})
    assert (plain.row_evidence(matrix).evidence != "none").any()
    k = int(np.flatnonzero(codes >= 0)[0])
    row = {c: float(v) for c, v in zip(matrix.columns, matrix.values[k], strict=True)}
    single = SingleScorer.of(fast, list(matrix.columns))  # fast holds compiled trees
    answer = single.answer(row, "1:1:A:C")
    assert answer.row["score"] == row_evidence(scorer.evidence_model, matrix).score[k]
    assert not cache_dir(trained_home).exists()


def test_compiling_reports_each_booster_as_it_is_settled(real, fast, compiled_home):
    """``compile_all`` calls its progress callback once per booster (a bar over the profiles,
    which take a minute or two to compile the first time), cached ones included."""
    boosters = [p.booster for p in real[0].evidence_model.profiles]
    ticks = []
    found = compile_all(boosters, compiled_home, build=False, done=lambda: ticks.append(1))
    assert len(ticks) == len(boosters) == len(found)
    assert all(predictor is not None for predictor, _ in found)  # all cached by ``fast``
