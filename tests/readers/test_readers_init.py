"""Format sniffing and ``read_any`` dispatch used by the prediction CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from vipredict.readers import detect_format, read_any
from vipredict.sources import resolve

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clinvar_2020_pathogenic_vcf", "vcf"),  # gzip VCF
        ("clinvar_750_b37_vcf", "vcf"),
        ("vep_dbnsfp_benign", "vep"),
        ("dbnsfp_v23_test", "dbnsfp"),
        ("clinvar_750_exac_tsv", "tsv"),
    ],
)
def test_detect_format_on_real_files(name: str, expected: str) -> None:
    assert detect_format(resolve(name)) == expected


def test_detect_format_on_fixtures() -> None:
    assert detect_format(FIXTURES / "vep_missing_and_joined_transcripts.txt") == "vep"
    assert detect_format(FIXTURES / "dbnsfp_v4_semicolon_transcripts.tsv") == "dbnsfp"


def test_read_any_dispatches(tmp_path: Path) -> None:
    assert read_any(FIXTURES / "chr_prefixed_contig.vcf")["variant"].iloc[0] == (
        "GRCh38:7:117559590:G:A"
    )
    assert len(read_any(FIXTURES / "dbnsfp_v4_semicolon_transcripts.tsv")) == 1
    table = tmp_path / "mine.tsv"
    table.write_text("Chrom\tPos\tRef\tAlt\tnote\nchr1\t100\tc\tt\tx\n")
    frame = read_any(table, build="hg19")
    assert frame["variant"].tolist() == ["GRCh37:1:100:C:T"]
    assert frame["note"].tolist() == ["x"]
    keyed = tmp_path / "keys.tsv"
    keyed.write_text("variant\nGRCh38:X:5:A:G\n")
    assert read_any(keyed)["variant"].tolist() == ["GRCh38:X:5:A:G"]
