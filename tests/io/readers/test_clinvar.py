"""ClinVar VCF reader: the three real INFO dialects plus per-ALT and drop edge cases."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from vipredict.io.readers.clinvar import (
    CLINVAR_COLUMNS,
    read_allele_table_source,
    read_clinvar_source,
    read_clinvar_vcf,
    stars_from_review,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def pathogenic_2020() -> pd.DataFrame:
    return read_clinvar_source("clinvar_2020_pathogenic_vcf")


@pytest.fixture(scope="module")
def benign_2020() -> pd.DataFrame:
    return read_clinvar_source("clinvar_2020_benign_vcf")


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_2020_pathogenic_counts_and_known_row(pathogenic_2020: pd.DataFrame) -> None:
    # zcat | grep -vc '^#' = 25,080 records, none multi-allelic (README: 25,080 P/LP).
    assert len(pathogenic_2020) == 25_080
    assert list(pathogenic_2020.columns) == list(CLINVAR_COLUMNS)
    assert pathogenic_2020["variant"].is_unique
    assert (pathogenic_2020["label"] == 1).all()
    row = pathogenic_2020.set_index("variant").loc["GRCh38:1:1529299:C:T"]
    assert row["gene"] == "ATAD3A"
    assert row["clnsig"] == "Pathogenic/Likely_pathogenic"
    assert row["stars"] == 2
    assert row["molecular_consequence"] == "missense_variant"
    assert row["source_version"] == "danielhmahecha/VusPrize@c4adffc"
    # README: ~6,100 missense among the P/LP.
    assert 6_000 < int(pathogenic_2020["is_missense"].sum()) < 6_200


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_2020_multi_consequence_keeps_all_names(pathogenic_2020: pd.DataFrame) -> None:
    row = pathogenic_2020.set_index("variant").loc["GRCh38:1:1804548:T:C"]
    assert row["molecular_consequence"] == "initiatior_codon_variant,missense_variant"
    assert bool(row["is_missense"])


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_2020_benign_drops_records_without_alt(benign_2020: pd.DataFrame) -> None:
    # 51,091 records, of which 122 have ALT '.' (awk on the raw file).
    assert len(benign_2020) == 51_091 - 122
    assert benign_2020.attrs["dropped"] == {"malformed_record": 122}
    assert (benign_2020["label"] == 0).all()
    assert set(benign_2020["stars"].unique()) <= {2, 3, 4}


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_legacy_2015_brca_dialect_splits_alts() -> None:
    frame = read_clinvar_source("clinvar_2015_brca_vcf")
    # 5,638 records, 464 multi-allelic; 6,184 ALT alleles in all.
    assert len(frame) == 6_184
    assert frame["molecular_consequence"].isna().all()  # the 2015 file has no MC field
    by_key = frame.set_index("variant")
    assert by_key.loc["GRCh37:13:32890539:T:C", "clnsig"] == "Likely_benign"  # CLNSIG=3
    assert by_key.loc["GRCh37:13:32890572:G:A", "clnrevstat"] == "mult|not"
    assert by_key.loc["GRCh37:13:32890572:G:A", "stars"] == 2


def test_macarthur_flattened_vcf() -> None:
    frame = read_clinvar_source("clinvar_750_b37_vcf")
    assert len(frame) == 625  # 750 lines - 125 header lines
    row = frame.set_index("variant").loc["GRCh37:1:949422:G:A"]
    assert (row["gene"], row["clnsig"], row["stars"], row["label"]) == ("ISG15", "Benign", 1, 0)
    assert row["molecular_consequence"] == "missense_variant"
    nonsense = frame.set_index("variant").loc["GRCh37:1:949523:C:T"]
    assert nonsense["label"] == 1 and not nonsense["is_missense"]


def test_multiallelic_record_split_and_odd_records_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        frame = read_clinvar_vcf(FIXTURES / "multiallelic_record.vcf", "GRCh38")
    assert frame["variant"].tolist() == ["GRCh38:1:100:C:T", "GRCh38:1:100:C:G"]
    assert frame["gene"].tolist() == ["GENE1", "GENE1"]  # first GENEINFO symbol
    assert frame["stars"].tolist() == [3, 3]
    assert frame.attrs["dropped"] == {"malformed_record": 2, "unknown_contig": 1}
    assert "cannot be keyed" in caplog.text
    assert frame["source"].isna().all()  # a user file has no declared provenance


def test_chr_prefixed_contigs_are_canonicalised() -> None:
    frame = read_clinvar_vcf(FIXTURES / "chr_prefixed_contig.vcf", "hg38")
    assert frame["variant"].tolist() == [
        "GRCh38:7:117559590:G:A", "GRCh38:MT:3243:A:G", "GRCh38:X:1000:T:C",
    ]
    assert frame["stars"].tolist() == [2, 1, 0]
    assert frame["label"].tolist()[:2] == [0, 1]
    assert pd.isna(frame["label"].iloc[2])


def test_legacy_clnalle_maps_submissions_to_their_allele() -> None:
    frame = read_clinvar_vcf(FIXTURES / "legacy_clnalle_multiallelic.vcf", "GRCh37")
    by_key = frame.set_index("variant")
    assert by_key.loc["GRCh37:13:32890599:T:C", "clnsig"] == "not_provided"
    assert by_key.loc["GRCh37:13:32890599:T:G", "clnsig"] == "not_provided|Pathogenic|Pathogenic"
    assert by_key.loc["GRCh37:13:32890599:T:G", "stars"] == 3  # best submission: exp
    assert by_key.loc["GRCh37:13:32890599:T:G", "label"] == 1
    assert pd.isna(by_key.loc["GRCh37:13:32890572:G:A", "clnsig"])  # no CLNALLE entry
    assert pd.isna(by_key.loc["GRCh37:13:32890572:G:C", "label"])  # VUS next to P: conflict
    assert by_key.loc["GRCh37:13:32890572:G:T", "label"] == 0


@pytest.mark.parametrize(
    ("status", "stars"),
    [
        ("practice_guideline", 4),
        ("reviewed_by_expert_panel", 3),
        ("criteria_provided,_multiple_submitters,_no_conflicts", 2),
        ("criteria provided, single submitter", 1),
        ("criteria_provided..conflicting_interpretations", 1),
        ("no_assertion_criteria_provided", 0),
        (None, 0),
    ],
)
def test_stars_from_review(status: str | None, stars: int) -> None:
    assert stars_from_review(status) == stars


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_2020_records_keep_their_dbsnp_and_allele_ids(pathogenic_2020: pd.DataFrame) -> None:
    row = pathogenic_2020.set_index("variant").loc["GRCh38:1:1529299:C:T"]
    assert (row["rsid"], row["allele_id"]) == ("rs1057517686", "227511")  # RS=, ALLELEID=
    # grep -v '^#' | grep -vc ';RS=' gives 630 records without a dbSNP id; all have ALLELEID.
    assert int(pathogenic_2020["rsid"].isna().sum()) == 630
    assert pathogenic_2020["allele_id"].notna().all()


def test_allele_tables_give_one_clinvar_allele_on_both_builds() -> None:
    b37 = read_allele_table_source("clinvar_750_b37_tsv").set_index("allele_id")
    b38 = read_allele_table_source("clinvar_750_b38_tsv").set_index("allele_id")
    assert len(b37) == len(b38) == 749 and b37.index.is_unique and b38.index.is_unique
    # ISG15 c.62G>A (allele 446939): chr1:949,422 on GRCh37, chr1:1,014,042 on GRCh38.
    assert b37.loc["446939", "variant"] == "GRCh37:1:949422:G:A"
    assert b38.loc["446939", "variant"] == "GRCh38:1:1014042:G:A"
