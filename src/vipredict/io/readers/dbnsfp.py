"""dbNSFP TSV (v2.x, v3.x and v4.x column names) -> canonical annotation table.

Scores go through the harmonised mapping shared with the VEP reader
(:data:`vipredict.io.readers.vep.SCORE_COLUMNS`): each canonical score comes only
from a column of the quantity the model was trained on. PolyPhen-2 is
``Polyphen2_HVAR_score`` (HumVar, as ClinGen's ``pph2_prob``), never
``Polyphen2_HDIV_score``; dbNSFP's ``MutPred_score`` is MutPred v1, not MutPred2.
A value of another quantity is left missing and ``annotation_warnings`` says why.
dbNSFP renamed columns between releases (``pos(1-coor)`` -> ``pos(1-based)``,
``29way_logOdds`` -> ``SiPhy_29way_logOdds``); older spellings are renamed to the
current ones first (:data:`OLD_SPELLINGS`), so a new release is one edit.

Positions on both builds: v3/v4 files key variants on GRCh38 (``#chr``,
``pos(1-based)``) and give GRCh37 beside them (``hg19_chr``,
``hg19_pos(1-based)``). The reader keys each row on the build asked for and puts
the same variant's key on the other build, when the file gives it, in
:data:`OTHER_BUILD_KEY`, so the store can index the row under both builds
(:mod:`vipredict.store.liftover`). v2 files give GRCh37 (``pos(1-coor)``) and
hg18/NCBI36 (``hg18_pos(1-coor)``), a build vipredict does not key: they are
GRCh37 only.

A variant's several transcripts are ``;``-joined in a cell, and v2 repeats a
variant on several lines when the amino-acid change differs: those lines are
joined into ``;``-joined cells first, so both cases go through the same
reduction (:func:`vipredict.io.readers._values.reduce_values`).

Not mapped on purpose: v2.3's bare ``phyloP`` and v2.4's ``phyloP46way_*`` are
46-way scores, not the 100-way ``phylop100way`` the models use.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vipredict.io.readers._common import attach_keys, with_provenance
from vipredict.io.readers._values import (
    MISSING_TOKENS,
    first_positive_int,
    first_value,
    reduce_values,
)
from vipredict.io.readers.vep import (
    NOT_SUBSTITUTED,
    SCORE_COLUMNS,
    WARNINGS,
    harmonised_scores,
    score_warnings,
)
from vipredict.io.sources import get_source, resolve
from vipredict.schema import conform_annotations
from vipredict.variants import key_column, normalise_build

DBNSFP_SOURCES = ("dbnsfp_v23_test", "dbnsfp_v24_head", "dbnsfp_v24_chr4")

#: Column of the same variant's key on the file's other build (NA when it gives none).
OTHER_BUILD_KEY = "other_build_variant"

#: Older dbNSFP spellings -> the name the harmonised mapping reads (same quantity).
OLD_SPELLINGS: dict[str, str] = {"29way_logOdds": "SiPhy_29way_logOdds"}

#: Columns beside the harmonised scores: 1000 Genomes phase 1 global AF when phase 3 is
#: absent (v2), and per-population frequencies returned as extra columns.
EXTRA_COLUMNS: dict[str, str] = {
    "1000Gp1_AF": "af_global",
    "1000Gp1_AFR_AF": "tgp1_afr_af",
    "1000Gp1_EUR_AF": "tgp1_eur_af",
    "1000Gp1_AMR_AF": "tgp1_amr_af",
    "1000Gp1_ASN_AF": "tgp1_asn_af",
    "1000Gp3_AFR_AF": "tgp3_afr_af",
    "1000Gp3_EUR_AF": "tgp3_eur_af",
    "1000Gp3_AMR_AF": "tgp3_amr_af",
    "1000Gp3_EAS_AF": "tgp3_eas_af",
    "1000Gp3_SAS_AF": "tgp3_sas_af",
    "ESP6500_AA_AF": "esp_aa_af",
    "ESP6500_EA_AF": "esp_ea_af",
}
_SEP = ";"
#: Coordinates per release and build: (chrom, pos) columns.
_V2_LOCUS = {"GRCh37": ("#chr", "pos(1-coor)")}
_V4_LOCUS = {"GRCh38": ("#chr", "pos(1-based)"), "GRCh37": ("hg19_chr", "hg19_pos(1-based)")}
_TEXT_COLUMNS = ("genename", "aaref", "aaalt", "aapos", "ref", "alt")
_LOCUS_NAMES = frozenset(c for loci in (_V2_LOCUS, _V4_LOCUS) for p in loci.values() for c in p)
#: Every column the reader uses: big files are read with only these (dbNSFP v4 has ~400).
USED_COLUMNS = frozenset(
    (
        *(c for columns in SCORE_COLUMNS.values() for c in columns),
        *(c for columns, _ in NOT_SUBSTITUTED.values() for c in columns),
        *OLD_SPELLINGS,
        *EXTRA_COLUMNS,
        *_LOCUS_NAMES,
        *_TEXT_COLUMNS,
    )
)


def builds_of(columns: pd.Index) -> dict[str, tuple[str, str]]:
    """Every build the file gives coordinates on -> its (chrom, pos) columns."""
    loci = _V2_LOCUS if _V2_LOCUS["GRCh37"][1] in columns else _V4_LOCUS
    return {build: pair for build, pair in loci.items() if pair[1] in columns}


def _locus_columns(columns: pd.Index, build: str) -> tuple[str, str]:
    """Which chrom/pos columns hold coordinates on ``build`` (v2 files are GRCh37 only)."""
    found = builds_of(columns)
    if build in found:
        return found[build]
    if _V2_LOCUS["GRCh37"][1] in columns:
        raise ValueError("dbNSFP v2 files carry GRCh37 (hg19) positions only")
    raise ValueError(f"not a dbNSFP table: no {_V4_LOCUS[build][1]!r} column for {build}")


def _other_build_key(raw: pd.DataFrame, build: str) -> pd.Series:
    """The key of each row on the file's other build (NA where it gives no position)."""
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


def _join_repeated(keyed: pd.DataFrame, text: list[str]) -> pd.DataFrame:
    """One row per variant: the ``text`` cells of repeated lines ``;``-joined, the rest first.

    dbNSFP v2 lists a variant once per amino-acid change; joining the lines makes
    them the multi-transcript cell they stand for, so one reduction serves both.
    """
    repeated = keyed["variant"].duplicated(keep=False)
    if not repeated.any():
        return keyed
    groups = keyed[repeated].groupby("variant", sort=False)
    # Summing "cell;" strings joins them in one vectorised pass (agg(join) is per group).
    cells = (keyed.loc[repeated, text].astype(object) + _SEP).groupby(keyed["variant"][repeated])
    joined = cells.sum().apply(lambda column: column.str[: -len(_SEP)])
    firsts = groups[[c for c in keyed.columns if c not in text and c != "variant"]].first()
    merged = pd.concat([firsts, joined], axis=1).reset_index()[list(keyed.columns)]
    # Each variant at its first line's place, as the lines came.
    first_line = keyed.index.to_series()[repeated].groupby(keyed["variant"][repeated]).min()
    merged.index = merged["variant"].map(first_line).to_numpy()
    return pd.concat([keyed[~repeated], merged]).sort_index(kind="stable").reset_index(drop=True)


def _blank_if_all_missing(rows: pd.DataFrame) -> pd.DataFrame:
    """Refused columns (HDIV, MutPred v1) whose every transcript is missing (``.;.``) -> ``.``.

    The warning "only Polyphen2_HDIV_score given" must name a value that is there,
    not a cell of placeholders.
    """
    out = rows.copy()
    for columns, _ in NOT_SUBSTITUTED.values():
        for column in (c for c in columns if c in out.columns):
            tokens = out[column].astype("string").str.split(_SEP, regex=False).explode()
            given = (~tokens.str.strip().isin(MISSING_TOKENS)).groupby(level=0).any()
            out[column] = out[column].where(given.reindex(out.index, fill_value=False), ".")
    return out


def _text_values(raw: pd.DataFrame) -> pd.DataFrame:
    """gene and protein change from the first transcript listed."""
    out = pd.DataFrame(index=raw.index)
    for column, canonical in (("genename", "gene"), ("aaref", "aa_ref"), ("aaalt", "aa_alt")):
        if column in raw.columns:
            out[canonical] = first_value(raw[column], _SEP)
    if "aapos" in raw.columns:
        out["aa_pos"] = first_positive_int(raw["aapos"], _SEP)
    return out


def _extra_values(raw: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Per-population frequencies, and v2's phase 1 global AF where phase 3 is absent."""
    out = pd.DataFrame(index=raw.index)
    for column, canonical in EXTRA_COLUMNS.items():
        if column not in raw.columns:
            continue
        values = reduce_values(raw[column], canonical, _SEP)
        out[canonical] = scores[canonical].fillna(values) if canonical in scores else values
    return out


def read_dbnsfp(path: Path, build: str = "GRCh37", source_name: str | None = None) -> pd.DataFrame:
    """dbNSFP TSV (plain or gzip) -> canonical annotations + per-population AF extras.

    One row per variant: dbNSFP v2 repeats a variant per transcript when the
    amino-acid change differs, and those lines are joined like ``;``-joined cells.
    """
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return dbnsfp_annotations(raw, build, f"dbNSFP {Path(path).name}", source_name)


def dbnsfp_annotations(
    raw: pd.DataFrame, build: str, what: str, source_name: str | None = None
) -> pd.DataFrame:
    """dbNSFP rows already read as text -> canonical annotations.

    Split from :func:`read_dbnsfp` so that a genome-sized file can be streamed in
    chunks (``pd.read_csv(..., chunksize=, usecols=USED_COLUMNS.__contains__)``)
    through exactly the same mapping. Columns besides the canonical ones:
    :data:`OTHER_BUILD_KEY`, ``annotation_warnings`` and the per-population extras.
    """
    canonical_build = normalise_build(build)
    chrom, pos = _locus_columns(raw.columns, canonical_build)
    raw = raw.rename(columns={o: n for o, n in OLD_SPELLINGS.items() if n not in raw.columns})
    text = [c for c in raw.columns if c in USED_COLUMNS and c not in _LOCUS_NAMES]
    text = [c for c in text if c not in ("ref", "alt")]
    frame = raw[text].assign(
        chrom=raw[chrom], pos=raw[pos], ref=raw["ref"], alt=raw["alt"],
        **{OTHER_BUILD_KEY: _other_build_key(raw, canonical_build)},
    )  # fmt: skip
    keyed = attach_keys(frame, canonical_build, what)
    dropped = keyed.attrs["dropped"]
    rows = _blank_if_all_missing(_join_repeated(keyed, text))
    scores = harmonised_scores(rows, _SEP)
    scores = scores.assign(**_extra_values(rows, scores))
    out = pd.concat(
        [rows[["variant", "build", "chrom", "pos", "ref", "alt"]], _text_values(rows), scores],
        axis=1,
    )
    out[OTHER_BUILD_KEY] = rows[OTHER_BUILD_KEY].astype("string")
    out[WARNINGS] = score_warnings(rows, scores, _SEP)
    out = conform_annotations(with_provenance(out, source_name))
    out.attrs["dropped"] = dropped
    return out


def read_dbnsfp_source(name: str) -> pd.DataFrame:
    """A declared dbNSFP extract (``dbnsfp_v23_test``, ...) with provenance."""
    return read_dbnsfp(resolve(name), get_source(name).build, source_name=name)
