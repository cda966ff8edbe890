"""``annotate`` scores a block at once: the batch core gives the answers of before, to the bit.

:func:`vipredict.model.scorer.row_evidence` replaced a frame filled profile by
profile (``.loc`` assignments of object columns). ``previous_profile_evidence``
below is that implementation, kept verbatim as the reference: the new core must
give the same frame exactly, on the real store (trained home) and the SYNTHETIC
tiny one. The end-to-end test then asks the real ClinVar 2015 BRCA VCF through
``annotate`` and through ``predict`` (store match in Arrow, block scoring vs key
look-up, frame scoring) and wants the same ``VIP_*`` text for every allele, not
merely close numbers.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from vcf_cases import per_allele

from vipredict.acmg import NO_EVIDENCE
from vipredict.config import Settings
from vipredict.io.sources import resolve
from vipredict.io.vcf import number_text
from vipredict.jobs.annotate import annotate_vcf
from vipredict.jobs.predict import predict_file
from vipredict.model.registry import LoadedModel
from vipredict.model.scorer import (
    Scorer,
    caps_of,
    evidence_of,
    load_scorer,
    profile_evidence,
    route,
)
from vipredict.store.partitioned import Store

RESULT_KEYS = ("VIP_SCORE", "VIP_POST", "VIP_EVIDENCE", "VIP_MIS_PRD", "VIP_ERR")


def previous_profile_evidence(model: LoadedModel, features: pd.DataFrame) -> pd.DataFrame:
    """``profile_evidence`` as it was before the batch core (the reference, unchanged)."""
    routes = route(model, features)
    out = pd.DataFrame(
        {
            "score": np.nan,
            "posterior": np.nan,
            "likelihood_ratio": np.nan,
            "evidence": NO_EVIDENCE,
            "points": 0,
            "mis_prd": pd.NA,
            "profile": routes.astype(str),
        },
        index=features.index,
    )
    columns = ["score", "posterior", "likelihood_ratio", "evidence", "points", "mis_prd"]
    for profile in model.profiles:
        rows = routes == profile.name
        if rows.any():
            scores = profile.predict(features.loc[rows])
            caps = caps_of(model, profile.calibration)
            out.loc[rows, columns] = evidence_of(scores, profile.calibration, caps).to_numpy(
                dtype=object
            )
    for column in ("score", "posterior", "likelihood_ratio"):
        out[column] = out[column].astype("float64")
    out["points"] = out["points"].astype("int64")
    out["mis_prd"] = out["mis_prd"].astype("Int64")
    return out


def assert_same_as_before(model: LoadedModel, rows: pd.DataFrame) -> pd.DataFrame:
    """The new frame equals the previous implementation's exactly (values, dtypes, index)."""
    rows = rows.set_axis(np.arange(len(rows)) * 3 + 7)  # an index that is not 0..n-1
    new = profile_evidence(model, rows)
    pd.testing.assert_frame_equal(new, previous_profile_evidence(model, rows), check_exact=True)
    return new


def test_batch_core_equals_the_previous_implementation_on_the_synthetic_store(tiny_scorer):
    """SYNTHETIC tiny store: every row, scored, unscored and thin ones among them."""
    assert tiny_scorer.store is not None
    new = assert_same_as_before(tiny_scorer.evidence_model, tiny_scorer.store.read_all())
    assert (new["profile"] == "").any() and new["mis_prd"].notna().any()


@pytest.fixture(scope="module")
def scorer(trained_home: Settings) -> Scorer:
    """The real evidence champion as annotate loads it, with the real store for predict."""
    loaded = load_scorer(trained_home, with_priority=False, with_store=False)
    return replace(loaded, store=Store.open(trained_home))


def test_batch_core_equals_the_previous_implementation_on_the_real_store(scorer):
    """Every row of the real store, through each of the champion's profiles."""
    assert scorer.store is not None
    rows = scorer.store.read_all()
    new = assert_same_as_before(scorer.evidence_model, rows)
    used = set(new["profile"]) - {""}
    assert len(used) >= 2 and (new["evidence"] != NO_EVIDENCE).sum() > 100
    errors = scorer.row_evidence(rows).error  # the arrays annotate writes from
    assert errors.tolist() == scorer.score_features(rows)["error"].tolist()
    assert "" in set(errors)


def test_real_vcf_result_text_is_predicts_exactly(scorer, tmp_path: Path):
    """ClinVar 2015 BRCA (real): each allele's VIP_* text is predict's answer written out."""
    source = resolve("clinvar_2015_brca_vcf")
    output = tmp_path / "brca.vcf"
    annotate_vcf(source, output, scorer.store, scorer, show_progress=False)
    expected = predict_file(scorer, source, "vcf").to_dict("records")
    written = per_allele(output, RESULT_KEYS)
    assert len(written) == len(expected) == 6_184
    scored = 0
    for mine, theirs in zip(written, expected, strict=True):
        error = theirs["error"]
        assert mine["VIP_ERR"] == (error or "."), (mine, theirs)
        assert mine["VIP_SCORE"] == number_text(theirs["score"]), (mine, theirs)
        assert mine["VIP_POST"] == number_text(theirs["posterior"]), (mine, theirs)
        assert mine["VIP_EVIDENCE"] == ("." if error else theirs["evidence"]), (mine, theirs)
        points = "." if error or pd.isna(theirs["mis_prd"]) else str(int(theirs["mis_prd"]))
        assert mine["VIP_MIS_PRD"] == points, (mine, theirs)
        scored += not error
    assert scored > 150


@pytest.mark.skipif(shutil.which("ld") is None, reason="no system linker to compile trees")
def test_real_vcf_with_compiled_trees_is_written_byte_for_byte_as_before(
    scorer, trained_home: Settings, tmp_path: Path
):
    """ClinVar 2015 BRCA (real): compiled trees (:mod:`vipredict.model.compiled`) change the
    time annotate takes, not one byte it writes; a small input compiles nothing itself."""
    from vipredict.jobs.annotate import use_compiled_trees

    source = resolve("clinvar_2015_brca_vcf")
    home = replace(trained_home, home=tmp_path / "home")  # the session home's cache stays empty
    fast = replace(scorer, predictors={})
    assert use_compiled_trees(fast, source, None, home) == [] and fast.predictors == {}
    built = use_compiled_trees(fast, source, True, home)
    assert (
        sorted(built)
        == sorted(fast.predictors)
        == sorted(p.name for p in scorer.evidence_model.profiles)
    )
    again = replace(scorer, predictors={})  # a later run: the cached trees, nothing compiled
    assert use_compiled_trees(again, source, None, home) == [] and again.predictors.keys() == (
        fast.predictors.keys()
    )
    assert use_compiled_trees(replace(scorer, predictors={}), source, False, home) == []
    slow_out, fast_out = tmp_path / "lightgbm.vcf", tmp_path / "compiled.vcf"
    annotate_vcf(source, slow_out, scorer.store, scorer, show_progress=False)
    annotate_vcf(source, fast_out, scorer.store, again, show_progress=False)
    assert fast_out.read_bytes() == slow_out.read_bytes()
