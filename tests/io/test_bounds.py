"""Hostile records (issue 16): the work one VCF line may cause is bounded before it is done.

Each record past a bound of :mod:`vipredict.io.bounds` is ONE record with a named
error, decided on its raw fields before any per-ALT label or key is made; the other
records of the file are read as usual. Made-up loci: nothing here is looked up.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from memory import allocation_peak

from vipredict import deadline
from vipredict.io.inputs import read_inputs, vcf_text_inputs

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
GOOD = ("1\t50\t.\tC\tT\t.\t.\t.", "2\t200\t.\tA\tG\t.\t.\t.")
GOOD_KEYS = ["GRCh37:1:50:C:T", "GRCh37:2:200:A:G"]
#: A line with a 50 kB REF and 1,000 ALTs (52 kB of text, 100 bytes gzipped): before the
#: bounds the reader made a 50 kB label and a 50 kB error detail for each ALT.
BOMB = f"1\t100\t.\t{'A' * 50_000}\t" + ",".join(["C"] * 1_000) + "\t.\t.\t."
#: Peak allocation allowed while reading a file holding BOMB: the text is 52 kB.
PEAK_BYTES = 2_000_000
CSQ_HEADER = (
    "##fileformat=VCFv4.2\n"
    '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from '
    'Ensembl VEP. Format: Allele|Consequence|SYMBOL|Feature|SIFT">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)


def _vcf(*lines: str, header: str = HEADER) -> str:
    return header + "".join(f"{line}\n" for line in lines)


def _answers(records) -> list[tuple[str, str | None]]:
    return [(r.error, r.key) for r in records]


def test_hostile_one_line_cannot_allocate_per_alt_work():
    """Before the bounds: 1,003 records, 100.6 MB peak, 4.6 s for 52 kB of text.
    Now: the line is one ``too_many_alts`` record and the file's other records are read."""
    text = _vcf(GOOD[0], BOMB, GOOD[1])
    inputs, peak = allocation_peak(lambda: vcf_text_inputs(text))
    assert peak < PEAK_BYTES, f"{peak / 1e6:.1f} MB"
    assert _answers(inputs.records) == [
        ("", GOOD_KEYS[0]),
        ("too_many_alts", None),
        ("", GOOD_KEYS[1]),
    ]
    refused = inputs.records[1]
    assert refused.label == f"line 4: {BOMB[:60]}" and len(refused.label) < 80
    assert "1,000 ALT alleles" in refused.detail and "AAAA" not in refused.detail


LONG = "A" * 1_001


@pytest.mark.parametrize(
    "line,error",
    [
        (f"1\t100\t.\t{LONG}\tC\t.\t.\t.", "allele_too_long"),
        (f"1\t100\t.\tA\tC,{LONG}\t.\t.\t.", "allele_too_long"),
        ("1\t100\t.\tA\t" + ",".join(["C"] * 51) + "\t.\t.\t.", "too_many_alts"),
        (f"{'1' * 65}\t100\t.\tA\tC\t.\t.\t.", "chrom_too_long"),
        (f"1\t{'9' * 13}\t.\tA\tC\t.\t.\t.", "position_too_long"),
    ],
    ids=["ref", "alt", "alts", "chrom", "pos"],
)
def test_hostile_each_bound_names_its_line_once(line: str, error: str):
    """Past a bound the whole line is one record with the bound's name (before: one
    record per ALT, ``not_snv``/``unknown_contig``/``malformed_record``, each echoing
    the field); the records around it are read."""
    records = vcf_text_inputs(_vcf(GOOD[0], line, GOOD[1])).records
    assert _answers(records) == [("", GOOD_KEYS[0]), (error, None), ("", GOOD_KEYS[1])]
    assert len(records[1].label) < 80 and len(records[1].detail) < 80


def test_records_within_the_bounds_keep_their_own_errors():
    """At the bounds a record is answered as before: an MNV or indel is ``not_snv``, each
    of 50 ALTs its own record, a 64-character contig ``unknown_contig``."""
    ref = "A" * 1_000
    lines = [
        f"1\t100\t.\t{ref}\tC\t.\t.\t.",
        "1\t100\t.\tA\t" + ",".join(["C", "G", "T", *(["AC"] * 47)]) + "\t.\t.\t.",
        f"{'1' * 64}\t100\t.\tA\tC\t.\t.\t.",
    ]
    records = vcf_text_inputs(_vcf(*lines)).records
    errors = [r.error for r in records]
    assert errors == ["not_snv", "", "", "", *["not_snv"] * 47, "unknown_contig"]


def _csq_line(pos: int, alts: str, entries: list[str]) -> str:
    return f"1\t{pos}\t.\tA\t{alts}\t.\t.\tCSQ={','.join(entries)}"


def test_hostile_csq_entries_are_bounded_and_split_once_per_record():
    """A VEP VCF: a record with more CSQ entries than the bound gets ``too_many_csq_entries``
    (counted before splitting), an ALT repeated in a record is refused after its first
    mention (both would claim the same entries), and the other records are read."""
    missense = "C|missense_variant|GENE|ENST1|deleterious(0.01)"
    many = [missense] * 5_001
    lines = [
        _csq_line(100, "C", [missense]),
        _csq_line(200, "C", many),
        _csq_line(300, "C,C", [missense]),
    ]
    inputs = vcf_text_inputs(_vcf(*lines, header=CSQ_HEADER))
    assert [r.error for r in inputs.records] == ["", "too_many_csq_entries", "", "malformed_record"]
    assert "5,001 CSQ entries" in inputs.records[1].detail
    assert "listed more than once" in inputs.records[3].detail
    assert inputs.annotations is not None
    assert sorted(inputs.annotations["variant"]) == ["GRCh37:1:100:A:C", "GRCh37:1:300:A:C"]


def test_hostile_a_repeated_alt_does_not_multiply_csq_work():
    """50 copies of one ALT over 2,000 CSQ entries of 1 kB (2 MB of text): before, each
    copy split the whole CSQ value again and kept its own copy of every entry."""
    entry = "C|missense_variant|GENE|ENST" + "1" * 1_000 + "|deleterious(0.01)"
    text = _vcf(_csq_line(100, ",".join(["C"] * 50), [entry] * 2_000), header=CSQ_HEADER)
    inputs, peak = allocation_peak(lambda: vcf_text_inputs(text))
    # before: 158.5 MB; now about 11 MB (the entries' strings and the annotation table)
    assert peak < 20 * len(text), f"{peak / 1e6:.1f} MB for {len(text) / 1e6:.1f} MB of text"
    assert [r.error for r in inputs.records] == ["", *["malformed_record"] * 49]


def test_hostile_a_lone_carriage_return_in_a_file_splits_no_record(tmp_path: Path):
    """Records of a file are split on ``\\n`` only, as uploads are: Python's universal
    newlines used to turn a lone ``\\r`` inside a record into a line break (a stray
    ``malformed_record`` per piece)."""
    vcf = _vcf("1\t100\trs\r1\tC\tT\t.\t.\tNOTE=a\rb", "2\t200\t.\tA\tG\t.\t.\t.\r")
    tsv = "variant\tnote\r\nGRCh37:1:100:C:T\ta\rb\r\nGRCh37:2:200:A:G\tx\r\n"
    for name, text in (("calls.vcf", vcf), ("keys.tsv", tsv)):
        path = tmp_path / name
        path.write_bytes(text.encode())
        assert _answers(read_inputs(path).records) == [
            ("", "GRCh37:1:100:C:T"),
            ("", "GRCh37:2:200:A:G"),
        ], name


def test_reading_stops_once_the_requests_deadline_has_passed():
    """A request's parse loop checks its deadline: past it, reading stops instead of running on
    in the worker thread after the client got its 504 (outside a request nothing is checked)."""
    text = _vcf(*[GOOD[0]] * 2_000)
    assert len(vcf_text_inputs(text).records) == 2_000  # no deadline: read to the end
    with deadline.within(-1.0), pytest.raises(deadline.DeadlineExceeded):
        vcf_text_inputs(text)
    with deadline.within(60.0):
        assert len(vcf_text_inputs(text).records) == 2_000
