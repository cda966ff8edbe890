"""Readers: one per public file format, each returning a table keyed by variant.

:func:`detect_format` and :func:`read_any` let the prediction CLI accept whatever
annotation file a user has (VCF, VEP tab, dbNSFP, or a plain variant TSV)
without asking which it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd

Format = Literal["vcf", "vep", "dbnsfp", "tsv"]
_SNIFF_LINES = 200
_DBNSFP_MARKERS = ("pos(1-coor)", "pos(1-based)", "aaref", "genename")
_LOCUS_ALIASES = {
    "chrom": ("chrom", "#chrom", "chr", "#chr", "chromosome"),
    "pos": ("pos", "position", "start"),
    "ref": ("ref", "reference"),
    "alt": ("alt", "alternate"),
}


def _head(path: Path) -> list[str]:
    """First lines of a plain or gzip text file."""
    from vipredict.readers._common import open_text

    lines: list[str] = []
    with open_text(path) as handle:
        for _, line in zip(range(_SNIFF_LINES), handle, strict=False):
            lines.append(line.rstrip("\r\n"))
    return lines


def detect_format(path: Path) -> Format:
    """Sniff the header: ``##fileformat=VCF`` / VEP's ``#Allele`` / dbNSFP ``#chr`` / else tsv."""
    lines = _head(path)
    if lines and lines[0].startswith("##fileformat=VCF"):
        return "vcf"
    for line in lines:
        if line.startswith("## ENSEMBL VARIANT EFFECT PREDICTOR") or line.startswith("#Allele"):
            return "vep"
        if line.startswith("#chr\t") and any(m in line.split("\t") for m in _DBNSFP_MARKERS):
            return "dbnsfp"
        if not line.startswith("##"):
            break
    return "tsv"


def read_variant_tsv(path: Path, build: str) -> pd.DataFrame:
    """A plain TSV/CSV of variants: a ``variant`` key column, or chrom/pos/ref/alt columns."""
    from vipredict.readers._common import attach_keys, with_provenance
    from vipredict.variants import parse_variant_key

    lines = _head(path)
    header = lines[0] if lines else ""
    sep = "," if "," in header and "\t" not in header else "\t"
    raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    lower = {c.strip().lower(): c for c in raw.columns}
    if "variant" in lower:
        parsed = [parse_variant_key(k) for k in raw[lower["variant"]]]
        locus = pd.DataFrame({
            "chrom": [v.chrom for v in parsed], "pos": [v.pos for v in parsed],
            "ref": [v.ref for v in parsed], "alt": [v.alt for v in parsed],
        }, index=raw.index)
        build = parsed[0].build if parsed else build
    else:
        picked = {}
        for canonical, aliases in _LOCUS_ALIASES.items():
            match = next((lower[a] for a in aliases if a in lower), None)
            if match is None:
                raise ValueError(f"{path}: no {canonical!r} column and no 'variant' column")
            picked[canonical] = raw[match]
        locus = pd.DataFrame(picked)
    extra = raw.drop(columns=[c for c in raw.columns if c.strip().lower() in
                              {"variant", *(a for al in _LOCUS_ALIASES.values() for a in al)}])
    keyed = attach_keys(pd.concat([locus, extra], axis=1), build, f"variant table {path}")
    return with_provenance(keyed, None)


def read_any(path: Path, fmt: Format | None = None, build: str | None = None) -> pd.DataFrame:
    """Read a user file in any supported format (``fmt`` overrides sniffing).

    ``build`` defaults to each format's usual build: GRCh38 for VCF/VEP/TSV,
    GRCh37 for dbNSFP (whose v2 positions are hg19).
    """
    from vipredict.readers.clinvar import read_clinvar_vcf
    from vipredict.readers.dbnsfp import read_dbnsfp
    from vipredict.readers.vep import read_vep_tab

    path = Path(path)
    kind = fmt or detect_format(path)
    if kind == "vcf":
        return read_clinvar_vcf(path, build or "GRCh38")
    if kind == "vep":
        return read_vep_tab(path, build or "GRCh38")
    if kind == "dbnsfp":
        return read_dbnsfp(path, build or "GRCh37")
    if kind == "tsv":
        return read_variant_tsv(path, build or "GRCh38")
    raise ValueError(f"unknown format {fmt!r}; expected vcf, vep, dbnsfp or tsv")
