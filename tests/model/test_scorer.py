"""The one scorer: records in, RESULT_COLUMNS out, in order, every failure named and explained.

All on the SYNTHETIC tiny home (fast tier): made-up GRCh37 SNVs whose annotations
(``tiny.annotations``) say independently of the scorer which rows carry an
annotation profile of ``features/noaf.toml`` in full, which carry none (thin)
and which are blank.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from homes import PROJECT_ROOT
from synthetic import TinyHome

from vipredict.acmg import assign_evidence, next_levels
from vipredict.config import Settings
from vipredict.io.inputs import InputRecord, Inputs, record_from_key, record_from_parts
from vipredict.model.registry import ModelNotReadyError
from vipredict.model.scorer import (
    RESULT_COLUMNS,
    RESULT_FIELDS,
    Scorer,
    load_scorer,
)
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES


@pytest.fixture(scope="module")
def scorer(tiny_home: Settings) -> Scorer:
    """Both champions and the store, as the service and ``vipredict predict`` load them."""
    return load_scorer(tiny_home)


#: The annotation profiles as the feature-set file declares them, read here without
#: the code under test: name -> sources, in routing order.
PROFILES = {
    p["name"]: p["sources"]
    for p in tomllib.loads((PROJECT_ROOT / "features" / "noaf.toml").read_text())["profiles"]
}


def first_profile(row: pd.Series) -> str:
    """The first declared profile whose every source the row carries ("" if none)."""
    return next((n for n, s in PROFILES.items() if row[s].notna().all()), "")


@pytest.fixture(scope="module")
def keys(tiny: TinyHome) -> dict[str, list[str]]:
    """SYNTHETIC keys by annotation: ``full`` (carries a profile), ``thin`` and ``blank``."""
    frame = tiny.annotations
    judged = frame[[*CONSERVATION_SCORES, *FUNCTIONAL_SCORES]].notna().any(axis=1)
    carried = frame.apply(first_profile, axis=1) != ""
    variant = frame["variant"].astype(str)
    return {
        "full": variant[judged & carried].tolist(),
        "thin": variant[judged & ~carried].tolist(),
        "blank": variant[~judged].tolist(),
    }


def _row(results: pd.DataFrame, i: int) -> dict:
    return results.iloc[i].to_dict()


def _same_answer(a: dict, b: dict) -> bool:
    """Equal except ``input``, NaN equal to NaN."""
    for column in RESULT_COLUMNS:
        if column == "input":
            continue
        x, y = a[column], b[column]
        if not (x == y or (pd.isna(x) and pd.isna(y))):
            return False
    return True


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------- records


def test_records_keep_their_order_and_repeats_are_answered_alike(scorer, keys):
    """SYNTHETIC store: one row per record, in order; the same variant spelled twice agrees."""
    first, second = keys["full"][:2]
    _, chrom, pos, ref, alt = first.split(":")
    records = [
        record_from_key(first),
        record_from_key("nonsense"),
        record_from_key(second),
        record_from_parts("hg19", f"chr{chrom}", pos, ref.lower(), alt.lower()),
        record_from_key(keys["blank"][0]),
        record_from_key(first),
    ]
    results = scorer.score_records(records)
    assert results["input"].tolist() == [r.label for r in records]
    assert results["variant"].tolist() == [first, "", second, first, keys["blank"][0], first]
    assert results["error"].tolist() == ["", "malformed_record", "", "", "no_features", ""]
    assert _same_answer(_row(results, 0), _row(results, 3))
    assert _same_answer(_row(results, 0), _row(results, 5))
    assert not _same_answer(_row(results, 0), _row(results, 2))
    backwards = scorer.score_records(records[::-1])
    for i in range(len(records)):
        assert _same_answer(_row(results, i), _row(backwards, len(records) - 1 - i))


PARSE_FAILURES = {
    "nonsense": ("malformed_record", "is not build:chrom:pos:ref:alt"),
    "GRCh37:1:notanumber:A:G": ("malformed_record", "is not an integer"),
    "GRCh37:1:1000000:A:A": ("malformed_record", "REF equals ALT"),
    "GRCh37:1:1000000:GA:G": ("not_snv", "not a single-nucleotide variant"),
    "GRCh37:chrUn_gl000220:5:A:G": ("unknown_contig", "not a primary human chromosome"),
    "GRCh99:1:5:A:G": ("unknown_build", "is not GRCh37/hg19 or GRCh38/hg38"),
}


@pytest.fixture(scope="module")
def parsed(scorer: Scorer, keys: dict[str, list[str]]) -> pd.DataFrame:
    """Every parse failure among scorable records, scored in one call (SYNTHETIC store)."""
    asked = [text for failure in PARSE_FAILURES for text in (failure, keys["full"][0])]
    return scorer.score_records([record_from_key(text) for text in asked])


@pytest.mark.parametrize("text", PARSE_FAILURES)
def test_parse_failures_are_named_and_explained(parsed, keys, text):
    """SYNTHETIC store: a record that is no SNV key gets its error; the others are scored."""
    error, detail = PARSE_FAILURES[text]
    i = 2 * list(PARSE_FAILURES).index(text)
    bad = _row(parsed, i)
    assert (bad["input"], bad["variant"], bad["error"]) == (text, "", error)
    assert detail in bad["error_detail"]
    assert bad["evidence"] == "none" and bad["points"] == 0 and math.isnan(bad["score"])
    assert _is_missing(bad["next_level"]) and math.isnan(bad["next_level_distance"])
    assert (_row(parsed, i + 1)["variant"], _row(parsed, i + 1)["error"]) == (keys["full"][0], "")


def test_a_wrong_ref_is_told_from_a_variant_without_features(scorer, keys):
    """SYNTHETIC store: the store's REF at a locus names a ref_mismatch; other misses are
    no_features; both keep their key."""
    key = keys["full"][0]
    build, chrom, pos, ref, alt = key.split(":")
    other = next(b for b in "ACGT" if b not in (ref, alt))
    wrong_ref = f"{build}:{chrom}:{pos}:{other}:{alt}"
    other_alt = f"{build}:{chrom}:{pos}:{ref}:{other}"
    nowhere = f"{build}:{chrom}:{int(pos) + 1}:{ref}:{alt}"
    grch38 = f"GRCh38:{chrom}:{pos}:{ref}:{alt}"
    asked = [key, wrong_ref, other_alt, nowhere, grch38]
    results = scorer.score_records([record_from_key(k) for k in asked])
    assert results["variant"].tolist() == asked
    assert results["error"].tolist() == [
        "", "ref_mismatch", "no_features", "no_features", "no_features",
    ]  # fmt: skip
    assert results["error_detail"][1] == f"REF {other} but the reference at this locus is {ref}"
    assert all(
        results["error_detail"][i] == f"{asked[i]} is not in the feature store" for i in (2, 3, 4)
    )
    assert results["score"][1:].isna().all() and (results["evidence"][1:] == "none").all()


def test_thin_and_blank_rows_are_named_with_their_reason(scorer, keys):
    """SYNTHETIC store: no profile carried in full -> no score, no evidence; blank likewise."""
    asked = [keys["thin"][0], keys["blank"][0], keys["full"][0]]
    results = scorer.score_records([record_from_key(k) for k in asked])
    thin, blank, full = (_row(results, i) for i in range(3))
    assert thin["error"] == "insufficient_annotation"
    assert thin["error_detail"] == (
        "carries no annotation profile in full: no calibrated model for its annotations, "
        "so no evidence"
    )
    assert math.isnan(thin["score"]) and thin["evidence"] == "none" and thin["points"] == 0
    assert _is_missing(thin["next_level"]) and thin["profile"] == ""
    assert "no profile complete" in thin["annotation_warnings"]
    assert blank["error"] == "no_features"
    assert blank["error_detail"] == "no conservation or functional score to judge"
    assert math.isnan(blank["score"]) and math.isnan(blank["priority_score"])
    assert blank["variant"] == asked[1] and blank["gene"] != ""  # a store row: its gene is known
    assert full["error"] == full["error_detail"] == "" and 0 <= full["score"] <= 1


def test_every_store_row_is_classified_as_its_annotation_says(scorer, keys):
    """SYNTHETIC store: over all 600 rows the errors follow the annotations exactly."""
    results = scorer.results_of(scorer.store.read_all())
    errors = dict(zip(results["variant"], results["error"], strict=True))
    assert {errors[k] for k in keys["full"]} == {""}
    assert {errors[k] for k in keys["thin"]} == {"insufficient_annotation"}
    assert {errors[k] for k in keys["blank"]} == {"no_features"}
    assert min(len(v) for v in keys.values()) > 5


# --------------------------------------------------------------------------- result table


TABLES = ("results_of", "score_records", "all_failed")


@pytest.fixture(scope="module")
def tables(scorer: Scorer, keys: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    """The scorer's result tables: from store rows, from records (some failing, or all)."""
    rows = scorer.store.read_all()
    asked = ["nonsense", keys["thin"][0], keys["full"][0], "GRCh37:1:5:A:G", keys["blank"][0]]
    return {
        "results_of": scorer.results_of(rows),
        "score_records": scorer.score_records([record_from_key(k) for k in asked]),
        "all_failed": scorer.score_records([record_from_key("nonsense")]),
    }


@pytest.mark.parametrize("table", TABLES)
def test_results_have_exactly_the_declared_columns(tables, table):
    assert tuple(tables[table].columns) == RESULT_COLUMNS
    assert [field.name for field in RESULT_FIELDS] == list(RESULT_COLUMNS)


@pytest.mark.parametrize("table", TABLES)
def test_numeric_results_have_their_declared_dtypes(tables, table):
    numeric = [f for f in RESULT_FIELDS if f.dtype != "string"]
    assert {f.dtype for f in numeric} == {"float64", "int64", "Int64"}  # Int64: mis_prd
    assert {f.name: str(tables[table][f.name].dtype) for f in numeric} == {
        f.name: f.dtype for f in numeric
    }


@pytest.mark.parametrize("table", TABLES)
def test_text_results_have_their_declared_dtypes(tables, table):
    text = [f for f in RESULT_FIELDS if f.dtype == "string"]
    assert {f.name: str(tables[table][f.name].dtype) for f in text} == {
        f.name: f.dtype for f in text
    }


@pytest.mark.parametrize("table", TABLES)
def test_text_results_are_text(tables, table):
    """Whatever the dtype's name, every declared text column holds text (or nothing)."""
    for field in RESULT_FIELDS:
        if field.dtype == "string":
            column = tables[table][field.name]
            assert pd.api.types.is_string_dtype(column.dtype), field.name
            assert all(isinstance(v, str) or _is_missing(v) for v in column), field.name


def test_a_variant_with_an_error_has_no_next_level(tables, scorer):
    """SYNTHETIC store: next_level only for error-free rows, and then as acmg.next_levels says."""
    results = tables["results_of"]
    failed = results["error"] != ""
    assert failed.any()
    assert results.loc[failed, "next_level"].map(_is_missing).all()
    assert results.loc[failed, "next_level_distance"].isna().all()
    for profile in scorer.evidence_model.profiles:
        fine = results[~failed & (results["profile"] == profile.name)]
        codes, distances = next_levels(
            fine["score"].to_numpy(dtype=float), profile.calibration.thresholds
        )
        assert [None if _is_missing(c) else c for c in fine["next_level"]] == list(codes)
        np.testing.assert_allclose(fine["next_level_distance"], distances, equal_nan=True)
    assert results.loc[~failed, "next_level"].map(lambda c: not _is_missing(c)).sum() > 10


# --------------------------------------------------------------------------- profiles


def test_each_variant_is_scored_by_the_first_profile_it_carries(scorer, tiny):
    """SYNTHETIC store: the named profile is the declared first one carried in full, the
    score is that profile's own model's, and the evidence follows its own thresholds."""
    rows = scorer.store.read_all()
    results = scorer.results_of(rows)
    annotations = tiny.annotations.set_index("variant")
    expected = annotations.loc[results["variant"]].apply(first_profile, axis=1)
    assert results["profile"].tolist() == expected.tolist()
    assert len(set(expected) - {""}) >= 3  # several profiles are exercised
    for profile in scorer.evidence_model.profiles:
        mine = (results["profile"] == profile.name).to_numpy()
        if not mine.any():
            continue
        own = profile.booster.predict(rows.loc[mine, profile.feature_names].astype(float))
        np.testing.assert_allclose(results.loc[mine, "score"], own, rtol=1e-12)
        codes = assign_evidence(own, profile.calibration.thresholds)
        assert results.loc[mine, "evidence"].tolist() == list(codes)


def test_a_lost_source_moves_a_variant_to_the_next_profile_and_is_named(scorer, keys):
    """SYNTHETIC store: blanking MutPred2 of a variant scored by the richest profile moves it
    to the next profile it carries, and the answer's warnings say what was missing."""
    rows = scorer.store.read_all()
    results = scorer.results_of(rows)
    richest = scorer.evidence_model.profiles[0].name
    pick = rows[(results["profile"] == richest).to_numpy()].head(5).reset_index(drop=True)
    assert (
        len(pick) == 5
        and (results["annotation_warnings"][results["profile"] == richest] == "").all()
    )
    pick["mutpred2_score"] = np.nan
    moved = scorer.results_of(pick)
    assert richest not in set(moved["profile"])
    assert moved["profile"].tolist() == pick.apply(first_profile, axis=1).tolist()
    for text, profile in zip(moved["annotation_warnings"], moved["profile"], strict=True):
        assert text == f"missing: mutpred2_score (scored by profile {profile})"


def test_reader_warnings_reach_the_answer(scorer, tiny, keys):
    """SYNTHETIC annotations carrying a reader's warning: the answer repeats it first."""
    frame = tiny.annotations
    annotations = frame[frame["variant"] == keys["full"][0]].reset_index(drop=True)
    annotations["annotation_warnings"] = "mutpred2_score: MutPred_score is MutPred v1"
    results = replace(scorer, store=None).score_inputs(
        Inputs([InputRecord(keys["full"][0], keys["full"][0])], annotations)
    )
    assert results["annotation_warnings"][0].startswith(
        "mutpred2_score: MutPred_score is MutPred v1"
    )


# --------------------------------------------------------------------------- annotated inputs


def test_annotated_inputs_are_scored_without_a_store(scorer, tiny, keys):
    """SYNTHETIC annotations scored by a scorer that has no store: as the store's rows would be
    (the evidence model uses no frequency), frequency criteria unknown (none were given)."""
    storeless = replace(scorer, store=None)
    with pytest.raises(ModelNotReadyError, match="without a feature store"):
        storeless.score_records([record_from_key(keys["full"][0])])
    wanted = [*keys["full"][:20], keys["thin"][0], keys["blank"][0]]
    frame = tiny.annotations
    annotations = frame[frame["variant"].isin(wanted)].reset_index(drop=True)
    records = [InputRecord(k, k) for k in annotations["variant"]]
    records.insert(3, record_from_key("GRCh37:1:1000000:GA:G"))
    results = storeless.score_inputs(Inputs(records, annotations))
    assert results["input"].tolist() == [r.label for r in records]
    assert results["error"][3] == "not_snv"
    from_store = scorer.score_records(records)
    for column in ("variant", "gene", "evidence", "points", "error", "error_detail"):
        assert results[column].tolist() == from_store[column].tolist(), column
    np.testing.assert_allclose(results["score"], from_store["score"], rtol=1e-9, equal_nan=True)
    judged = results["error"].isin(["", "insufficient_annotation"])
    assert set(results.loc[judged, "BA1"]) == {"unknown"}
