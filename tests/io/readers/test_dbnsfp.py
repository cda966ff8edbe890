"""dbNSFP reader: v2.3/v2.4 real extracts and v4-named edge-case files (SYNTHETIC fixtures)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vipredict.io.readers._values import reduce_values
from vipredict.io.readers.dbnsfp import OTHER_BUILD_KEY, read_dbnsfp, read_dbnsfp_source
from vipredict.io.readers.vep import NOT_SUBSTITUTED
from vipredict.io.sources import resolve

#: The warnings of a refused column of another quantity (the mapping shared with VEP).
HDIV_REFUSED = f"polyphen2_score: {NOT_SUBSTITUTED['polyphen2_score'][1]}"
MUTPRED_V1_REFUSED = f"mutpred2_score: {NOT_SUBSTITUTED['mutpred2_score'][1]}"

FIXTURES = Path(__file__).parent / "fixtures"


def _rule(cell: str, column: str) -> float:
    """What the shared multi-value rule makes of one ``;``-joined cell (it may change)."""
    return float(reduce_values(pd.Series([cell]), column, ";").iloc[0])


@pytest.mark.e2e  # reads a real public file in full (seconds)
def test_v23_collapses_per_transcript_lines() -> None:
    frame = read_dbnsfp_source("dbnsfp_v23_test")
    # 47,976 data lines; 1,072 repeat a variant for another transcript -> 46,904 variants.
    assert len(frame) == 46_904
    assert frame["variant"].is_unique
    row = frame.set_index("variant").loc["GRCh37:1:249212143:A:C"]
    # Raw: Polyphen2_HVAR 0.512;0.247 (HDIV 0.947;0.782, never used), FATHMM 2.3;2.3;2.3,
    # aapos 203;454;451, 29way 6.4483.
    assert row["polyphen2_score"] == pytest.approx(0.512)
    assert row["fathmm_score"] == pytest.approx(2.3)
    assert row["aa_pos"] == 203
    assert row["siphy_29way"] == pytest.approx(6.4483)
    # 256 lines carry ESP6500_AA_AF, on 253 distinct variants (awk | sort -u).
    assert int(frame["esp_aa_af"].notna().sum()) == 253
    # Two lines of one variant, HVAR '.' then 0.461: the lines are one variant's transcripts.
    assert frame.set_index("variant").loc["GRCh37:10:135440069:C:G", "polyphen2_score"] == 0.461
    # v2 gives hg18 beside hg19, a build vipredict does not key: no other-build key.
    assert frame[OTHER_BUILD_KEY].isna().all()
    # Every v2.3 line with a PolyPhen-2 value has both HDIV and HVAR: nothing refused.
    assert not frame["annotation_warnings"].str.contains("HDIV").any()
    # GRCh37:4:60046:G:A has HDIV and HVAR '.' on both its lines: no value, nothing refused.
    assert pd.isna(frame.set_index("variant").loc["GRCh37:4:60046:G:A", "polyphen2_score"])


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
    assert row["sift_score"] == pytest.approx(_rule("0.24;0.03;.", "sift_score"))
    assert row["fathmm_score"] == pytest.approx(_rule("-1.0;-2.5", "fathmm_score"))
    # Only Polyphen2_HDIV_score (0.5;0.996) is given: another quantity, left missing.
    assert pd.isna(row["polyphen2_score"])
    assert row["annotation_warnings"].startswith(HDIV_REFUSED)
    assert row["aa_pos"] == 1327  # first positive of -1;1327
    assert row["tgp3_afr_af"] == pytest.approx(0.01)
    assert pd.isna(row["af_global"])
    assert row[OTHER_BUILD_KEY] == "GRCh38:4:55080000:A:C"  # #chr/pos(1-based) beside hg19
    grch38 = read_dbnsfp(path, "GRCh38")
    assert grch38["variant"].tolist() == ["GRCh38:4:55080000:A:C", "GRCh38:1:1000:G:T"]
    assert grch38[OTHER_BUILD_KEY].tolist()[0] == "GRCh37:4:55946200:A:C"
    assert pd.isna(grch38[OTHER_BUILD_KEY].iloc[1])  # hg19 '.': no GRCh37 position given


def test_v4_humvar_is_used_and_mutpred_v1_refused() -> None:
    """SYNTHETIC v4-named rows: HVAR beside HDIV, MutPred v1, repeated lines of a variant."""
    frame = read_dbnsfp(FIXTURES / "dbnsfp_v4_hvar_mutpred.tsv", "GRCh38").set_index("variant")
    both = frame.loc["GRCh38:7:140753336:A:T"]
    # HVAR 0.2;0.6 by the shared rule, never HDIV 0.99;0.9.
    assert both["polyphen2_score"] == pytest.approx(_rule("0.2;0.6", "polyphen2_score"))
    assert pd.isna(both["mutpred2_score"])  # MutPred_score 0.9 is MutPred v1
    warnings = both["annotation_warnings"]
    assert MUTPRED_V1_REFUSED in warnings
    assert "polyphen2_score" not in warnings
    assert both[OTHER_BUILD_KEY] == "GRCh37:7:140453136:A:T"
    # Two lines of one variant: HVAR '.' on the first, 0.3 on the second -> 0.3, no warning.
    split = frame.loc["GRCh38:7:140753337:C:G"]
    assert split["polyphen2_score"] == pytest.approx(0.3)
    assert "polyphen2_score" not in split["annotation_warnings"]
    # Both lines' transcripts in line order, by the shared rule.
    assert split["sift_score"] == pytest.approx(_rule("0.05;0.01", "sift_score"))
    # HDIV only on this row (HVAR '.;.'): refused, and said so.
    hdiv = frame.loc["GRCh38:7:140753340:G:A"]
    assert pd.isna(hdiv["polyphen2_score"])
    assert HDIV_REFUSED in hdiv["annotation_warnings"]
    assert len(frame) == 3


def test_v2_has_no_grch38_positions() -> None:
    with pytest.raises(ValueError, match="GRCh37"):
        read_dbnsfp(resolve("dbnsfp_v24_head"), "GRCh38")
