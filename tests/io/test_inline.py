"""Annotations sent inline with a variant (``vipredict.io.inline``): JSON values -> the
canonical annotation table and the long frequency table, bad values named per variant.

Every value here is SYNTHETIC, hand-written to hit one parsing rule (a JSON boolean
where a number belongs, EA on its 0-100 scale, a percentage AF, ...); no figure
comes from them. The scoring of such tables is tested through the service
(``tests/service/test_inline_http.py``).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from vipredict.features.frequency import ACCEPTED_GROUPS
from vipredict.io.inline import (
    ANNOTATION_RULES,
    FREQUENCY_GROUPS,
    INVALID_ANNOTATION,
    NOT_MISSENSE,
    UNKNOWN_FIELD,
    InlineVariant,
    inline_inputs,
    refusal,
)
from vipredict.io.inputs import record_from_key
from vipredict.schema import ANNOTATION_COLUMNS, CONSERVATION_SCORES, FUNCTIONAL_SCORES

KEY = "GRCh38:17:43093464:G:A"


def _one(annotations=None, frequencies=None, key: str = KEY):
    """Inputs of one SYNTHETIC variant sent with the given values."""
    return inline_inputs([InlineVariant(record_from_key(key), annotations, frequencies)])


def test_values_become_the_canonical_tables():
    values = {
        "gene": " BRCA1 ",
        "transcript": "ENST00000357654",
        "aa_ref": "r",
        "aa_pos": 1699,
        "aa_alt": "W",
        "sift_score": 0,
        "polyphen2_score": 0.999,
        "fathmm_score": -5.2,
        "ea_score": 0.93,
        "cadd_phred": 32,
        "gerp_rs": -12.3,
        "phylop100way": 7.5,
        "mutpred2_score": None,
    }
    frequencies = {
        "gnomADg": {"afr": {"af": 0.0, "ac": 0, "an": 41_000}, "nfe": {"af": 1e-5}, "sas": {}},
        "gnomADe": {"all": {"ac": 3, "an": 250_000}, "eas": None},
    }
    inputs = _one(values, frequencies)
    assert inputs.records == [record_from_key(KEY)]
    table = inputs.annotations
    assert list(table.columns)[: len(ANNOTATION_COLUMNS)] == list(ANNOTATION_COLUMNS)
    row = table.iloc[0]
    assert (row["variant"], row["build"], row["chrom"], row["pos"]) == (
        KEY,
        "GRCh38",
        "17",
        43093464,
    )
    assert (row["ref"], row["alt"], row["gene"]) == ("G", "A", "BRCA1")
    assert (row["aa_ref"], row["aa_pos"], row["aa_alt"]) == ("R", 1699, "W")
    assert row["sift_score"] == 0.0 and row["cadd_phred"] == 32.0 and row["fathmm_score"] == -5.2
    assert pd.isna(row["mutpred2_score"]) and pd.isna(row["vest4_score"])
    assert row["source"] == "inline" and row["transcript"] == "ENST00000357654"
    assert row["annotation_warnings"] == ""
    assert str(table["sift_score"].dtype) == "float64" and str(table["aa_pos"].dtype) == "Int64"
    long = inputs.frequencies.sort_values(["dataset", "group"]).reset_index(drop=True)
    assert list(long.columns) == ["variant", "dataset", "group", "ac", "an", "af"]
    assert [str(t) for t in long.dtypes] == ["string"] * 3 + ["float64"] * 3
    # A group sent without any value (sas: {}, eas: null) has no row: it stays unknown.
    assert list(zip(long["dataset"], long["group"], strict=True)) == [
        ("gnomADe", "all"),
        ("gnomADg", "afr"),
        ("gnomADg", "nfe"),
    ]
    assert long.loc[0, ["ac", "an"]].tolist() == [3.0, 250_000.0] and math.isnan(long.loc[0, "af"])
    assert long.loc[1, ["ac", "an", "af"]].tolist() == [0.0, 41_000.0, 0.0]
    assert long.loc[2, "af"] == 1e-5 and math.isnan(long.loc[2, "ac"])


@pytest.mark.parametrize(
    "annotations,frequencies,named",
    [
        ({"sift_score": "deleterious(0.01)"}, None, "sift_score: expected a number, got text"),
        ({"cadd_phred": True}, None, "cadd_phred: expected a number, got a boolean"),
        ({"vest4_score": [0.5]}, None, "vest4_score: expected a number, got an array"),
        ({"polyphen2_score": float("nan")}, None, "polyphen2_score: nan is not a finite"),
        ({"gerp_rs": float("inf")}, None, "gerp_rs: inf is not a finite"),
        ({"phylop100way": 10**400}, None, "phylop100way: 1000"),
        ({"ea_score": 55}, None, "ea_score: 55 is outside 0-1 (EA_1.0 / 100"),
        ({"sift_score": -0.1}, None, "sift_score: -0.1 is outside 0-1"),
        ({"cadd_phred": -1}, None, "cadd_phred: -1 is outside >= 0"),
        ({"aa_pos": 0}, None, "aa_pos: 0 is outside >= 1"),
        ({"aa_pos": 12.5}, None, "aa_pos: 12.5 is not a whole number"),
        ({"aa_ref": "Arg"}, None, "aa_ref: 'Arg' is not a one-letter amino-acid code"),
        ({"gene": 672}, None, "gene: expected text, got int"),
        ({"gene": "G" * 65}, None, "gene: longer than 64 characters"),
        (None, {"gnomADg": {"afr": {"af": 2}}}, "frequencies.gnomADg.afr.af: 2 is outside 0-1"),
        (None, {"gnomADg": {"afr": {"ac": 5, "an": 3}}}, "ac 5 is larger than an 3"),
        (None, {"gnomADg": {"afr": {"an": -2}}}, "frequencies.gnomADg.afr.an: -2 is outside"),
        (None, {"gnomADg": {"afr": {"ac": 1.5}}}, "afr.ac: 1.5 is not a whole number"),
    ],
)
def test_a_bad_value_is_the_variants_named_error(annotations, frequencies, named: str):
    """One bad SYNTHETIC value: the variant is refused (not scored from the rest), named."""
    inputs = _one({"sift_score": 0.5, **(annotations or {})}, frequencies)
    (record,) = inputs.records
    assert (record.label, record.key, record.error) == (KEY, None, INVALID_ANNOTATION)
    assert named in record.detail
    assert inputs.annotations.empty and inputs.frequencies.empty


def test_every_problem_of_a_variant_is_named_and_the_others_are_kept():
    good = InlineVariant(record_from_key("GRCh37:1:1000:A:G"), {"sift_score": 0.2})
    bad = InlineVariant(
        record_from_key(KEY),
        {"sift_score": "0.2", "mpc_score": -3, "aa_alt": "?"},
        {"gnomADe": {"nfe": {"af": 50}}},
    )
    unkeyed = InlineVariant(record_from_key("GRCh37:1:1000:A:GT"), {"sift_score": 0.2})
    inputs = inline_inputs([good, bad, unkeyed])
    assert [r.error for r in inputs.records] == ["", INVALID_ANNOTATION, "not_snv"]
    detail = inputs.records[1].detail.split("; ")
    assert [item.split(":")[0] for item in detail] == [
        "sift_score",
        "mpc_score",
        "aa_alt",
        "frequencies.gnomADe.nfe.af",
    ]
    assert inputs.annotations["variant"].tolist() == ["GRCh37:1:1000:A:G"]


@pytest.mark.parametrize(
    "annotations,frequencies,named",
    [
        ({"revel_score": 0.9}, None, "annotations.revel_score: not a field vipredict reads"),
        ({"Sift_Score": 0.9}, None, "(did you mean annotations.sift_score?)"),
        (None, {"gnomADg": {"afr": {"hom": 1}}}, "frequencies.gnomADg.afr.hom: not a field"),
        (None, {"gnomADg": {"afr": {"AF": 0.1}}}, "(did you mean frequencies.gnomADg.afr.af?)"),
        (None, {"gnomADg": {"nfe2": {"af": 0.1}}}, "(did you mean frequencies.gnomADg.nfe?)"),
        ({"x" * 500: 1}, None, "annotations." + "x" * 37 + "...: not a field"),
    ],
)
def test_a_name_vipredict_does_not_read_is_the_variants_unknown_field(
    annotations, frequencies, named: str
):
    """A misspelt or unknown name: the variant's ``unknown_field`` naming it (and the name
    probably meant), with its values' problems too; never a value silently ignored."""
    inputs = _one({"sift_score": 5, **(annotations or {})}, frequencies)
    (record,) = inputs.records
    assert (record.label, record.key, record.error) == (KEY, None, UNKNOWN_FIELD)
    assert named in record.detail and len(record.detail) < 200
    assert inputs.annotations.empty and inputs.frequencies.empty


@pytest.mark.parametrize(
    "ref,alt,why", [("R", "r", "synonymous"), ("R", "*", "stop codon"), ("*", "W", "stop codon")]
)
def test_a_protein_change_that_is_not_missense_is_named(ref: str, alt: str, why: str):
    (record,) = _one({"aa_ref": ref, "aa_alt": alt, "sift_score": 0.1}).records
    assert record.error == NOT_MISSENSE and why in record.detail


def test_frequencies_alone_or_nothing_give_a_locus_row():
    """A variant sent with only frequencies (or an empty object) is scored from what was
    sent: a row of its locus, every score missing."""
    inputs = inline_inputs(
        [
            InlineVariant(record_from_key(KEY), None, {"gnomADg": {"all": {"af": 0.2}}}),
            InlineVariant(record_from_key("GRCh37:1:1000:A:G"), {}),
        ]
    )
    table = inputs.annotations
    assert table["variant"].tolist() == [KEY, "GRCh37:1:1000:A:G"]
    assert table[[*CONSERVATION_SCORES, *FUNCTIONAL_SCORES]].isna().all().all()
    assert inputs.frequencies["group"].tolist() == ["all"]


def test_no_variant_gives_empty_typed_tables():
    inputs = inline_inputs([])
    assert inputs.records == [] and inputs.annotations.empty and inputs.frequencies.empty
    assert list(inputs.annotations.columns)[: len(ANNOTATION_COLUMNS)] == list(ANNOTATION_COLUMNS)
    assert str(inputs.annotations["sift_score"].dtype) == "float64"


def test_refusal_names_the_error_without_building_tables():
    fine = InlineVariant(record_from_key(KEY), {"sift_score": 0.1})
    bad = InlineVariant(record_from_key(KEY), {"sift_score": 7})
    unkeyed = InlineVariant(record_from_key("nope"), {"sift_score": 0.1})
    assert refusal(fine) is None
    assert refusal(bad) == inline_inputs([bad]).records[0]
    assert refusal(unkeyed) == record_from_key("nope")


def test_a_key_given_twice_is_refused_in_one_table():
    """One call is one table keyed by variant: repeats are the caller's to split."""
    twice = [InlineVariant(record_from_key(KEY), {"sift_score": s}) for s in (0.1, 0.9)]
    with pytest.raises(ValueError, match="given twice"):
        inline_inputs(twice)


def test_vocabularies_agree_with_the_features():
    """The groups and score names repeated in the io layer are the features' own."""
    assert set(FREQUENCY_GROUPS) == {*ACCEPTED_GROUPS, "all"}
    assert {*CONSERVATION_SCORES, *FUNCTIONAL_SCORES} <= set(ANNOTATION_RULES)
