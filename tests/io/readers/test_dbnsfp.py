"""dbNSFP reader: v2.3/v2.4 real extracts and a v4-named edge-case file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vipredict.io.readers.dbnsfp import read_dbnsfp, read_dbnsfp_source
from vipredict.io.sources import resolve

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_v23_collapses_per_transcript_lines() -> None:
    frame = read_dbnsfp_source("dbnsfp_v23_test")
    # 47,976 data lines; 1,072 repeat a variant for another transcript -> 46,904 variants.
    assert len(frame) == 46_904
    assert frame["variant"].is_unique
    row = frame.set_index("variant").loc["GRCh37:1:249212143:A:C"]
    # Raw: Polyphen2_HDIV 0.947;0.782, FATHMM 2.3;2.3;2.3, aapos 203;454;451, 29way 6.4483.
    assert row["polyphen2_score"] == pytest.approx(0.947)
    assert row["fathmm_score"] == pytest.approx(2.3)
    assert row["aa_pos"] == 203
    assert row["siphy_29way"] == pytest.approx(6.4483)
    # 256 lines carry ESP6500_AA_AF, on 253 distinct variants (awk | sort -u).
    assert int(frame["esp_aa_af"].notna().sum()) == 253


def test_v24_chr4_known_row() -> None:
    frame = read_dbnsfp_source("dbnsfp_v24_chr4")
    assert len(frame) == 232
    row = frame.iloc[0]
    assert row["variant"] == "GRCh37:4:55946200:A:C"
    assert (row["gene"], row["aa_ref"], row["aa_pos"], row["aa_alt"]) == ("KDR", "L", 1327, "V")
    assert row["sift_score"] == pytest.approx(0.24)
    assert row["cadd_phred"] == pytest.approx(16.34)
    assert row["phylop100way"] == pytest.approx(3.705)
    assert row["gerp_rs"] == pytest.approx(5.62)
    assert {"tgp1_afr_af", "esp_ea_af"} <= set(frame.columns)


def test_v24_head_rows() -> None:
    assert len(read_dbnsfp_source("dbnsfp_v24_head")) == 99


def test_v4_names_semicolon_transcripts_and_hg19_columns() -> None:
    path = FIXTURES / "dbnsfp_v4_semicolon_transcripts.tsv"
    grch37 = read_dbnsfp(path, "GRCh37")
    assert grch37["variant"].tolist() == ["GRCh37:4:55946200:A:C"]  # hg19 '.' row dropped
    row = grch37.iloc[0]
    assert row["sift_score"] == pytest.approx(0.03)  # min of 0.24;0.03;.
    assert row["fathmm_score"] == pytest.approx(-2.5)  # min of -1.0;-2.5
    assert row["polyphen2_score"] == pytest.approx(0.996)  # max
    assert row["aa_pos"] == 1327  # first positive of -1;1327
    assert row["tgp3_afr_af"] == pytest.approx(0.01)
    assert pd.isna(row["af_global"])
    grch38 = read_dbnsfp(path, "GRCh38")
    assert grch38["variant"].tolist() == ["GRCh38:4:55080000:A:C", "GRCh38:1:1000:G:T"]


def test_v2_has_no_grch38_positions() -> None:
    with pytest.raises(ValueError, match="GRCh37"):
        read_dbnsfp(resolve("dbnsfp_v24_head"), "GRCh38")
