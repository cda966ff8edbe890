"""dbNSFP TSV (v2.x and v4.x column names) -> canonical annotation table.

dbNSFP renamed columns between releases (``pos(1-coor)`` -> ``pos(1-based)``,
``29way_logOdds`` -> ``SiPhy_29way_logOdds``) and v4 moved the primary
coordinates to GRCh38 with ``hg19_chr``/``hg19_pos(1-based)`` beside them. One
mapping table (``COLUMN_MAP``) covers all spellings, so a new release is one
edit. Multi-transcript cells are ``;``-joined and reduced by the shared
most-damaging rule of :mod:`vipredict.readers._values`.

Not mapped on purpose: v2.3's bare ``phyloP`` and v2.4's ``phyloP46way_*`` are
46-way scores, not the 100-way ``phylop100way`` the models use.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vipredict.io.readers._common import attach_keys, with_provenance
from vipredict.io.readers._values import (
    collapse_by_variant,
    first_positive_int,
    first_value,
    most_damaging,
)
from vipredict.io.sources import get_source, resolve
from vipredict.schema import conform_annotations
from vipredict.variants import normalise_build

DBNSFP_SOURCES = ("dbnsfp_v23_test", "dbnsfp_v24_head", "dbnsfp_v24_chr4")

#: dbNSFP column (any release) -> canonical name. Scores are reduced over transcripts.
COLUMN_MAP: dict[str, str] = {
    "SIFT_score": "sift_score",
    "Polyphen2_HDIV_score": "polyphen2_score",
    "FATHMM_score": "fathmm_score",
    "VEST4_score": "vest4_score",
    "MutPred_score": "mutpred2_score",
    "PrimateAI_score": "primateai_score",
    "MPC_score": "mpc_score",
    "CADD_phred": "cadd_phred",
    "REVEL_score": "revel_score",
    "BayesDel_noAF_score": "bayesdel_noaf_score",
    "GERP++_RS": "gerp_rs",
    "phyloP100way_vertebrate": "phylop100way",
    "phastCons100way_vertebrate": "phastcons100way",
    "SiPhy_29way_logOdds": "siphy_29way",
    "29way_logOdds": "siphy_29way",
    "1000Gp3_AF": "af_global",
    "1000Gp1_AF": "af_global",
    # Per-population frequencies, returned as extra columns.
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
#: Primary coordinates per release: (chrom, pos) columns and the build they are on.
_V2_LOCUS = ("#chr", "pos(1-coor)")
_V4_LOCUS = {"GRCh38": ("#chr", "pos(1-based)"), "GRCh37": ("hg19_chr", "hg19_pos(1-based)")}
_TEXT_COLUMNS = ("genename", "aaref", "aaalt", "aapos", "ref", "alt")
#: Every column the reader uses: big files are read with only these (dbNSFP v4 has ~400).
USED_COLUMNS = frozenset(
    (*COLUMN_MAP, *_V2_LOCUS, *(c for pair in _V4_LOCUS.values() for c in pair), *_TEXT_COLUMNS)
)


def _locus_columns(columns: pd.Index, build: str) -> tuple[str, str]:
    """Which chrom/pos columns hold coordinates on ``build`` (v2 files are GRCh37 only)."""
    if _V2_LOCUS[1] in columns:
        if build != "GRCh37":
            raise ValueError("dbNSFP v2 files carry GRCh37 (hg19) positions only")
        return _V2_LOCUS
    chrom, pos = _V4_LOCUS[build]
    if pos not in columns:
        raise ValueError(f"not a dbNSFP table: no {pos!r} column for {build}")
    return chrom, pos


def _mapped_values(raw: pd.DataFrame) -> pd.DataFrame:
    """Canonical numeric columns; when two spellings map to one name, the first present wins."""
    out = pd.DataFrame(index=raw.index)
    for column, canonical in COLUMN_MAP.items():
        if column in raw.columns and canonical not in out.columns:
            out[canonical] = most_damaging(raw[column], canonical, _SEP)
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


def read_dbnsfp(path: Path, build: str = "GRCh37", source_name: str | None = None) -> pd.DataFrame:
    """dbNSFP TSV (plain or gzip) -> canonical annotations + per-population AF extras.

    One row per variant: dbNSFP v2 repeats a variant per transcript when the
    amino-acid change differs, and those lines are collapsed like ``;``-joined cells.
    """
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return dbnsfp_annotations(raw, build, f"dbNSFP {Path(path).name}", source_name)


def dbnsfp_annotations(
    raw: pd.DataFrame, build: str, what: str, source_name: str | None = None
) -> pd.DataFrame:
    """dbNSFP rows already read as text -> canonical annotations.

    Split from :func:`read_dbnsfp` so that a genome-sized file can be streamed in
    chunks (``pd.read_csv(..., chunksize=, usecols=USED_COLUMNS.__contains__)``)
    through exactly the same mapping.
    """
    canonical_build = normalise_build(build)
    chrom, pos = _locus_columns(raw.columns, canonical_build)
    locus = pd.DataFrame(
        {"chrom": raw[chrom], "pos": raw[pos], "ref": raw["ref"], "alt": raw["alt"]}
    )
    frame = pd.concat([locus, _text_values(raw), _mapped_values(raw)], axis=1)
    frame = attach_keys(frame, canonical_build, what)
    dropped = frame.attrs["dropped"]
    frame = collapse_by_variant(frame, sorted(set(COLUMN_MAP.values())))
    out = conform_annotations(with_provenance(frame, source_name))
    out.attrs["dropped"] = dropped
    return out


def read_dbnsfp_source(name: str) -> pd.DataFrame:
    """A declared dbNSFP extract (``dbnsfp_v23_test``, ...) with provenance."""
    return read_dbnsfp(resolve(name), get_source(name).build, source_name=name)
