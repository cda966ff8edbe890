"""Population-frequency readers: browser exports, ExAC VCFs, macarthur joined TSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vipredict.io.readers.popfreq import (
    POPFREQ_COLUMNS,
    read_all_browser_exports,
    read_browser_export,
    read_macarthur_joined_tsv,
    read_popfreq_source,
    read_popfreq_vcf,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _groups(frame: pd.DataFrame, variant: str) -> pd.DataFrame:
    return frame[frame["variant"] == variant].set_index("group")[["ac", "an", "hom"]]


@pytest.fixture(scope="module")
def gnomad_exports() -> tuple[pd.DataFrame, set[str]]:
    return read_all_browser_exports("gnomad")


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_all_gnomad_exports(gnomad_exports: tuple[pd.DataFrame, set[str]]) -> None:
    long, genes = gnomad_exports
    assert len(genes) == 69 and {"BRCA1", "NF2", "GLA"} <= genes
    assert long["variant"].nunique() == 108_645  # README: 108,645 gnomAD variants
    assert list(long.columns) == list(POPFREQ_COLUMNS)
    counts = long["group"].value_counts()
    # NF2 (732 variants) has no South Asian columns: no sas rows, never invented.
    assert counts["afr"] - counts["sas"] == 732
    assert set(long["dataset"]) == {"gnomad_2017_browser"}
    # gnomad_BRCA1.csv row 2: 17:41196263 G>A, African AC 1 / AN 8512.
    afr = _groups(long, "GRCh37:17:41196263:G:A").loc["afr"]
    assert (afr["ac"], afr["an"], afr["hom"]) == (1, 8512, 0)


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_all_exac_exports_have_no_asj() -> None:
    long, genes = read_all_browser_exports("exac")
    assert len(genes) == 69
    assert long["variant"].nunique() == 66_314  # README: 66,314 ExAC variants
    assert "asj" not in set(long["group"])
    # exac_BRCA1.csv row 2: 17:41196363 C>T; Finnish (ExAC spelling) AN 0, Latino AN 98.
    row = _groups(long, "GRCh37:17:41196363:C:T")
    assert (row.loc["sas", "ac"], row.loc["sas", "an"]) == (27, 7420)
    assert (row.loc["fin", "ac"], row.loc["fin", "an"]) == (0, 0)
    assert (row.loc["amr", "ac"], row.loc["amr", "an"]) == (0, 98)


def test_nf2_fixture_lacks_south_asian() -> None:
    frame = read_browser_export(FIXTURES / "gnomad_export_without_south_asian.csv", "gnomad")
    assert set(frame["group"]) == {"afr", "amr", "asj", "eas", "fin", "nfe", "oth"}
    afr = _groups(frame, "GRCh37:22:29999940:A:C").loc["afr"]
    assert (afr["ac"], afr["an"]) == (7, 8904)


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_exac_vcfs_split_number_a_fields() -> None:
    brca = read_popfreq_source("exac_brca12_vcf")
    assert brca["variant"].nunique() == 3_738  # README: 3,738 BRCA1/2 alleles
    eas = _groups(brca, "GRCh37:13:32893196:GA:TA").loc["eas"]
    assert (eas["ac"], eas["an"]) == (1, 8490)
    assert _groups(brca, "GRCh37:13:32893196:GA:G").loc["nfe", "ac"] == 1
    vcfanno = read_popfreq_source("exac_vcfanno_vcf")
    assert vcfanno["variant"].nunique() == 148
    sas = _groups(vcfanno, "GRCh37:1:13372:G:C").loc["sas"]
    assert (sas["ac"], sas["an"], sas["hom"]) == (2, 5052, 1)


def test_multiallelic_fixture_per_alt_counts_shared_an() -> None:
    frame = read_popfreq_vcf(FIXTURES / "exac_vcf_multiallelic_number_a.vcf", "GRCh37", "exac")
    first, second = _groups(frame, "GRCh37:13:32893196:GA:TA"), _groups(
        frame, "GRCh37:13:32893196:GA:G"
    )
    assert (first.loc["afr", "ac"], second.loc["afr", "ac"]) == (3, 0)
    assert first.loc["afr", "an"] == second.loc["afr", "an"] == 9138
    assert (first.loc["eas", "ac"], second.loc["eas", "ac"]) == (1, 4)
    assert pd.isna(first.loc["eas", "hom"])  # no Hom_EAS field: unknown, not 0


def test_ac_afr_header_quirk_fixture() -> None:
    frame = read_macarthur_joined_tsv(
        FIXTURES / "gnomad_exomes_duplicate_ac_afr_header.tsv", "gnomad_exomes"
    )
    afr = _groups(frame, "GRCh37:1:949422:G:A").loc["afr"]
    assert (afr["ac"], afr["an"], afr["hom"]) == (270, 15288, 5)  # not the AF 0.0176609
    assert "GRCh37:1:949523:C:T" not in set(frame["variant"])  # empty join: unknown, no rows


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_macarthur_joined_real_files() -> None:
    exomes = read_popfreq_source("clinvar_750_gnomad_exomes_tsv")
    afr = _groups(exomes, "GRCh37:1:949422:G:A").loc["afr"]
    assert (afr["ac"], afr["an"], afr["hom"]) == (270, 15288, 5)
    assert exomes["variant"].nunique() == 570  # rows with a non-empty gnomAD join
    genomes = read_popfreq_source("clinvar_750_gnomad_genomes_tsv")
    assert genomes["variant"].nunique() == 441 and "sas" not in set(genomes["group"])
    exac = read_popfreq_source("clinvar_750_exac_tsv")
    assert exac["variant"].nunique() == 507 and "asj" not in set(exac["group"])
    assert set(exac["dataset"]) == {"exac_vcf"}


def test_unknown_source_is_rejected() -> None:
    with pytest.raises(ValueError, match="population-frequency"):
        read_popfreq_source("clingen_2019")
