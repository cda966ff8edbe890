"""Ensembl VEP tab output with dbNSFP plugin fields -> canonical annotation table.

The REF allele is not in VEP's default columns; it comes from ``GIVEN_REF``
(the allele the user submitted, present when VEP ran with ``--check_ref`` or
``--everything``), falling back to ``USED_REF``. Rows whose alleles are VEP's
``-`` (insertions/deletions in VEP's trimmed notation) cannot be turned back into
VCF alleles without the reference genome, so they are dropped and counted.

The two declared files differ in column order (and end lines with CRLF), so
columns are always taken by name.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vipredict.io.readers._common import attach_keys, with_provenance
from vipredict.io.readers._values import collapse_by_variant, first_value, most_damaging
from vipredict.io.sources import get_source, resolve
from vipredict.schema import conform_annotations

VEP_SOURCES = {"benign": "vep_dbnsfp_benign", "pathogenic": "vep_dbnsfp_pathogenic"}

#: VEP/dbNSFP-plugin column -> canonical score; several candidates, first present wins.
SCORE_COLUMNS: dict[str, tuple[str, ...]] = {
    "sift_score": ("SIFT", "SIFT_score"),
    "polyphen2_score": ("PolyPhen", "Polyphen2_HDIV_score"),
    "fathmm_score": ("FATHMM_score",),
    "vest4_score": ("VEST4_score",),
    "mutpred2_score": ("MutPred_score",),
    "primateai_score": ("PrimateAI_score",),
    "mpc_score": ("MPC_score",),
    # dbNSFP's CADD_phred first; the CADD plugin's CADD_PHRED when dbNSFP lacks it.
    "cadd_phred": ("CADD_phred", "CADD_PHRED"),
    "gerp_rs": ("GERP++_RS",),
    "phylop100way": ("phyloP100way_vertebrate",),
    "phastcons100way": ("phastCons100way_vertebrate",),
    "revel_score": ("REVEL_score",),
    "bayesdel_noaf_score": ("BayesDel_noAF_score",),
    "af_global": ("1000Gp3_AF",),
}
_SEP = ","


def _header_line(path: Path) -> int:
    """Index of the ``#Allele`` header line (VEP writes ``##`` metadata lines before it)."""
    with Path(path).open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle):
            if line.startswith("#Allele") or line.startswith("#Uploaded_variation"):
                return number
            if not line.startswith("##"):
                break
    raise ValueError(f"{path} is not VEP tab output: no '#Allele' header line")


def _raw_table(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, sep="\t", skiprows=_header_line(path), dtype=str, keep_default_na=False)
    raw.columns = [c.strip().lstrip("#") for c in raw.columns]
    return raw


def _locus(raw: pd.DataFrame) -> pd.DataFrame:
    """chrom/pos from ``chrom:start-end``; ref from GIVEN_REF (else USED_REF); alt = Allele."""
    location = raw["Location"].str.extract(r"^(?P<chrom>[^:]+):(?P<pos>\d+)(?:-\d+)?$")
    ref_column = "GIVEN_REF" if "GIVEN_REF" in raw.columns else "USED_REF"
    if ref_column not in raw.columns:
        raise ValueError("VEP table lacks GIVEN_REF/USED_REF: rerun VEP with --check_ref")
    return pd.DataFrame(
        {
            "chrom": location["chrom"],
            "pos": location["pos"],
            "ref": raw[ref_column],
            "alt": raw["Allele"],
        },
        index=raw.index,
    )


def _scores(raw: pd.DataFrame) -> pd.DataFrame:
    """Most damaging transcript value per canonical score (see ``readers._values``)."""
    out = pd.DataFrame(index=raw.index)
    for canonical, candidates in SCORE_COLUMNS.items():
        present = [c for c in candidates if c in raw.columns]
        if present:
            out[canonical] = most_damaging(raw[present[0]], canonical, _SEP)
    return out


def _protein(raw: pd.DataFrame) -> pd.DataFrame:
    """aa_ref/aa_alt from ``Amino_acids`` (``S/L``); aa_pos = start of ``Protein_position``."""
    amino = raw.get("Amino_acids", pd.Series(pd.NA, index=raw.index)).astype("string")
    parts = amino.str.extract(r"^(?P<aa_ref>[A-Z*]+)/(?P<aa_alt>[A-Z*]+)$")
    position = raw.get("Protein_position", pd.Series(pd.NA, index=raw.index)).astype("string")
    parts["aa_pos"] = pd.to_numeric(position.str.extract(r"^(\d+)")[0], errors="coerce")
    return parts


def read_vep_tab(path: Path, build: str = "GRCh38", source_name: str | None = None) -> pd.DataFrame:
    """VEP tab file -> canonical annotations, one row per variant, plus ``consequence``."""
    raw = _raw_table(Path(path))
    frame = pd.concat([_locus(raw), _scores(raw), _protein(raw)], axis=1)
    if "SYMBOL" in raw.columns:
        frame["gene"] = first_value(raw["SYMBOL"], _SEP)
    if "Consequence" in raw.columns:
        frame["consequence"] = raw["Consequence"].astype("string")
    frame = attach_keys(frame, build, f"VEP table {Path(path).name}")
    dropped = frame.attrs["dropped"]
    frame = collapse_by_variant(frame, list(SCORE_COLUMNS))
    out = conform_annotations(with_provenance(frame, source_name))
    out.attrs["dropped"] = dropped
    return out


def read_vep_source(name: str) -> pd.DataFrame:
    """A declared VEP table (``vep_dbnsfp_benign``/``vep_dbnsfp_pathogenic``) with provenance."""
    return read_vep_tab(resolve(name), get_source(name).build, source_name=name)
