"""VEP VCF (``CSQ``) reader: the real DITTO VEP VCF, and the parser's edge cases.

The real file (``ditto_vep_vcf``: Ensembl VEP v102, GRCh38, RefSeq, dbNSFP and
gnomAD v3 fields) pins what a pipeline's output gives: every missense SNV an
annotation row, every other record a named error. Its expected counts are taken
from the raw text here, independently of the reader.

The edge cases use SYNTHETIC VCF lines (made-up loci and scores, real VEP field
names): reordered and unknown fields, a header without the fields a model needs,
non-numeric scores, entries of another allele, the transcript rule, build
conflicts, a contig the build lacks and a position past a chromosome's end.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence

import pandas as pd
import pytest

from vipredict.io.inputs import InputRecord, Inputs, detect_format, read_csq_vcf
from vipredict.io.readers.csq import CsqFormat, csq_format, parse_entries
from vipredict.io.sources import resolve
from vipredict.variants import contig_lengths

CSQ_ERRORS = {
    "not_snv",
    "not_missense",
    "allele_not_in_csq",
    "csq_missing",
    "csq_malformed",
    "ref_mismatch",
    "unknown_contig",
    "malformed_record",
}
FIELDS = (
    "Allele", "Consequence", "SYMBOL", "Feature", "CANONICAL", "MANE_SELECT", "PICK",
    "Amino_acids", "Protein_position", "SIFT", "PolyPhen", "FATHMM_score", "VEST4_score",
    "CADD_phred", "GERP++_RS", "gnomADe_AF", "gnomADe_AFR_AF", "gnomADv3_AF_nfe",
    "gnomADv3_AF_nfe_female",
)  # fmt: skip
MISSENSE = {
    "Allele": "G", "Consequence": "missense_variant", "SYMBOL": "GENE1", "Feature": "NM_1.1",
    "Amino_acids": "K/E", "Protein_position": "42", "SIFT": "deleterious(0.01)",
    "PolyPhen": "probably_damaging(0.98)", "FATHMM_score": "-2.5&-1.0", "VEST4_score": "0.4&0.7",
    "CADD_phred": "25.1", "GERP++_RS": "5.2", "gnomADe_AF": "0.001", "gnomADe_AFR_AF": "0.004",
    "gnomADv3_AF_nfe": "2e-05", "gnomADv3_AF_nfe_female": "0.5",
}  # fmt: skip
GRCH38_CONTIG_1 = "##contig=<ID=chr1,length=248956422>"
GRCH37_CONTIG_1 = "##contig=<ID=1,length=249250621>"


def csq_header(fields: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    return [
        "##fileformat=VCFv4.2",
        *extra,
        '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from '
        f'Ensembl VEP. Format: {"|".join(fields)}">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]


def entry(fields: Sequence[str], **values: str) -> str:
    return "|".join(values.get(f, "") for f in fields)


def line(chrom: str, pos: int, ref: str, alt: str, entries: Sequence[str] | None) -> str:
    info = "DP=10" if entries is None else "DP=10;CSQ=" + ",".join(entries)
    return "\t".join([chrom, str(pos), ".", ref, alt, ".", "PASS", info])


def vcf(header: Sequence[str], body: Sequence[str]) -> str:
    return "\n".join([*header, *body]) + "\n"


def errors(inputs: Inputs) -> list[tuple[str, str]]:
    return [(r.label, r.error) for r in inputs.records]


def one_missense(
    fields: Sequence[str] = FIELDS, values: Mapping[str, str] = MISSENSE, extra: Sequence[str] = ()
) -> Inputs:
    return read_csq_vcf(
        vcf(csq_header(fields, extra), [line("1", 100, "A", "G", [entry(fields, **values)])])
    )


# --------------------------------------------------------------------------- the header


def test_csq_format_reads_the_field_names_of_the_header() -> None:
    fmt = csq_format(csq_header(["Allele", "Consequence", "SIFT"]))
    assert fmt == CsqFormat(("Allele", "Consequence", "SIFT"))
    assert csq_format(["##fileformat=VCFv4.2", '##INFO=<ID=DP,Number=1,Description="x">']) is None


def test_an_entry_with_another_field_count_makes_the_record_unreadable() -> None:
    fmt = CsqFormat(("Allele", "Consequence"))
    assert parse_entries("G|missense_variant,T|intron_variant", fmt) == [
        ("G", "missense_variant"), ("T", "intron_variant"),
    ]  # fmt: skip
    assert parse_entries("G|missense_variant,T|intron_variant|x", fmt) is None


# --------------------------------------------------------------------------- one allele


def test_a_missense_snv_is_read_into_the_canonical_table() -> None:
    """SYNTHETIC: name(score) text, ``&``-joined dbNSFP values (most damaging), gnomAD fields."""
    inputs = one_missense()
    assert errors(inputs) == [("1:100:A:G", "")]
    assert inputs.records[0].key == "GRCh37:1:100:A:G"  # no header hint: GRCh37
    assert inputs.annotations is not None
    row = inputs.annotations.iloc[0]
    assert (row["variant"], row["gene"], row["aa_ref"], row["aa_pos"], row["aa_alt"]) == (
        "GRCh37:1:100:A:G", "GENE1", "K", 42, "E",
    )  # fmt: skip
    assert row["sift_score"] == pytest.approx(0.01)
    assert row["polyphen2_score"] == pytest.approx(0.98)
    # Several dbNSFP values in one entry: the first listed (io.readers._values.MULTI_VALUE_RULE).
    assert row["fathmm_score"] == pytest.approx(-2.5)
    assert row["vest4_score"] == pytest.approx(0.4)
    assert row["cadd_phred"] == pytest.approx(25.1)
    assert row["gerp_rs"] == pytest.approx(5.2)
    assert row["transcript"] == "NM_1.1" and row["consequence"] == "missense_variant"
    # Plain absence is the scorer's to name (against the profile that scored it).
    assert "mutpred2_score" not in row["annotation_warnings"]
    assert "sift_score" not in row["annotation_warnings"]


def test_gnomad_fields_become_the_long_frequency_table() -> None:
    """SYNTHETIC: VEP's gnomADe_AF / gnomADe_AFR_AF and a custom gnomADv3_AF_nfe; the
    _female sub-field is no group; an empty field gives no row."""
    inputs = one_missense(values={**MISSENSE, "gnomADe_AFR_AF": ""})
    assert inputs.frequencies is not None
    table = inputs.frequencies.sort_values(["dataset", "group"]).reset_index(drop=True)
    assert table[["variant", "dataset", "group"]].values.tolist() == [
        ["GRCh37:1:100:A:G", "gnomADe", "all"],
        ["GRCh37:1:100:A:G", "gnomADv3", "nfe"],
    ]
    assert table["af"].tolist() == pytest.approx([0.001, 2e-05])
    assert table[["ac", "an"]].isna().all().all()  # not given: unknown, not zero


def test_fields_are_read_by_name_in_any_order_and_unknown_fields_are_ignored() -> None:
    """SYNTHETIC: the same record under reversed fields, and with fields vipredict does not know."""
    original = one_missense()
    reversed_fields = tuple(reversed(FIELDS))
    unknown = ("LoF", *FIELDS[:5], "MyTool_score", *FIELDS[5:], "Extra")
    junk = {"LoF": "HC", "MyTool_score": "not a number", "Extra": "x"}
    for fields in (reversed_fields, unknown):
        again = one_missense(fields=fields, values={**MISSENSE, **junk})
        assert errors(again) == errors(original)
        pd.testing.assert_frame_equal(again.annotations, original.annotations)
        pd.testing.assert_frame_equal(again.frequencies, original.frequencies)


def test_a_header_without_the_fields_a_model_needs_names_every_snv() -> None:
    """SYNTHETIC: a CSQ with consequences but no score; the indel keeps its own reason."""
    fields = ("Allele", "Consequence", "IMPACT", "SYMBOL")
    body = [
        line("1", 100, "A", "G", [entry(fields, Allele="G", Consequence="missense_variant")]),
        line("1", 200, "AT", "A", [entry(fields, Allele="-", Consequence="frameshift_variant")]),
        line("2", 300, "C", "T", [entry(fields, Allele="T", Consequence="missense_variant")]),
    ]
    inputs = read_csq_vcf(vcf(csq_header(fields), body))
    assert errors(inputs) == [
        ("1:100:A:G", "missing_csq_fields"),
        ("1:200:AT:A", "not_snv"),
        ("2:300:C:T", "missing_csq_fields"),
    ]
    assert "any score a model reads" in inputs.records[0].detail
    assert inputs.annotations is not None and inputs.annotations.empty


def test_non_numeric_scores_are_left_missing_with_a_warning() -> None:
    """SYNTHETIC: a word for FATHMM, a bad token among VEST4's values, SIFT without a number."""
    inputs = one_missense(
        values={
            **MISSENSE,
            "FATHMM_score": "high",
            "VEST4_score": "0.3&oops",
            "SIFT": "deleterious",
        }
    )
    assert errors(inputs) == [("1:100:A:G", "")]  # the variant is kept
    row = inputs.annotations.iloc[0]
    assert pd.isna(row["fathmm_score"]) and pd.isna(row["sift_score"])
    assert row["vest4_score"] == pytest.approx(0.3)
    warnings = row["annotation_warnings"].split("; ")
    assert "fathmm_score: non-numeric FATHMM_score value 'high' ignored" in warnings
    assert "vest4_score: non-numeric VEST4_score value 'oops' ignored" in warnings
    assert "sift_score: non-numeric SIFT value 'deleterious' ignored" in warnings
    assert row["polyphen2_score"] == pytest.approx(0.98)


def test_other_quantities_are_never_substituted() -> None:
    """SYNTHETIC: PolyPhen-2 HDIV is not HumVar, dbNSFP MutPred_score is MutPred v1."""
    fields = (*FIELDS, "Polyphen2_HDIV_score", "Polyphen2_HVAR_score", "MutPred_score")
    values = {**MISSENSE, "PolyPhen": "", "Polyphen2_HDIV_score": "0.99", "MutPred_score": "0.8"}
    row = one_missense(fields=fields, values=values).annotations.iloc[0]
    assert pd.isna(row["polyphen2_score"]) and pd.isna(row["mutpred2_score"])
    warnings = row["annotation_warnings"].split("; ")
    assert (
        "polyphen2_score: only Polyphen2_HDIV_score given (training used HumVar), left missing"
        in warnings
    )
    assert "mutpred2_score: MutPred_score is MutPred v1, not MutPred2, left missing" in warnings
    humvar = one_missense(fields=fields, values={**values, "Polyphen2_HVAR_score": "0.61&0.7"})
    assert humvar.annotations.iloc[0]["polyphen2_score"] == pytest.approx(0.61)  # first listed


# --------------------------------------------------------------------------- entries and alleles


@pytest.mark.parametrize(
    ("marks", "chosen"),
    [
        ({"NM_B": {"CANONICAL": "YES"}, "NM_C": {"MANE_SELECT": "NM_C.1"}}, "NM_C"),
        ({"NM_B": {"CANONICAL": "YES"}, "NM_C": {"PICK": "1"}}, "NM_B"),
        ({"NM_C": {"PICK": "1"}}, "NM_C"),
        ({}, "NM_A"),  # first listed
        ({"NM_X": {"MANE_SELECT": "NM_X.1", "PICK": "1"}}, "NM_A"),  # not missense: never chosen
    ],
)
def test_one_missense_entry_by_the_transcript_rule(marks: dict, chosen: str) -> None:
    """SYNTHETIC: MANE Select > canonical > VEP's pick > first listed, among missense entries."""
    sift = {"NM_X": "0.9", "NM_A": "0.3", "NM_B": "0.2", "NM_C": "0.1"}
    entries = [
        entry(
            FIELDS,
            **{
                **MISSENSE,
                "Feature": name,
                "SIFT": sift[name],
                **({"Consequence": "intron_variant"} if name == "NM_X" else {}),
                **marks.get(name, {}),
            },
        )
        for name in ("NM_X", "NM_A", "NM_B", "NM_C")
    ]
    inputs = read_csq_vcf(vcf(csq_header(FIELDS), [line("1", 100, "A", "G", entries)]))
    row = inputs.annotations.iloc[0]
    assert row["transcript"] == chosen
    assert row["sift_score"] == pytest.approx(float(sift[chosen]))


def test_each_alt_reads_its_own_entries() -> None:
    """SYNTHETIC multi-allelic records: by Allele, by ALLELE_NUM, and with an indel ALT."""
    by_allele = line(
        "1", 100, "A", "G,T",
        [
            entry(FIELDS, **{**MISSENSE, "Allele": "T", "Consequence": "synonymous_variant"}),
            entry(FIELDS, **{**MISSENSE, "SIFT": "0.05"}),
        ],
    )  # fmt: skip
    numbered_fields = (*FIELDS, "ALLELE_NUM")
    by_number = line(
        "1", 200, "C", "A,G",
        [  # Allele says G for both: ALLELE_NUM decides
            entry(numbered_fields, **{**MISSENSE, "ALLELE_NUM": "2", "SIFT": "0.2"}),
            entry(numbered_fields, **{**MISSENSE, "ALLELE_NUM": "1", "SIFT": "0.1"}),
        ],
    )  # fmt: skip
    with_indel = line("1", 300, "A", "G,AT", [entry(FIELDS, **MISSENSE)])
    first = read_csq_vcf(vcf(csq_header(FIELDS), [by_allele, with_indel]))
    assert errors(first) == [
        ("1:100:A:G", ""), ("1:100:A:T", "not_missense"),
        ("1:300:A:G", ""), ("1:300:A:AT", "not_snv"),
    ]  # fmt: skip
    assert first.annotations.set_index("variant")["sift_score"].to_dict() == pytest.approx(
        {"GRCh37:1:100:A:G": 0.05, "GRCh37:1:300:A:G": 0.01}
    )
    second = read_csq_vcf(vcf(csq_header(numbered_fields), [by_number]))
    assert errors(second) == [("1:200:C:A", ""), ("1:200:C:G", "")]
    assert second.annotations["sift_score"].tolist() == pytest.approx([0.1, 0.2])


def test_records_without_their_own_entries_are_named_and_the_file_is_kept() -> None:
    """SYNTHETIC: no CSQ, a malformed CSQ, entries for another allele only, no missense
    entry, a REF VEP's reference disagrees with; the good record after them is read."""
    fields = (*FIELDS, "GIVEN_REF", "USED_REF")
    good = entry(fields, **MISSENSE)
    body = [
        line("1", 100, "A", "G", None),
        line("1", 200, "A", "G", [good + "|extra"]),
        line("1", 300, "A", "G", [entry(fields, **{**MISSENSE, "Allele": "T"})]),
        line("1", 400, "A", "G", [entry(fields, **{**MISSENSE, "Consequence": "intron_variant"})]),
        line("1", 500, "A", "G", [entry(fields, **MISSENSE, GIVEN_REF="A", USED_REF="C")]),
        line("1", 600, "A", "G", [good]),
    ]
    inputs = read_csq_vcf(vcf(csq_header(fields), body))
    assert errors(inputs) == [
        ("1:100:A:G", "csq_missing"),
        ("1:200:A:G", "csq_malformed"),
        ("1:300:A:G", "allele_not_in_csq"),
        ("1:400:A:G", "not_missense"),
        ("1:500:A:G", "ref_mismatch"),
        ("1:600:A:G", ""),
    ]
    assert all(r.detail for r in inputs.records[:5])  # each error says why
    assert inputs.records[3].detail == "no missense consequence in CSQ (intron_variant)"
    assert inputs.annotations["variant"].tolist() == ["GRCh37:1:600:A:G"]


# --------------------------------------------------------------------------- builds


@pytest.mark.parametrize(
    ("extra", "build", "expected"),
    [
        (["##reference=hg38.fa", GRCH38_CONTIG_1], None, ("GRCh38:1:100:A:G", "")),
        (["##reference=hg38.fa", GRCH37_CONTIG_1], None, (None, "build_conflict")),
        (["##reference=hg38.fa"], "GRCh37", (None, "build_conflict")),
        ([GRCH37_CONTIG_1], "GRCh38", (None, "build_conflict")),
        ([GRCH37_CONTIG_1], "hg19", ("GRCh37:1:100:A:G", "")),
        (["##contig=<ID=1,length=1000>"], None, (None, "build_conflict")),  # no known build
    ],
)
def test_the_build_comes_from_the_header_and_conflicts_are_named(
    extra: list[str], build: str | None, expected: tuple[str | None, str]
) -> None:
    """SYNTHETIC headers: hints, contig lengths and an explicit build must agree."""
    text = vcf(csq_header(FIELDS, extra), [line("1", 100, "A", "G", [entry(FIELDS, **MISSENSE)])])
    (record,) = read_csq_vcf(text, build).records
    assert (record.key, record.error) == expected
    if record.error:
        assert "header" in record.detail


def test_a_contig_the_build_lacks_and_a_position_past_its_end_keep_the_rest() -> None:
    """SYNTHETIC: chrUn and chr1:300,000,000 on GRCh38 among two good records."""
    good = [entry(FIELDS, **MISSENSE)]
    body = [
        line("chr1", 100, "A", "G", good),
        line("chrUn_KI270742v1", 100, "A", "G", good),
        line("chr1", 300_000_000, "A", "G", good),
        line("chr1", 248_956_422, "A", "G", good),  # the last base of chr1
    ]
    inputs = read_csq_vcf(vcf(csq_header(FIELDS, ["##reference=GRCh38"]), body))
    assert errors(inputs) == [
        ("chr1:100:A:G", ""),
        ("chrUn_KI270742v1:100:A:G", "unknown_contig"),
        ("chr1:300000000:A:G", "position_out_of_range"),
        ("chr1:248956422:A:G", ""),
    ]
    assert "248,956,422 bp" in inputs.records[2].detail


# --------------------------------------------------------------------------- the real VEP VCF


def _raw_records(text: str) -> list[tuple[str, str, str, str, str]]:
    """(chrom, pos, ref, alt, INFO) per ALT of the file, read without the reader."""
    out = []
    for raw in text.split("\n"):
        if raw and not raw.startswith("#"):
            chrom, pos, _id, ref, alts, _q, _f, info = raw.split("\t")[:8]
            out.extend((chrom, pos, ref, alt, info) for alt in alts.split(","))
    return out


def _is_missense_snv(ref: str, alt: str, info: str, fields: list[str]) -> bool:
    if len(ref) != 1 or len(alt) != 1:
        return False
    csq = next(item[4:] for item in info.split(";") if item.startswith("CSQ="))
    for text in csq.split(","):
        values = dict(zip(fields, text.split("|"), strict=True))
        if values["Allele"] == alt and "missense_variant" in values["Consequence"].split("&"):
            return True
    return False


@pytest.fixture(scope="module")
def ditto_text() -> str:
    with gzip.open(resolve("ditto_vep_vcf"), "rt") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def ditto(ditto_text: str) -> Inputs:
    return read_csq_vcf(resolve("ditto_vep_vcf"))


def test_real_vep_vcf_every_missense_snv_is_annotated_and_every_other_record_named(
    ditto_text: str, ditto: Inputs
) -> None:
    header = [raw for raw in ditto_text.split("\n") if raw.startswith("##INFO=<ID=CSQ")]
    fields = header[0].split("Format: ")[1].rstrip('">').split("|")
    raw = _raw_records(ditto_text)
    missense = {
        f"GRCh38:{c}:{p}:{r}:{a}"
        for c, p, r, a, info in raw
        if _is_missense_snv(r, a, info, fields)
    }
    assert len(raw) == 207 and 55 <= len(missense) <= 65  # the mirror README: about 60
    assert detect_format(resolve("ditto_vep_vcf")) == "csq"
    assert [r.label for r in ditto.records] == [f"{c}:{p}:{r}:{a}" for c, p, r, a, _ in raw]
    assert ditto.annotations is not None
    assert set(ditto.annotations["variant"]) == missense
    assert {r.key for r in ditto.records if not r.error} == missense
    assert all(r.error in CSQ_ERRORS and r.detail for r in ditto.records if r.key is None)
    snvs = sum(len(r) == 1 and len(a) == 1 for _c, _p, r, a, _i in raw)
    assert sum(r.error == "not_snv" for r in ditto.records) == len(raw) - snvs


def test_real_vep_vcf_values_of_a_known_record(ditto: Inputs) -> None:
    # DITTO line 1:26438228 A>G, first CSQ entry (NM_001243564.1, missense, listed first
    # of two missense RefSeq transcripts): SIFT 0, PolyPhen 0.983 (the second: 0.999),
    # CADD_phred 24.9, FATHMM -1.08, GERP++ 5.72, VEST4 0.633, phyloP100way 9.29,
    # gnomADv3 AC 21 / AN 143366 / AF 1.46478e-04, AF_afr 2.37676e-05, AF_ami 0.
    row = ditto.annotations.set_index("variant").loc["GRCh38:1:26438228:A:G"]
    assert (row["gene"], row["transcript"], row["aa_ref"], row["aa_pos"], row["aa_alt"]) == (
        "DHDDS", "NM_001243564.1", "K", 42, "E",
    )  # fmt: skip
    expected = {
        "sift_score": 0.0, "polyphen2_score": 0.983, "cadd_phred": 24.9, "fathmm_score": -1.08,
        "gerp_rs": 5.72, "vest4_score": 0.633, "phylop100way": 9.29,
    }  # fmt: skip
    assert row[list(expected)].astype(float).to_dict() == pytest.approx(expected)
    freq = ditto.frequencies[ditto.frequencies["variant"] == "GRCh38:1:26438228:A:G"]
    by_group = freq.set_index("group")
    assert set(freq["dataset"]) == {"gnomADv3"}
    assert by_group.loc["all", ["ac", "an", "af"]].tolist() == pytest.approx(
        [21, 143366, 1.46478e-04]
    )
    assert by_group.loc["afr", "af"] == pytest.approx(2.37676e-05)
    assert by_group.loc["ami", "af"] == 0.0  # observed zero is kept, not unknown
    assert set(freq["group"]) == {
        "all", "afr", "ami", "amr", "asj", "eas", "fin", "nfe", "oth", "sas",
    }  # fmt: skip


def test_real_vep_vcf_build_is_grch38_and_an_explicit_grch37_is_a_conflict(
    ditto_text: str, ditto: Inputs
) -> None:
    assert all(r.key.startswith("GRCh38:") for r in ditto.records if r.key)
    declared = {}  # the file's primary contigs: the shipped GRCh38 lengths, all 25
    for raw in ditto_text.split("\n"):
        if raw.startswith("##contig=<ID="):
            name, length = raw[len("##contig=<ID=") :].split(",")[:2]
            if "_" not in name:
                declared["MT" if name == "M" else name] = int(length.removeprefix("length="))
    assert declared == contig_lengths("GRCh38")
    conflicted = read_csq_vcf(resolve("ditto_vep_vcf"), "GRCh37")
    keyed = [old for old in ditto.records if old.error != "not_snv"]
    assert len(keyed) > 100
    assert {r.error for r in conflicted.records if r.label in {k.label for k in keyed}} == {
        "build_conflict"
    }
    assert all(
        isinstance(r, InputRecord) and r.error == "not_snv"
        for r in conflicted.records
        if r.label not in {k.label for k in keyed}
    )
