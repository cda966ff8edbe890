"""Frequencies that come with a user's data: the field grammar, sites VCFs, annotated columns.

Real files: the ExAC sites VCFs of vcfanno and brca-exchange, the DITTO VEP VCF's CSQ
header. The grammar cases and the gnomAD v3/v4-named VCF are SYNTHETIC (parser edge
cases: gnomAD's own sites VCFs are far too large for the mirror).
"""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import pandas as pd
import pysam
import pytest

from vipredict.io.readers.sites import (
    LONG_COLUMNS,
    FrequencyField,
    combine_frequencies,
    frequencies_from_columns,
    frequency_field,
    frequency_fields,
    parse_frequency_value,
    read_sites_vcf,
    sites_for_keys,
)
from vipredict.io.sources import resolve


def _group(frame: pd.DataFrame, variant: str, group: str) -> tuple[float, float, float]:
    row = frame[(frame["variant"] == variant) & (frame["group"] == group)]
    assert len(row) == 1, (variant, group, len(row))
    return tuple(row[["ac", "an", "af"]].iloc[0])  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("name", "prefixed", "expected"),
    [
        ("AC_afr", False, (None, "afr", "ac")),  # gnomAD v2/v3/v4 INFO
        ("AN_AFR", False, (None, "afr", "an")),  # ExAC INFO
        ("AF_remaining", False, (None, "remaining", "af")),  # gnomAD v4
        ("AF_ami", False, (None, "ami", "af")),
        ("AC", False, (None, "all", "ac")),
        ("AC_Adj", False, (None, "all", "ac")),  # ExAC adjusted overall
        ("AC_afr_female", False, None),  # sex-specific: not a group
        ("controls_AC_afr", False, None),  # subset: not this dataset
        ("AF_raw", False, None),
        ("AC_Hom", False, None),
        ("Hom_AFR", False, None),
        ("AN_POPMAX", False, None),  # popmax is not a group
        ("nhomalt_afr", False, None),
        ("gnomADv3_AF_afr", True, ("gnomADv3", "afr", "af")),  # custom VEP annotation
        ("gnomADv3_AC", True, ("gnomADv3", "all", "ac")),
        ("gnomADv3_AF_afr_female", True, None),
        ("gnomADe_AFR_AF", True, ("gnomADe", "afr", "af")),  # VEP 100-109
        ("gnomADg_AFR", True, ("gnomADg", "afr", "af")),  # VEP 110+: the bare group is the AF
        ("gnomAD_AF", True, ("gnomAD", "all", "af")),  # VEP < 100
        ("gnomAD_exomes_AF_nfe", True, ("gnomAD_exomes", "nfe", "af")),
        ("ExAC_Adj_AF", True, ("ExAC", "all", "af")),
        ("clinvar_AF_EXAC", True, None),  # not a gnomAD/ExAC prefix
        ("gnomADv3", True, None),
        ("AF_afr", True, None),  # a prefixed reading needs a prefix
    ],
)
def test_field_grammar(name: str, prefixed: bool, expected: tuple | None) -> None:
    field = frequency_field(name, prefixed)
    got = None if field is None else (field.dataset, field.group, field.stat)
    assert got == expected


def test_adjusted_fields_replace_raw_ones_of_the_same_group() -> None:
    fields = frequency_fields(["AC", "AN", "AF", "AC_Adj", "AN_Adj", "AC_AFR", "AN_AFR"])
    assert set(fields) == {"AC_Adj", "AN_Adj", "AC_AFR", "AN_AFR"}  # no raw AF beside adj counts
    assert fields["AC_Adj"] == FrequencyField(None, "all", "ac", adjusted=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.5e-04", 1.5e-4), ("1e-3&1e-3", 1e-3), ("1e-3&2e-3", math.nan), (".", math.nan),
     ("", math.nan), (None, math.nan), (7, 7.0), ("high", math.nan)],
)  # fmt: skip
def test_values(value: object, expected: float) -> None:
    got = parse_frequency_value(value)
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_ditto_csq_header_fields_are_read_as_gnomad_v3_groups() -> None:
    """The real DITTO VEP VCF declares gnomADv3 AC/AN/AF overall and AF by group."""
    with gzip.open(resolve("ditto_vep_vcf"), "rt") as handle:
        line = next(x for x in handle if x.startswith("##INFO=<ID=CSQ"))
    names = line.split("Format: ")[1].rstrip('">\n').split("|")
    fields = frequency_fields(names, prefixed=True)
    assert {f.dataset for f in fields.values()} == {"gnomADv3"}
    groups = {f.group for f in fields.values() if f.stat == "af"}
    assert groups == {"all", "afr", "ami", "amr", "asj", "eas", "fin", "nfe", "oth", "sas"}
    assert {f.stat for f in fields.values() if f.group == "all"} == {"ac", "an", "af"}
    assert not any("female" in n or "raw" in n or n.startswith("clinvar") for n in fields)


@pytest.mark.e2e  # reads two real public VCFs in full (seconds)
def test_exac_sites_vcfs() -> None:
    vcfanno = read_sites_vcf(resolve("exac_vcfanno_vcf"), "GRCh37")
    assert list(vcfanno.columns) == list(LONG_COLUMNS)
    assert set(vcfanno["dataset"]) == {"exac"}  # the file name before its first dot
    # 1:13372 G>C (PASS): SAS 2/5052; overall from AC_Adj/AN_Adj (2/8432), not raw AC 3/AN 42870.
    assert _group(vcfanno, "GRCh37:1:13372:G:C", "sas")[:2] == (2, 5052)
    assert _group(vcfanno, "GRCh37:1:13372:G:C", "all")[:2] == (2, 8432)
    assert vcfanno["af"].isna().all()  # ExAC's only AF is the raw one: left out
    # 39 of the 148 sites PASS; the others failed ExAC's QC and stay unknown.
    assert vcfanno["variant"].nunique() == 39 and vcfanno.attrs["dropped"]["not_pass"] == 109
    every = read_sites_vcf(resolve("exac_vcfanno_vcf"), "GRCh37", pass_only=False)
    assert every["variant"].nunique() == 148
    assert _group(every, "GRCh37:1:13380:C:G", "afr")[:2] == (22, 578)  # a VQSR-filtered site
    brca = read_sites_vcf(resolve("exac_brca12_vcf"), "GRCh37", dataset="exac", pass_only=False)
    assert brca["variant"].nunique() == 3_738  # README: 3,738 BRCA1/2 alleles
    assert _group(brca, "GRCh37:13:32890549:T:C", "nfe")[:2] == (1, 63692)
    assert _group(brca, "GRCh37:13:32893196:GA:TA", "eas")[:2] == (1, 8490)


def test_indexed_vcf_is_read_only_at_the_wanted_positions(tmp_path: Path) -> None:
    """A bgzipped, tabix-indexed copy of the real vcfanno ExAC VCF: look-ups, not a scan."""
    plain = tmp_path / "exac.vcf"
    with gzip.open(resolve("exac_vcfanno_vcf"), "rb") as source, plain.open("wb") as out:
        shutil.copyfileobj(source, out)
    indexed = Path(pysam.tabix_index(str(plain), preset="vcf", force=True))
    wanted = {"GRCh37:1:13372:G:C", "GRCh37:1:13380:C:G", "GRCh37:1:99999999:A:G"}
    got = read_sites_vcf(indexed, "GRCh37", wanted=wanted, pass_only=False)
    assert set(got["variant"]) == {"GRCh37:1:13372:G:C", "GRCh37:1:13380:C:G"}
    full = read_sites_vcf(indexed, "GRCh37", pass_only=False)
    mine = full[full["variant"].isin(wanted)].sort_values(["variant", "group"])
    pd.testing.assert_frame_equal(
        got.sort_values(["variant", "group"]).reset_index(drop=True), mine.reset_index(drop=True)
    )
    by_key = sites_for_keys(indexed, sorted(wanted))  # PASS only by default
    assert set(by_key["variant"]) == {"GRCh37:1:13372:G:C"}


GNOMAD_V4_VCF = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=AC0,Description="Allele count is zero">
##INFO=<ID=AC,Number=A,Type=Integer,Description="Alternate allele count">
##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles">
##INFO=<ID=AF,Number=A,Type=Float,Description="Alternate allele frequency">
##INFO=<ID=AC_afr,Number=A,Type=Integer,Description="afr">
##INFO=<ID=AN_afr,Number=1,Type=Integer,Description="afr">
##INFO=<ID=AF_afr,Number=A,Type=Float,Description="afr">
##INFO=<ID=AC_afr_XX,Number=A,Type=Integer,Description="afr, XX">
##INFO=<ID=AF_remaining,Number=A,Type=Float,Description="remaining">
##INFO=<ID=AC_mid,Number=A,Type=Integer,Description="mid">
##INFO=<ID=AN_mid,Number=1,Type=Integer,Description="mid">
##contig=<ID=chr1,length=248956422>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
chr1\t1000\t.\tA\tG,T\t.\tPASS\tAC=3,1;AN=1000;AF=0.003,0.001;AC_afr=2,0;AN_afr=400;AF_afr=0.005,0;AC_afr_XX=1,0;AF_remaining=0.01,0.02;AC_mid=0,1;AN_mid=50
chr1\t2000\t.\tC\tT\t.\tAC0\tAC=0;AN=800;AF=0;AC_afr=0;AN_afr=300
"""


def test_gnomad_v4_naming_multiallelic_and_filters(tmp_path: Path) -> None:
    """SYNTHETIC gnomAD v4-style VCF: Number=A per ALT, AN shared, AF-only groups kept as AF."""
    path = tmp_path / "gnomad.v4.sites.vcf"
    path.write_text(GNOMAD_V4_VCF)
    got = read_sites_vcf(path, "GRCh38")
    assert set(got["dataset"]) == {"gnomad"}
    assert _group(got, "GRCh38:1:1000:A:G", "afr") == (2, 400, 0.005)
    assert _group(got, "GRCh38:1:1000:A:T", "afr") == (0, 400, 0)
    assert _group(got, "GRCh38:1:1000:A:T", "mid")[:2] == (1, 50)
    ac, an, af = _group(got, "GRCh38:1:1000:A:T", "remaining")  # AF only: no invented counts
    assert math.isnan(ac) and math.isnan(an) and af == 0.02
    assert _group(got, "GRCh38:1:1000:A:G", "all") == (3, 1000, 0.003)
    assert "GRCh38:1:2000:C:T" not in set(got["variant"])  # AC0-filtered: unknown
    assert got.attrs["dropped"] == {"not_pass": 1}
    assert "AC_afr_XX" not in got.attrs["fields"]


def test_annotated_columns_to_long_table() -> None:
    """SYNTHETIC CSQ-style columns: the prefix names the dataset; &-joined agreeing repeats."""
    wide = pd.DataFrame(
        {
            "variant": ["GRCh38:1:1:A:G", "GRCh38:1:2:A:G"],
            "gnomADe_AFR_AF": ["0.2&0.2", ""],
            "gnomADe_AF": ["0.01", ""],
            "gnomADg_AF_nfe": ["", "1e-05"],
            "SIFT": ["deleterious(0)", "tolerated(0.3)"],
        }
    )
    long = frequencies_from_columns(wide)
    assert set(zip(long["variant"], long["dataset"], long["group"], long["af"], strict=True)) == {
        ("GRCh38:1:1:A:G", "gnomADe", "afr", 0.2),
        ("GRCh38:1:1:A:G", "gnomADe", "all", 0.01),
        ("GRCh38:1:2:A:G", "gnomADg", "nfe", 1e-05),
    }  # a variant with an empty field has no row for it: unknown
    assert long["ac"].isna().all() and long["an"].isna().all()
    bare = pd.DataFrame({"variant": ["GRCh37:1:1:A:G"], "AC_AFR": ["3"], "AN_AFR": ["100"]})
    with pytest.raises(ValueError, match="dataset"):
        frequencies_from_columns(bare)
    assert _group(frequencies_from_columns(bare, "exac"), "GRCh37:1:1:A:G", "afr")[:2] == (3, 100)


def test_combined_tables_keep_the_inputs_own_value_first() -> None:
    own = pd.DataFrame(
        [("v", "gnomADe", "afr", None, None, 0.2)], columns=list(LONG_COLUMNS)
    )
    sites = pd.DataFrame(
        [("v", "gnomADe", "afr", 5, 100, None), ("v", "gnomADe", "nfe", 1, 100, None)],
        columns=list(LONG_COLUMNS),
    )
    combined = combine_frequencies(own, None, sites)
    assert combined is not None and len(combined) == 2
    assert _group(combined, "v", "afr")[2] == 0.2 and _group(combined, "v", "nfe")[:2] == (1, 100)
    assert combine_frequencies(None, None) is None


def test_impossible_rows_are_dropped_and_counted() -> None:
    """SYNTHETIC: AC > AN or an AF above 1 is a mislabelled column, never a frequency."""
    wide = pd.DataFrame(
        {"variant": ["a", "b", "c"], "AC_AFR": ["5", "1", "1"], "AN_AFR": ["3", "100", "10"],
         "AF_NFE": ["0.1", "1.5", ""]}
    )  # fmt: skip
    long = frequencies_from_columns(wide, dataset="x")
    assert long.attrs["dropped"] == {"impossible_counts": 2}
    assert set(zip(long["variant"], long["group"], strict=True)) == {
        ("a", "nfe"), ("b", "afr"), ("c", "afr")
    }
