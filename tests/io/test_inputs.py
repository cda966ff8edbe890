"""The variants users bring (``vipredict.io.inputs``): format sniffing, one record per variant.

Every entry point (predict, annotate, the service, the queue) turns a request into
:class:`InputRecord` here, so the one SNV rule, the named errors and the labels a
user sees are pinned once, on the real fixture files and on hand-written text.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from vipredict.io.files import open_text
from vipredict.io.inputs import (
    BuildChoice,
    InputRecord,
    build_from_header,
    choose_build,
    detect_format,
    header_lines,
    read_inputs,
    read_vcf_records,
    record_from_key,
    record_from_parts,
    vcf_records,
    vcf_text_inputs,
    vcf_text_records,
)
from vipredict.io.sources import resolve
from vipredict.variants import VariantError, contig_lengths

READERS = Path(__file__).parent / "readers" / "fixtures"
SHARED = Path(__file__).parents[1] / "fixtures"
HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _triples(records: list[InputRecord]) -> list[tuple[str, str | None, str]]:
    return [(r.label, r.key, r.error) for r in records]


# --------------------------------------------------------------------------- detect_format


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clinvar_2020_pathogenic_vcf", "vcf"),  # gzip VCF
        ("clinvar_750_b37_vcf", "vcf"),
        ("vep_dbnsfp_benign", "vep"),
        ("dbnsfp_v23_test", "dbnsfp"),  # gzip dbNSFP
        ("clinvar_750_exac_tsv", "tsv"),
    ],
)
def test_detect_format_on_real_files(name: str, expected: str) -> None:
    assert detect_format(resolve(name)) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (READERS / "vep_missing_and_joined_transcripts.txt", "vep"),
        (READERS / "dbnsfp_v4_semicolon_transcripts.tsv", "dbnsfp"),
        (READERS / "chr_prefixed_contig.vcf", "vcf"),
        (READERS / "multiallelic_record.vcf", "vcf"),
        (READERS / "gnomad_export_without_south_asian.csv", "tsv"),
        (READERS / "gnomad_exomes_duplicate_ac_afr_header.tsv", "tsv"),
        (SHARED / "mixed_records.vcf", "vcf"),
    ],
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_detect_format_on_fixtures(path: Path, expected: str) -> None:
    assert detect_format(path) == expected


def test_detect_format_reads_gzip_by_its_magic_not_its_name(tmp_path: Path) -> None:
    path = tmp_path / "calls.txt"  # gzipped, named like plain text
    path.write_bytes(gzip.compress((SHARED / "mixed_records.vcf").read_bytes()))
    assert detect_format(path) == "vcf"


# --------------------------------------------------------------------------- one record, one rule


@pytest.mark.parametrize(
    ("text", "key", "error"),
    [
        ("GRCh37:1:100:C:T", "GRCh37:1:100:C:T", ""),
        ("hg19:chr1:100:c:t", "GRCh37:1:100:C:T", ""),  # canonical key, label as written
        ("GRCh38-X-5-A-G", "GRCh38:X:5:A:G", ""),
        ("GRCh37:1:100:CA:T", None, "not_snv"),  # a deletion parses, then is refused
        ("GRCh37:1:100:C:CT", None, "not_snv"),
        ("GRCh37:chrUn:100:C:T", None, "unknown_contig"),
        ("hg17:1:100:C:T", None, "unknown_build"),
        ("GRCh37:1:100:C:T,G", None, "multi_allelic"),
        ("GRCh37:1:x:C:T", None, "malformed_record"),
        ("GRCh37:1:100:C:C", None, "malformed_record"),
        ("not a key", None, "malformed_record"),
    ],
)
def test_record_from_key(text: str, key: str | None, error: str) -> None:
    record = record_from_key(text)
    assert (record.label, record.key, record.error) == (text, key, error)
    assert bool(record.detail) == bool(error)  # every error says why


def test_not_snv_is_decided_at_parse_time_and_names_the_variant() -> None:
    by_key = record_from_key("GRCh37:1:100:ca:t")
    by_parts = record_from_parts("hg19", "chr1", 100, "CA", "T")
    assert by_key.key is None and by_parts.key is None
    assert by_key.error == by_parts.error == "not_snv"
    assert by_key.detail == by_parts.detail == (
        "GRCh37:1:100:CA:T is not a single-nucleotide variant"
    )


@pytest.mark.parametrize(
    ("parts", "label", "expected"),
    [
        (("GRCh37", "chr1", 100, "c", "t"), None, ("GRCh37:chr1:100:c:t", "GRCh37:1:100:C:T", "")),
        (("GRCh38", "M", "3243", "A", "G"), "mine", ("mine", "GRCh38:MT:3243:A:G", "")),
        (("GRCh37", None, 100, "C", "T"), None, ("GRCh37::100:C:T", None, "unknown_contig")),
        (("GRCh37", "1", "0", "C", "T"), None, ("GRCh37:1:0:C:T", None, "malformed_record")),
        (("b38", "1", "5", "GA", "G"), None, ("b38:1:5:GA:G", None, "not_snv")),
    ],
)
def test_record_from_parts(
    parts: tuple[object, ...], label: str | None, expected: tuple[str, str | None, str]
) -> None:
    """The label defaults to the parts as given (None as empty); the key is canonical."""
    assert _triples([record_from_parts(*parts, label=label)]) == [expected]


# --------------------------------------------------------------------------- VCF


def test_vcf_records_label_each_allele_and_name_each_error() -> None:
    """mixed_records.vcf: every edge case on its own line (line numbers are the file's)."""
    records = read_vcf_records(SHARED / "mixed_records.vcf")
    assert _triples(records) == [
        ("1:955563:G:C", "GRCh37:1:955563:G:C", ""),
        ("chr1:955563:G:C", "GRCh37:1:955563:G:C", ""),
        ("1:955563:A:C", "GRCh37:1:955563:A:C", ""),  # REF checked against the store later
        ("chrUn_gl000220:1000:A:G", None, "unknown_contig"),
        ("1:955563:GA:G", None, "not_snv"),
        ("1:notanumber:G:C", None, "malformed_record"),
        ("line 10: 1\t955563", None, "malformed_record"),
        ("1:955563:G:C", "GRCh37:1:955563:G:C", ""),  # multi-allelic: one record per ALT
        ("1:955563:G:T", "GRCh37:1:955563:G:T", ""),
        ("1:1:A:G", "GRCh37:1:1:A:G", ""),
        ("1:955563:g:c", "GRCh37:1:955563:G:C", ""),
    ]
    assert records[6].detail == "fewer than 5 VCF columns"


def test_malformed_line_labels_count_every_line_given() -> None:
    lines = ["##fileformat=VCFv4.2", "", "#CHROM\tPOS", "1\t5\t.\tA\tG", "broken", "2"]
    labels = [r.label for r in vcf_records(lines, "GRCh37")]
    assert labels == ["1:5:A:G", "line 5: broken", "line 6: 2"]


def test_a_long_malformed_line_is_labelled_by_its_first_60_characters() -> None:
    line = "1\t" + "x" * 200
    (record,) = vcf_records([line], "GRCh37")
    assert record.label == f"line 1: {line[:60]}"


@pytest.mark.parametrize(
    "breaker",
    ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"],
    ids=lambda c: f"U+{ord(c):04X}",
)
@pytest.mark.parametrize("field", ["ID", "INFO"])
def test_vcf_text_is_split_on_newline_only(breaker: str, field: str) -> None:
    """A character ``str.splitlines`` treats as a line break must not split a record."""
    record_id, info = (f"rs{breaker}1", ".") if field == "ID" else (".", f"NOTE=a{breaker}b")
    text = HEADER + f"1\t100\t{record_id}\tC\tT\t.\t.\t{info}\r\n2\t200\t.\tA\tG\t.\t.\t.\n"
    assert len(text.splitlines()) > 4  # the hazard is real
    assert _triples(vcf_text_records(text, "GRCh37")) == [
        ("1:100:C:T", "GRCh37:1:100:C:T", ""),
        ("2:200:A:G", "GRCh37:2:200:A:G", ""),
    ]


@pytest.mark.parametrize("breaker", ["\x85", "\u2028", "\x0c"], ids=lambda c: f"U+{ord(c):04X}")
def test_a_vcf_file_is_split_on_newline_only(tmp_path: Path, breaker: str) -> None:
    text = HEADER + f"1\t100\trs{breaker}1\tC\tT\t.\t.\tNOTE=a{breaker}b\n"
    path = tmp_path / "calls.vcf"
    path.write_bytes(text.encode())
    assert _triples(read_inputs(path).records) == [("1:100:C:T", "GRCh37:1:100:C:T", "")]


def test_vcf_text_header_names_the_build() -> None:
    text = "##fileformat=VCFv4.2\n##reference=hg38.fa\n" + HEADER.split("\n", 1)[1]
    text += "1\t100\t.\tC\tT\t.\t.\t.\n"
    assert [r.key for r in vcf_text_records(text, "GRCh37")] == ["GRCh38:1:100:C:T"]


@pytest.mark.parametrize(
    ("header", "default", "build"),
    [
        (["##reference=hg38.fa"], "GRCh37", "GRCh38"),
        (["##contig=<ID=1,assembly=b37>"], "GRCh38", "GRCh37"),
        (["##reference=file:///refs/hs37d5.fa"], "GRCh38", "GRCh37"),
        (["##assembly=GRCh38"], "GRCh37", "GRCh38"),
        (["##source=hg38liftover"], "GRCh37", "GRCh37"),  # not a reference line
        ([], "GRCh37", "GRCh37"),
        ([], "hg38", "GRCh38"),  # the default is normalised too
    ],
)
def test_build_is_read_from_the_vcf_header(header: list[str], default: str, build: str) -> None:
    assert build_from_header(header, default) == build


def test_an_unknown_default_build_is_refused() -> None:
    with pytest.raises(VariantError, match="unknown_build"):
        build_from_header([], "hg17")


# --------------------------------------------------------------------------- read_inputs


def test_read_inputs_vcf_plain_and_gzip_alike(tmp_path: Path) -> None:
    plain = read_inputs(READERS / "chr_prefixed_contig.vcf", build="GRCh38")
    assert plain.annotations is None  # looked up in the store
    assert [r.key for r in plain.records] == [
        "GRCh38:7:117559590:G:A", "GRCh38:MT:3243:A:G", "GRCh38:X:1000:T:C",
    ]  # fmt: skip
    zipped = tmp_path / "calls.vcf"  # gzipped under a plain name
    zipped.write_bytes(gzip.compress((READERS / "chr_prefixed_contig.vcf").read_bytes()))
    assert read_inputs(zipped, build="GRCh38").records == plain.records


@pytest.mark.parametrize(
    ("build", "keys"),
    [
        ("GRCh37", ["GRCh37:4:55946200:A:C"]),  # the row without hg19 position is dropped
        ("GRCh38", ["GRCh38:4:55080000:A:C", "GRCh38:1:1000:G:T"]),
    ],
)
def test_read_inputs_dbnsfp_carries_its_annotations(build: str, keys: list[str]) -> None:
    inputs = read_inputs(READERS / "dbnsfp_v4_semicolon_transcripts.tsv", build=build)
    assert _triples(inputs.records) == [(k, k, "") for k in keys]
    assert inputs.annotations is not None
    assert inputs.annotations["variant"].tolist() == keys
    assert inputs.annotations.index.tolist() == list(range(len(keys)))


def test_read_inputs_vep_carries_its_annotations() -> None:
    inputs = read_inputs(READERS / "vep_missing_and_joined_transcripts.txt", build="GRCh38")
    keys = ["GRCh38:1:2406811:C:G", "GRCh38:1:150558055:C:T"]
    assert [r.key for r in inputs.records] == keys
    assert inputs.annotations is not None
    assert inputs.annotations["variant"].tolist() == keys
    assert inputs.annotations["sift_score"].iloc[0] == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("text", "build"),
    [
        ("variant\tnote\nGRCh38:X:5:A:G\tx\nGRCh37:1:100:CA:T\ty\n", "GRCh37"),
        ("Variant,note\nGRCh38:X:5:A:G,x\nGRCh37:1:100:CA:T,y\n", "GRCh37"),  # CSV
        ("GRCh38:X:5:A:G\nGRCh37:1:100:CA:T\n", "GRCh37"),  # bare keys: no header
    ],
    ids=["variant-column", "variant-csv", "bare-keys"],
)
def test_read_inputs_tsv_of_keys(tmp_path: Path, text: str, build: str) -> None:
    inputs = read_inputs(_write(tmp_path / "keys.tsv", text), build=build)
    assert inputs.annotations is None
    assert _triples(inputs.records) == [
        ("GRCh38:X:5:A:G", "GRCh38:X:5:A:G", ""),  # a key names its own build
        ("GRCh37:1:100:CA:T", None, "not_snv"),
    ]


@pytest.mark.parametrize(
    "header",
    [
        "Chrom\tPos\tRef\tAlt\tnote",
        "#CHROM\tPOS\tREF\tALT\tnote",
        "chr\tposition\treference\talternate\tnote",
        "chromosome\tstart\tref\talt\tnote",
        "contig\tpos\tref\talt\tnote",
    ],
)
def test_read_inputs_tsv_of_locus_columns_any_alias(tmp_path: Path, header: str) -> None:
    path = _write(tmp_path / "mine.tsv", f"{header}\nchr1\t100\tc\tt\tx\n1\t5\tGA\tG\ty\n")
    inputs = read_inputs(path, build="hg19")
    assert inputs.annotations is None
    assert _triples(inputs.records) == [
        ("hg19:chr1:100:c:t", "GRCh37:1:100:C:T", ""),
        ("hg19:1:5:GA:G", None, "not_snv"),
    ]


def test_read_inputs_csv_with_a_build_column(tmp_path: Path) -> None:
    text = "assembly,chromosome,position,ref,alt\nGRCh38,X,5,A,G\nhg19,2,7,T,C\nhg17,1,1,A,G\n"
    inputs = read_inputs(_write(tmp_path / "mine.csv", text), build="GRCh37")
    assert _triples(inputs.records) == [
        ("GRCh38:X:5:A:G", "GRCh38:X:5:A:G", ""),
        ("hg19:2:7:T:C", "GRCh37:2:7:T:C", ""),
        ("hg17:1:1:A:G", None, "unknown_build"),
    ]


def test_fmt_overrides_sniffing_and_unknown_formats_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "keys.vcf", "variant\nGRCh37:1:100:C:T\n")
    assert detect_format(path) == "tsv"
    as_vcf = read_inputs(path, fmt="vcf").records  # one-column lines are not VCF records
    assert [(r.label, r.error) for r in as_vcf] == [
        ("line 1: variant", "malformed_record"),
        ("line 2: GRCh37:1:100:C:T", "malformed_record"),
    ]
    assert [r.key for r in read_inputs(path, fmt="tsv").records] == ["GRCh37:1:100:C:T"]
    with pytest.raises(ValueError, match="unknown input format 'bed'"):
        read_inputs(path, fmt="bed")


def test_inputs_keep_input_order_with_repeats(tmp_path: Path) -> None:
    keys = ["GRCh37:2:7:T:C", "GRCh37:1:5:A:G", "junk", "GRCh37:2:7:T:C"]
    inputs = read_inputs(_write(tmp_path / "keys.tsv", "variant\n" + "\n".join(keys) + "\n"))
    assert [r.label for r in inputs.records] == keys
    assert pd.Series([r.key for r in inputs.records]).isna().tolist() == [
        False, False, True, False,
    ]  # fmt: skip


# --------------------------------------------------------------------------- builds (issue 11)

B37_CONTIG_1 = "##contig=<ID=1,length=249250621,assembly=b37>"
HG38_CONTIG_1 = "##contig=<ID=chr1,length=248956422>"


@pytest.mark.parametrize(
    ("header", "requested", "build", "conflict"),
    [
        ([HG38_CONTIG_1], None, "GRCh38", ""),  # lengths alone decide
        ([B37_CONTIG_1, "##reference=hs37d5.fa"], None, "GRCh37", ""),
        (["##contig=<ID=MT,length=16569>"], None, "GRCh37", ""),  # MT: same in both builds
        (["##contig=<ID=chrM,length=16571>"], "GRCh37", "GRCh37", ""),  # UCSC hg19's chrM
        (["##contig=<ID=1,length=248956422,md5=0ab37f>"], None, "GRCh38", ""),  # md5 is no hint
        (['##VEP="v102" assembly="GRCh38.p13"'], None, "GRCh38", ""),
        (["##reference=hg38.fa", B37_CONTIG_1], None, None, "header points to GRCh38"),
        (["##contig=<ID=1,length=248387328>"], None, None, "neither GRCh37's nor GRCh38's"),
        (["##reference=hg38.fa"], "GRCh37", "GRCh37", "build GRCh37 was asked for"),
        (["##reference=hg38.fa"], "hg38", "GRCh38", ""),
        ([], "GRCh38", "GRCh38", ""),
        ([], None, "GRCh37", ""),  # nothing said: GRCh37, as before
    ],
)
def test_choose_build_names_every_conflict(
    header: list[str], requested: str | None, build: str | None, conflict: str
) -> None:
    """SYNTHETIC header lines: names, contig lengths and an explicit build must agree."""
    choice = choose_build(header, requested)
    assert conflict in choice.conflict and bool(choice.conflict) == bool(conflict)
    if build is not None:
        assert choice.build == build


def test_shipped_grch37_lengths_are_those_of_a_real_b37_header() -> None:
    """1000 Genomes' BRCA VCF (hs37d5) declares the GRCh37 primary contigs' lengths."""
    with open_text(resolve("tgp_brca_vcf")) as handle:
        header = header_lines(handle)
    declared = {}
    for line in header:
        if line.startswith("##contig=<ID="):
            fields = dict(item.split("=", 1) for item in line[10:-1].split(","))
            if fields["ID"] in contig_lengths("GRCh37"):
                declared[fields["ID"]] = int(fields["length"])
    assert len(declared) >= 22
    assert declared == {k: v for k, v in contig_lengths("GRCh37").items() if k in declared}
    assert choose_build(header) == BuildChoice("GRCh37")


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("GRCh37:1:249250621:A:G", ""),  # the last base of chr1
        ("GRCh37:1:249250622:A:G", "position_out_of_range"),
        ("GRCh38:1:249250621:A:G", "position_out_of_range"),  # GRCh38's chr1 is shorter
        ("GRCh38:Y:57227415:A:G", ""),
        ("GRCh37:MT:16570:A:G", "position_out_of_range"),
    ],
)
def test_a_position_past_the_chromosome_end_is_named(key: str, error: str) -> None:
    record = record_from_key(key)
    assert record.error == error
    assert (record.key is None) == bool(error)


def test_a_plain_vcf_under_a_build_conflict_keys_nothing() -> None:
    """SYNTHETIC: a header naming hg38 with b37 contig lengths; a malformed line and an
    indel keep their own reasons (true under any build)."""
    text = (
        f"##fileformat=VCFv4.2\n##reference=hg38.fa\n{B37_CONTIG_1}\n" + HEADER.split("\n", 1)[1]
    )
    text += "1\t100\t.\tC\tT\t.\t.\t.\n1\t5\t.\tGA\tG\t.\t.\t.\n1\n1\t300000000\t.\tA\tG\t.\t.\t.\n"
    records = vcf_text_records(text, "GRCh37")
    assert [(r.label, r.error) for r in records] == [
        ("1:100:C:T", "build_conflict"),
        ("1:5:GA:G", "not_snv"),
        ("line 7: 1", "malformed_record"),  # the file's own line number
        ("1:300000000:A:G", "build_conflict"),
    ]
    assert "GRCh38 (##reference=hg38.fa)" in records[0].detail
    assert vcf_text_inputs(text).records == records
    assert vcf_text_inputs(text).annotations is None


def test_an_explicit_build_must_agree_with_the_vcf_header(tmp_path: Path) -> None:
    text = "##fileformat=VCFv4.2\n##reference=GRCh38\n" + HEADER.split("\n", 1)[1]
    path = _write(tmp_path / "calls.vcf", text + "1\t100\t.\tC\tT\t.\t.\t.\n")
    assert [r.key for r in read_inputs(path).records] == ["GRCh38:1:100:C:T"]
    assert [r.key for r in read_inputs(path, build="hg38").records] == ["GRCh38:1:100:C:T"]
    assert [r.error for r in read_inputs(path, build="GRCh37").records] == ["build_conflict"]
    with pytest.raises(VariantError, match="unknown_build"):
        read_inputs(path, build="hg17")


CSQ_LINE = (
    '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl '
    'VEP. Format: Allele|Consequence|SIFT|PolyPhen|CADD_phred|gnomADe_AF">'
)


def test_a_vcf_declaring_csq_is_read_from_its_annotations(tmp_path: Path) -> None:
    """SYNTHETIC: the CSQ line after 300 contig lines (past the 200 sniffed) is still seen;
    ``--format vcf`` keeps the store look-up, ``--format csq`` on a plain VCF names why not."""
    contigs = [f"##contig=<ID=GL{i}.1,length={1000 + i}>" for i in range(300)]
    header = "\n".join(["##fileformat=VCFv4.2", *contigs, CSQ_LINE]) + "\n"
    body = "1\t100\t.\tC\tT\t.\t.\tCSQ=T|missense_variant|0.02|0.9|23.1|1e-05\n"
    path = _write(tmp_path / "vep.vcf", header + HEADER.split("\n", 1)[1] + body)
    assert detect_format(path) == "csq"
    inputs = read_inputs(path)
    assert _triples(inputs.records) == [("1:100:C:T", "GRCh37:1:100:C:T", "")]
    assert inputs.annotations is not None and inputs.frequencies is not None
    assert inputs.annotations["cadd_phred"].tolist() == [23.1]
    assert inputs.frequencies[["dataset", "group", "af"]].values.tolist() == [
        ["gnomADe", "all", 1e-05]
    ]
    looked_up = read_inputs(path, fmt="vcf")
    assert looked_up.annotations is None and looked_up.records == inputs.records
    plain = _write(tmp_path / "plain.vcf", HEADER + "1\t100\t.\tC\tT\t.\t.\t.\n")
    assert [r.error for r in read_inputs(plain, fmt="csq").records] == ["missing_csq_fields"]
    assert vcf_text_inputs(path.read_text()).annotations.equals(inputs.annotations)
