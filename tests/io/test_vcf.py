"""The one VCF writer (``vipredict.io.vcf``): numbers, INFO text, header, BGZF output.

``vipredict annotate``, ``POST /predict/vcf`` and the queue export all write
through this module, so its pieces are pinned here on hand-written lines; the
annotate job's tests cover the whole path on a store.
"""

from __future__ import annotations

import gzip
import math
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pysam
import pytest

from vipredict.io import vcf
from vipredict.io.files import is_gzip, is_plain_gzip
from vipredict.io.vcf import (
    VIP_INFO_HEADERS,
    AlleleResults,
    InfoWriter,
    annotated_header,
    body_blocks,
    join_present,
    number_text,
    read_header,
    render_info,
    significant_text,
    split_fields,
    text_bytes,
    vcf_writer,
)

CHROM_LINE = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
GERP = '##INFO=<ID=VIP_gerp_rs,Number=A,Type=Float,Description="gerp">'


# --------------------------------------------------------------------------- numbers


#: Hand values: store-like decimals, exponents, signs, and 7-digit halves whose
#: stored double lies just above (298.7305) or just below (0.02568055) the half.
HAND_VALUES = [
    0.018572, 1e-5, 1e-7, 123456789.0, -0.0001234567, 1 / 3, 0.1 + 0.2, 12.5, -7.0, 0.0,
    16.34, 3.705, 0.0917925531154, -2.29, 999999.5, 9.999995, 1e22, 2.5e-17,
    298.7305, 0.02568055, 0.7262595, 56184.05, -1.433695, 0.0006339055,
]  # fmt: skip


def _assert_reads_back_as_g6(values: np.ndarray) -> None:
    texts = significant_text(values).to_pylist()
    assert len(texts) == len(values)
    for value, text in zip(values, texts, strict=True):
        if math.isnan(value):
            assert text is None
        else:
            assert float(text) == float(f"{value:.6g}"), (value, text, f"{value:.6g}")


def test_significant_text_reads_back_as_six_significant_digits() -> None:
    _assert_reads_back_as_g6(np.array([*HAND_VALUES, math.nan, math.inf, -math.inf]))


def test_significant_text_prints_the_shortest_text() -> None:
    texts = significant_text(np.array([0.018572, 1 / 3, 123456789.0, -7.0, 298.7305, math.nan]))
    assert texts.to_pylist() == ["0.018572", "0.333333", "123457000", "-7", "298.731", None]


@pytest.mark.parametrize("seed", [0, 1])
def test_significant_text_on_many_magnitudes_and_halves(seed: int) -> None:
    """Random values over the documented range (1e-17..1e22), and exact 7-digit halves."""
    rng = np.random.default_rng(seed)
    sign = rng.choice([-1.0, 1.0], 4_000)
    spread = sign * rng.uniform(0.1, 1, 4_000) * 10.0 ** rng.integers(-16, 23, 4_000)
    halves = (rng.integers(100_000, 999_999, 4_000) * 10 + 5) * 10.0 ** rng.integers(-12, 8, 4_000)
    _assert_reads_back_as_g6(np.concatenate([spread, halves, -halves]))


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.018572, "0.018572"), (1 / 3, "0.333333"), (-2.0, "-2"), (math.nan, "."), (1e-5, "0.00001")],
)
def test_number_text(value: float, text: str) -> None:
    assert number_text(value) == text


# --------------------------------------------------------------------------- INFO text


def test_join_present_keeps_rows_with_nothing_to_join() -> None:
    """pyarrow 25 drops all-null rows from binary_join_element_wise(null_handling="skip")."""
    left = pa.array(["a", None, None, "d"])
    right = pa.array(["b", None, "c", None])
    assert join_present([left, right], ";").to_pylist() == ["a;b", None, "c", "d"]
    assert join_present([left[1:3], right[1:2].take([0, 0])], ";").to_pylist() == [None, None]
    assert join_present([pa.array(["x", "y"]), pa.array(["1", "2"])], "=").to_pylist() == [
        "x=1", "y=2",
    ]  # fmt: skip


def test_render_info_leaves_missing_values_out() -> None:
    values = {"gerp_rs": pa.array([1.5, None, None]), "sift_score": pa.array([1 / 3, 0.2, None])}
    assert render_info(values).to_pylist() == [
        "VIP_gerp_rs=1.5;VIP_sift_score=0.333333", "VIP_sift_score=0.2", None,
    ]  # fmt: skip
    rows = pa.array([2, 0, 0])
    assert render_info(values, rows).to_pylist() == [
        None, "VIP_gerp_rs=1.5;VIP_sift_score=0.333333", "VIP_gerp_rs=1.5;VIP_sift_score=0.333333",
    ]  # fmt: skip
    sliced = render_info(values, pa.array([0, 1, 2, 1]), slice_rows=3)  # slices join seamlessly
    assert sliced.to_pylist()[3] == "VIP_sift_score=0.2"


# --------------------------------------------------------------------------- header


def test_annotated_header_declares_ours_before_chrom_and_drops_earlier_copies() -> None:
    old_err = '##INFO=<ID=VIP_ERR,Number=1,Type=String,Description="old">'
    depth = '##INFO=<ID=DP,Number=1,Type=Integer,Description="d">'
    lines = ["##fileformat=VCFv4.2", old_err, depth, CHROM_LINE + "\tFORMAT\tS1"]
    out = annotated_header(lines, [GERP, *VIP_INFO_HEADERS])
    assert out == [lines[0], lines[2], GERP, *VIP_INFO_HEADERS, lines[3]]


def test_annotated_header_without_a_chrom_line_gets_the_fixed_columns() -> None:
    out = annotated_header(["##fileformat=VCFv4.2"], [GERP])
    assert out == ["##fileformat=VCFv4.2", GERP, CHROM_LINE]


@pytest.mark.parametrize(
    ("scored", "results"),
    [(True, list(VIP_INFO_HEADERS)), (False, [h for h in VIP_INFO_HEADERS if "VIP_ERR" in h])],
)
def test_info_writer_header_declares_features_then_results(
    scored: bool, results: list[str]
) -> None:
    writer = InfoWriter(["gerp_rs"], scored=scored)
    lines = ["##fileformat=VCFv4.2", CHROM_LINE]
    assert writer.header(lines, {"gerp_rs": GERP, "other": "##unused"}) == [
        lines[0], GERP, *results, CHROM_LINE,
    ]  # fmt: skip


# --------------------------------------------------------------------------- InfoWriter on lines


def _results(
    score: list[float],
    post: list[float],
    evidence: list[str],
    error: list[str],
    mis_prd: list[float],
):
    return AlleleResults(
        np.array(score, dtype=float),
        np.array(post, dtype=float),
        np.array(evidence, dtype=object),
        np.array(error, dtype=object),
        np.array(mis_prd, dtype=float),
    )


LINES = [
    "1\t100\trs1\tC\tT\t50\tPASS\tDP=5;VIP_ERR=old;VIP_SCORE=0.9;VIP_gerp_rs=9;VIP_other=1;AF=0.1"
    "\tGT\t0/1",
    "1\t200\t.\tG\tA,T\t.\t.\t.",
    "1\t300\t.\tA",
    "#a comment in the body",
    "1\t400\t.\tC\tG\t.\t.\tVIP_POST=0.2;VIP_EVIDENCE=PP3",
]
#: Allele -> record of LINES (the comment has no allele).
RECORD_OF = np.array([0, 1, 1, 2, 4])
#: Per record: ALT count, 0 for a line without an ALT column, -1 for a comment.
COUNTS = np.array([1, 2, 0, -1, 1])
FEATURES = pa.array(["VIP_gerp_rs=1.5", "VIP_gerp_rs=2", None, None, "VIP_gerp_rs=-0.5"])
RESULTS = _results(
    [0.5, 1 / 3, math.nan, math.nan, 0.125],
    [0.1, 0.05, math.nan, math.nan, 0.0441],
    ["PP3_Moderate", "BP4", ".", ".", "none"],
    ["", "", "no_features", "malformed_record", ""],
    [3, -1, math.nan, math.nan, 0],  # MIS_PRD: PP3_Moderate in the 3-point band
)


def _annotate(writer: InfoWriter, results: AlleleResults) -> list[str]:
    """LINES written by ``writer`` the way the annotate job drives it."""
    lines = pa.array(LINES)
    padded = pa.array([vcf.pad_line(line) for line in LINES])
    texts = writer.allele_texts(FEATURES, results)
    annotations = writer.record_annotations(texts, RECORD_OF, COUNTS, results.error)
    return writer.rebuild(lines, split_fields(padded), annotations).to_pylist()


def test_info_writer_scored_lines() -> None:
    """Own INFO kept, earlier VIP keys removed (declared or not), per-ALT joins, no-ALT error."""
    out = _annotate(InfoWriter(["gerp_rs"], scored=True), RESULTS)
    assert out == [
        "1\t100\trs1\tC\tT\t50\tPASS\tDP=5;VIP_other=1;AF=0.1;VIP_gerp_rs=1.5;VIP_SCORE=0.5;"
        "VIP_POST=0.1;VIP_EVIDENCE=PP3_Moderate;VIP_MIS_PRD=3;VIP_ERR=.\tGT\t0/1\n",
        "1\t200\t.\tG\tA,T\t.\t.\tVIP_gerp_rs=2,.;VIP_SCORE=0.333333,.;VIP_POST=0.05,.;"
        "VIP_EVIDENCE=BP4,.;VIP_MIS_PRD=-1,.;VIP_ERR=.,no_features\n",
        "1\t300\t.\tA\t.\t.\t.\tVIP_ERR=malformed_record\n",
        "#a comment in the body\n",
        "1\t400\t.\tC\tG\t.\t.\tVIP_gerp_rs=-0.5;VIP_SCORE=0.125;VIP_POST=0.0441;"
        "VIP_EVIDENCE=none;VIP_MIS_PRD=0;VIP_ERR=.\n",
    ]


@pytest.mark.parametrize(
    ("guidelines", "written", "left_out"),
    [
        (("acmg_v3",), "VIP_EVIDENCE=PP3_Moderate;VIP_ERR", "VIP_MIS_PRD"),
        (("svcv4",), "VIP_POST=0.1;VIP_MIS_PRD=3;VIP_ERR", "VIP_EVIDENCE"),
    ],
)
def test_info_writer_writes_and_declares_only_the_reported_guidelines(
    guidelines: tuple[str, ...], written: str, left_out: str
) -> None:
    """VIPREDICT_GUIDELINES: the other version's field is neither written nor declared,
    and an earlier run's copy of it is removed all the same."""
    writer = InfoWriter(["gerp_rs"], scored=True, guidelines=guidelines)
    out = _annotate(writer, RESULTS)
    assert written in out[0]
    assert not any(left_out in line for line in out)
    header = writer.header(["##fileformat=VCFv4.2", CHROM_LINE], {"gerp_rs": GERP})
    assert not any(f"ID={left_out}," in line for line in header)
    assert any(f"ID={written.split(';')[-2].split('=')[0]}," in line for line in header)


def test_info_writer_features_only_lines() -> None:
    out = _annotate(InfoWriter(["gerp_rs"], scored=False), RESULTS)
    assert out[0] == (
        "1\t100\trs1\tC\tT\t50\tPASS\tDP=5;VIP_other=1;AF=0.1;VIP_gerp_rs=1.5;VIP_ERR=.\tGT\t0/1\n"
    )
    assert out[1] == "1\t200\t.\tG\tA,T\t.\t.\tVIP_gerp_rs=2,.;VIP_ERR=.,no_features\n"
    assert out[2] == "1\t300\t.\tA\t.\t.\t.\tVIP_ERR=malformed_record\n"
    # VIP_POST/VIP_EVIDENCE are this writer's keys even when it writes no results
    assert out[4] == "1\t400\t.\tC\tG\t.\t.\tVIP_gerp_rs=-0.5;VIP_ERR=.\n"


def test_an_error_hides_the_evidence_of_its_allele() -> None:
    """An allele with an error gets ``VIP_EVIDENCE=.`` and ``VIP_MIS_PRD=.`` whatever
    evidence was computed."""
    results = _results([0.5], [0.1], ["PP3_Strong"], ["insufficient_annotation"], [4])
    writer = InfoWriter([], scored=True)
    (text,) = writer.allele_texts(pa.nulls(1, pa.string()), results).to_pylist()
    assert text == (
        "VIP_SCORE=0.5;VIP_POST=0.1;VIP_EVIDENCE=.;VIP_MIS_PRD=.;VIP_ERR=insufficient_annotation"
    )


def test_one_snv_per_record_passes_the_texts_through() -> None:
    writer = InfoWriter([], scored=False)
    texts = pa.array(["VIP_ERR=.", "VIP_ERR=no_features"])
    out = writer.record_annotations(texts, np.array([0, 1]), np.array([1, 1]), np.array(["", ""]))
    assert out.to_pylist() == texts.to_pylist()


# --------------------------------------------------------------------------- reading blocks


def test_read_header_and_body_blocks_give_every_line_as_written(tmp_path: Path) -> None:
    body = [f"1\t{100 + i}\t.\tA\tG\t.\t.\tNOTE=\"q\"{'x' * (i % 7)}" for i in range(3_000)]
    head = ["##fileformat=VCFv4.2", CHROM_LINE]
    path = tmp_path / "in.vcf.gz"
    path.write_bytes(gzip.compress(("\n".join([*head, *body]) + "\n").encode()))
    lines, longest = read_header(path)
    assert lines == head and longest == max(len(line) + 1 for line in body[:1_001])
    blocks = list(body_blocks(path, len(lines), block_bytes=1 << 14))
    assert len(blocks) > 1
    assert [line for block, _ in blocks for line in block.to_pylist()] == body
    assert blocks[-1][1] == path.stat().st_size  # compressed bytes read, for the progress bar


def test_text_bytes_is_the_concatenated_text_of_a_slice() -> None:
    lines = pa.array(["ab\n", "é\n", "cd\n", "ef\n"])
    view = text_bytes(lines.slice(1, 2))
    assert isinstance(view, memoryview)
    assert bytes(view) == "é\ncd\n".encode()


# --------------------------------------------------------------------------- BGZF output


def _sorted_vcf_blocks() -> Iterator[bytes | memoryview]:
    """A sorted VCF over several BGZF blocks (>64 KiB), as bytes AND memoryview blocks."""
    yield f"##fileformat=VCFv4.2\n##contig=<ID=1>\n{CHROM_LINE}\n".encode()
    for start in range(0, 6_000, 1_500):
        positions = range(1_000 + 10 * start, 1_000 + 10 * (start + 1_500), 10)
        lines = pa.array([f"1\t{pos}\t.\tA\tG\t.\t.\tVIP_ERR=.\n" for pos in positions])
        yield text_bytes(lines)  # what the annotate job writes
        yield memoryview(b"")  # an empty view is fine too
    yield b"1\t100000\t.\tC\tT\t.\t.\t.\n"


def _expected_text() -> bytes:
    return b"".join(bytes(block) for block in _sorted_vcf_blocks())


def _write_with(path: Path, bgzip: str | None) -> Path:
    with vcf_writer(path, threads=2, bgzip=bgzip) as write:
        for block in _sorted_vcf_blocks():
            write(block)
    return path


def _check_bgzf(path: Path) -> None:
    """Decompresses to the text, is BGZF (not plain gzip), and tabix indexes and queries it."""
    assert is_gzip(path) and not is_plain_gzip(path)
    assert gzip.decompress(path.read_bytes()) == _expected_text()
    index = Path(pysam.tabix_index(str(path), preset="vcf", force=True, keep_original=True))
    assert index.is_file()
    with pysam.TabixFile(str(path)) as tabix:
        assert len(list(tabix.fetch("1", 1_999, 2_099))) == 10  # 2000, 2010, ..., 2090


@pytest.fixture
def no_bgzip_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vcf.shutil, "which", lambda name: None)


def _debian_bgzip() -> str:
    found = shutil.which("bgzip")
    if found is None:
        pytest.skip("Debian's bgzip is not on the PATH (apt-get install tabix); CI installs it")
    return found


WRITERS: dict[str, Callable[[pytest.FixtureRequest], str | None]] = {
    "pysam-no-bgzip-on-path": lambda request: request.getfixturevalue("no_bgzip_on_path"),
    "pysam-bgzip-empty": lambda request: "",
    "debian-bgzip": lambda request: _debian_bgzip(),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_vcf_gz_is_bgzf_that_tabix_indexes(
    writer: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Issue #10: without bgzip a memoryview block raised ``TypeError`` (pysam takes bytes)."""
    bgzip = WRITERS[writer](request)
    _check_bgzf(_write_with(tmp_path / "out.vcf.gz", bgzip))


def test_both_bgzf_paths_write_the_same_text(tmp_path: Path) -> None:
    debian = _write_with(tmp_path / "debian.vcf.gz", _debian_bgzip())
    pysam_path = _write_with(tmp_path / "pysam.vcf.gz", "")
    assert gzip.decompress(debian.read_bytes()) == gzip.decompress(pysam_path.read_bytes())
    assert gzip.decompress(debian.read_bytes()) == _expected_text()


def test_a_plain_gzip_file_is_what_tabix_refuses(tmp_path: Path) -> None:
    """The control of the check above: ordinary gzip is not BGZF and cannot be indexed."""
    path = tmp_path / "plain.vcf.gz"
    path.write_bytes(gzip.compress(_expected_text()))
    assert is_plain_gzip(path)
    with pytest.raises(OSError):
        pysam.tabix_index(str(path), preset="vcf", force=True, keep_original=True)


def test_a_plain_vcf_is_written_as_is(tmp_path: Path) -> None:
    path = _write_with(tmp_path / "out.vcf", None)
    assert not is_gzip(path) and path.read_bytes() == _expected_text()


def test_a_failing_bgzip_is_an_error_naming_the_file(tmp_path: Path) -> None:
    false = shutil.which("false")
    assert false is not None
    path = tmp_path / "out.vcf.gz"
    with pytest.raises(RuntimeError, match=f"bgzip failed with status 1 on {path}"):
        _write_with(path, false)
