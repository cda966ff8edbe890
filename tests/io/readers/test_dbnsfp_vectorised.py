"""The vectorised dbNSFP parser gives exactly the table the per-row pandas parser gave.

The oracle is the previous implementation, kept here verbatim (test-only): string
splitting per cell with pandas, one reduction per column. The new parser
(:func:`vipredict.io.readers.dbnsfp.dbnsfp_annotations`) runs on Arrow compute; both
must agree column for column, dtype for dtype, on every real dbNSFP extract in the
mirror and on SYNTHETIC edge cases (all-missing cells, mixed ``.``/numbers, a
non-numeric score, v2's repeated lines of one variant, v4 rows on both builds).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vipredict.io.readers._common import attach_keys, with_provenance
from vipredict.io.readers._values import (
    MISSING_TOKENS,
    first_positive_int,
    first_value,
    reduce_values,
)
from vipredict.io.readers.dbnsfp import (
    DBNSFP_SOURCES,
    EXTRA_COLUMNS,
    OLD_SPELLINGS,
    OTHER_BUILD_KEY,
    USED_COLUMNS,
    builds_of,
    dbnsfp_annotations,
)
from vipredict.io.readers.vep import NOT_SUBSTITUTED, WARNINGS, harmonised_scores, score_warnings
from vipredict.io.sources import get_source, resolve
from vipredict.schema import conform_annotations
from vipredict.variants import key_column, normalise_build

FIXTURES = Path(__file__).parent / "fixtures"

# --------------------------------------------------------------------------- the oracle
# The per-row implementation this parser replaced, unchanged but for names.

_SEP = ";"
_V2_LOCUS = {"GRCh37": ("#chr", "pos(1-coor)")}
_V4_LOCUS = {"GRCh38": ("#chr", "pos(1-based)"), "GRCh37": ("hg19_chr", "hg19_pos(1-based)")}
_LOCUS_NAMES = frozenset(c for loci in (_V2_LOCUS, _V4_LOCUS) for p in loci.values() for c in p)


def _old_locus_columns(columns: pd.Index, build: str) -> tuple[str, str]:
    found = builds_of(columns)
    if build in found:
        return found[build]
    raise ValueError("no locus")


def _old_other_build_key(raw: pd.DataFrame, build: str) -> pd.Series:
    others = {b: pair for b, pair in builds_of(raw.columns).items() if b != build}
    keys = pd.Series(pd.NA, index=raw.index, dtype="string")
    for other, (chrom, pos) in others.items():
        position = pd.to_numeric(raw[pos], errors="coerce")
        usable = position.notna() & (position >= 1) & raw[chrom].notna()
        if usable.any():
            keys[usable] = key_column(
                other, raw.loc[usable, chrom], position[usable].astype("int64"),
                raw.loc[usable, "ref"], raw.loc[usable, "alt"],
            )  # fmt: skip
    return keys


def _old_join_repeated(keyed: pd.DataFrame, text: list[str]) -> pd.DataFrame:
    repeated = keyed["variant"].duplicated(keep=False)
    if not repeated.any():
        return keyed
    groups = keyed[repeated].groupby("variant", sort=False)
    cells = (keyed.loc[repeated, text].astype(object) + _SEP).groupby(keyed["variant"][repeated])
    joined = cells.sum().apply(lambda column: column.str[: -len(_SEP)])
    firsts = groups[[c for c in keyed.columns if c not in text and c != "variant"]].first()
    merged = pd.concat([firsts, joined], axis=1).reset_index()[list(keyed.columns)]
    first_line = keyed.index.to_series()[repeated].groupby(keyed["variant"][repeated]).min()
    merged.index = merged["variant"].map(first_line).to_numpy()
    return pd.concat([keyed[~repeated], merged]).sort_index(kind="stable").reset_index(drop=True)


def _old_blank_if_all_missing(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.copy()
    for columns, _ in NOT_SUBSTITUTED.values():
        for column in (c for c in columns if c in out.columns):
            tokens = out[column].astype("string").str.split(_SEP, regex=False).explode()
            given = (~tokens.str.strip().isin(MISSING_TOKENS)).groupby(level=0).any()
            out[column] = out[column].where(given.reindex(out.index, fill_value=False), ".")
    return out


def _old_text_values(raw: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=raw.index)
    for column, canonical in (("genename", "gene"), ("aaref", "aa_ref"), ("aaalt", "aa_alt")):
        if column in raw.columns:
            out[canonical] = first_value(raw[column], _SEP)
    if "aapos" in raw.columns:
        out["aa_pos"] = first_positive_int(raw["aapos"], _SEP)
    return out


def _old_extra_values(raw: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=raw.index)
    for column, canonical in EXTRA_COLUMNS.items():
        if column not in raw.columns:
            continue
        values = reduce_values(raw[column], canonical, _SEP)
        out[canonical] = scores[canonical].fillna(values) if canonical in scores else values
    return out


def old_dbnsfp_annotations(
    raw: pd.DataFrame, build: str, what: str, source_name: str | None = None
) -> pd.DataFrame:
    canonical_build = normalise_build(build)
    chrom, pos = _old_locus_columns(raw.columns, canonical_build)
    raw = raw.rename(columns={o: n for o, n in OLD_SPELLINGS.items() if n not in raw.columns})
    text = [c for c in raw.columns if c in USED_COLUMNS and c not in _LOCUS_NAMES]
    text = [c for c in text if c not in ("ref", "alt")]
    frame = raw[text].assign(
        chrom=raw[chrom], pos=raw[pos], ref=raw["ref"], alt=raw["alt"],
        **{OTHER_BUILD_KEY: _old_other_build_key(raw, canonical_build)},
    )  # fmt: skip
    keyed = attach_keys(frame, canonical_build, what)
    dropped = keyed.attrs["dropped"]
    rows = _old_blank_if_all_missing(_old_join_repeated(keyed, text))
    scores = harmonised_scores(rows, _SEP)
    scores = scores.assign(**_old_extra_values(rows, scores))
    out = pd.concat(
        [rows[["variant", "build", "chrom", "pos", "ref", "alt"]], _old_text_values(rows), scores],
        axis=1,
    )
    out[OTHER_BUILD_KEY] = rows[OTHER_BUILD_KEY].astype("string")
    out[WARNINGS] = score_warnings(rows, scores, _SEP)
    out = conform_annotations(with_provenance(out, source_name))
    out.attrs["dropped"] = dropped
    return out


# --------------------------------------------------------------------------- comparisons


def _raw(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def assert_same(raw: pd.DataFrame, build: str, source_name: str | None = None) -> pd.DataFrame:
    """Old and new parsers on the same text give equal tables and drop counts."""
    expected = old_dbnsfp_annotations(raw.copy(), build, "test", source_name)
    found = dbnsfp_annotations(raw.copy(), build, "test", source_name)
    pd.testing.assert_frame_equal(found, expected, check_exact=True)
    assert found.attrs["dropped"] == expected.attrs["dropped"]
    return found


@pytest.mark.parametrize("name", DBNSFP_SOURCES)
def test_real_extracts_parse_as_before(name: str) -> None:
    raw = _raw(resolve(name))
    found = assert_same(raw, get_source(name).build, name)
    assert len(found) > 0


@pytest.mark.parametrize("build", ["GRCh37", "GRCh38"])
@pytest.mark.parametrize(
    "fixture", ["dbnsfp_v4_semicolon_transcripts.tsv", "dbnsfp_v4_hvar_mutpred.tsv"]
)
def test_v4_fixtures_parse_as_before(fixture: str, build: str) -> None:
    assert_same(_raw(FIXTURES / fixture), build)


def _synthetic_v2(rows: list[dict[str, str]]) -> pd.DataFrame:
    """SYNTHETIC dbNSFP v2-named lines: every column the reader uses, '.' unless given."""
    columns = ["#chr", "pos(1-coor)", "ref", "alt", "aaref", "aaalt", "genename", "aapos",
               "SIFT_score", "Polyphen2_HDIV_score", "Polyphen2_HVAR_score", "FATHMM_score",
               "MutPred_score", "GERP++_RS", "29way_logOdds", "1000Gp1_AF", "1000Gp3_AF",
               "ESP6500_AA_AF", "CADD_phred", "MPC_score", "REVEL_score"]  # fmt: skip
    return pd.DataFrame([{c: row.get(c, ".") for c in columns} for row in rows], dtype=str)


EDGE_ROWS = [
    # all cells missing, in every spelling of missing
    {"#chr": "1", "pos(1-coor)": "100", "ref": "A", "alt": "G", "SIFT_score": ".;.;.",
     "FATHMM_score": "-;NA", "Polyphen2_HVAR_score": "", "aapos": "-1;-1"},
    # mixed '.' and numbers: the first number is taken, wherever it is
    {"#chr": "1", "pos(1-coor)": "101", "ref": "C", "alt": "T", "SIFT_score": ".;0.03;0.5",
     "FATHMM_score": " 1.5 ;.", "aapos": "-1;17;4", "genename": ".;BRCA2",
     "GERP++_RS": "+2.", "CADD_phred": ".5e1", "MPC_score": "nan;1"},
    # non-numeric scores: left missing and named, never substituted
    {"#chr": "1", "pos(1-coor)": "102", "ref": "G", "alt": "A", "SIFT_score": "high;0.2",
     "CADD_phred": "0.1x", "REVEL_score": "deleterious(0.7)", "MPC_score": "inf"},
    # missing tokens padded with spaces: missing, never named as non-numeric
    {"#chr": "1", "pos(1-coor)": "103", "ref": "G", "alt": "C", "CADD_phred": " . ; NA",
     "SIFT_score": "\t-\t;0.3", "REVEL_score": " "},
    # HDIV only: refused; MutPred v1 only: refused; HVAR '.;.' beside HDIV
    {"#chr": "2", "pos(1-coor)": "50", "ref": "T", "alt": "C", "Polyphen2_HDIV_score": "0.9;.",
     "Polyphen2_HVAR_score": ".;.", "MutPred_score": "0.4"},
    # HDIV all missing: nothing to refuse, no warning
    {"#chr": "2", "pos(1-coor)": "51", "ref": "T", "alt": "G", "Polyphen2_HDIV_score": ".;.",
     "MutPred_score": ".,."},
    # repeated v2 lines of one variant, another variant between them
    {"#chr": "3", "pos(1-coor)": "10", "ref": "A", "alt": "C", "SIFT_score": ".",
     "aaref": "L", "aaalt": "V", "genename": "G1", "aapos": "5"},
    {"#chr": "3", "pos(1-coor)": "10", "ref": "A", "alt": "T", "SIFT_score": "0.4"},
    {"#chr": "3", "pos(1-coor)": "10", "ref": "A", "alt": "C", "SIFT_score": "0.01",
     "aaref": "M", "aaalt": "I", "genename": "G2", "aapos": "9", "1000Gp1_AF": "0.2"},
    # rows that cannot be keyed: counted, dropped
    {"#chr": "chrUn", "pos(1-coor)": "7", "ref": "A", "alt": "G"},
    {"#chr": "4", "pos(1-coor)": "x", "ref": "A", "alt": "G"},
    {"#chr": "4", "pos(1-coor)": "8", "ref": "A", "alt": "A"},
    {"#chr": "chr4", "pos(1-coor)": "9", "ref": "a", "alt": "g ", "1000Gp3_AF": "0.01",
     "1000Gp1_AF": "0.5"},
    {"#chr": "MT", "pos(1-coor)": "10", "ref": "N", "alt": "T", "ESP6500_AA_AF": "0.1;0.2"},
]  # fmt: skip


def test_synthetic_edge_cases_parse_as_before() -> None:
    found = assert_same(_synthetic_v2(EDGE_ROWS), "GRCh37").set_index("variant")
    # and what they mean, so that both parsers being wrong the same way shows too
    assert found.loc["GRCh37:1:101:C:T", "sift_score"] == 0.03
    assert found.loc["GRCh37:1:101:C:T", "aa_pos"] == 17
    assert found.loc["GRCh37:1:101:C:T", "gene"] == "BRCA2"
    assert pd.isna(found.loc["GRCh37:1:100:A:G", "sift_score"])
    assert pd.isna(found.loc["GRCh37:1:102:G:A", "cadd_phred"])
    assert "non-numeric CADD_phred value '0.1x' ignored" in found.loc["GRCh37:1:102:G:A", WARNINGS]
    assert pd.isna(found.loc["GRCh37:1:103:G:C", "cadd_phred"])
    assert found.loc["GRCh37:1:103:G:C", "sift_score"] == 0.3
    assert found.loc["GRCh37:1:103:G:C", WARNINGS] == ""
    assert pd.isna(found.loc["GRCh37:2:50:T:C", "polyphen2_score"])
    assert "Polyphen2_HDIV_score given" in found.loc["GRCh37:2:50:T:C", WARNINGS]
    assert found.loc["GRCh37:2:51:T:G", WARNINGS] == ""
    assert found.loc["GRCh37:3:10:A:C", "sift_score"] == 0.01  # '.' then 0.01
    assert found.loc["GRCh37:3:10:A:C", "gene"] == "G1"
    assert list(found.index[:3]) == ["GRCh37:1:100:A:G", "GRCh37:1:101:C:T", "GRCh37:1:102:G:A"]


def test_synthetic_v4_rows_on_both_builds_parse_as_before() -> None:
    """SYNTHETIC v4-named rows: hg19 position missing, '.', or beyond 0; chr-prefixed names."""
    raw = _raw(FIXTURES / "dbnsfp_v4_semicolon_transcripts.tsv")
    extra = raw.iloc[[0, 0, 0]].copy()
    extra["hg19_pos(1-based)"] = ["0", ".", "12.0"]
    extra["hg19_chr"] = ["4", "4", "chr4"]
    extra["pos(1-based)"] = ["55080001", "55080002", "55080003"]
    both = pd.concat([raw, extra], ignore_index=True)
    for build in ("GRCh37", "GRCh38"):
        assert_same(both, build)
