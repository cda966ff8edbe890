"""VEP tab reader: real VusPrize tables and the transcript-aggregation edge cases."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from vipredict.io.readers.vep import read_vep_source, read_vep_tab

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.e2e  # reads a real public file in full (seconds)
@pytest.mark.parametrize(
    ("name", "rows"), [("vep_dbnsfp_benign", 1_787), ("vep_dbnsfp_pathogenic", 511)]
)
def test_real_tables_one_row_per_variant(name: str, rows: int) -> None:
    frame = read_vep_source(name)
    assert len(frame) == rows
    assert frame["variant"].is_unique
    assert (frame["build"] == "GRCh38").all()
    assert (frame["source"] == name).all()


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_real_benign_known_row_aggregates_transcripts() -> None:
    # 27dicBEN.txt line 3: 1:2406811 C>G PEX10 V229L; VEST4 0.125,0.128,0.142;
    # FATHMM -1.44,-1.44,-1.44; MPC 0.0917925531154,.,.
    row = read_vep_source("vep_dbnsfp_benign").set_index("variant").loc["GRCh38:1:2406811:C:G"]
    assert (row["gene"], row["aa_ref"], row["aa_pos"], row["aa_alt"]) == ("PEX10", "V", 229, "L")
    assert row["vest4_score"] == pytest.approx(0.125)  # the first listed
    assert row["fathmm_score"] == pytest.approx(-1.44)
    assert row["mpc_score"] == pytest.approx(0.0917925531154)
    assert row["sift_score"] == pytest.approx(0.34)
    assert row["cadd_phred"] == pytest.approx(10.79)
    assert math.isnan(row["mutpred2_score"])  # '-' in the file


def test_fixture_missing_values_joined_transcripts_and_sift_labels() -> None:
    frame = read_vep_tab(FIXTURES / "vep_missing_and_joined_transcripts.txt")
    assert frame["variant"].tolist() == ["GRCh38:1:2406811:C:G", "GRCh38:1:150558055:C:T"]
    first = frame.iloc[0]
    # Transcript rule: the missense line is THE entry; the intron line's values
    # (SIFT 'tolerated(0.3)', FATHMM -3.1, VEST4 0.9) are not mixed in.
    assert first["consequence"] == "missense_variant"
    assert first["sift_score"] == pytest.approx(0.01)  # 'deleterious(0.01)'
    assert first["polyphen2_score"] == pytest.approx(0.987)
    assert first["fathmm_score"] == pytest.approx(-1.44)  # first listed of -1.44,-2.5,.
    assert first["vest4_score"] == pytest.approx(0.125)  # first of the entry's three values
    assert pd.isna(first["revel_score"]) and pd.isna(first["af_global"])
    second = frame.iloc[1]
    assert second["aa_pos"] == 763  # '763-764' -> start
    assert pd.isna(second["fathmm_score"])  # '.,.'
    assert frame.attrs["dropped"] == {"malformed_record": 1}  # the '-' frameshift allele


def test_not_a_vep_file_is_rejected() -> None:
    with pytest.raises(ValueError, match="#Allele"):
        read_vep_tab(FIXTURES / "multiallelic_record.vcf")
