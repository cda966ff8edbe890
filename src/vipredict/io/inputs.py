"""The variants users bring: one input record, one SNV rule, one parser per input format.

Whatever the entry point (``vipredict predict``, ``vipredict annotate``, ``POST
/predict``, ``POST /predict/vcf``, ``POST /queue``, ``vipredict queue build``), a
requested variant becomes an :class:`InputRecord` here: its label as the user
wrote it, and either its canonical key or the named reason it has none
(``malformed_record``, ``unknown_contig``, ``unknown_build``, ``multi_allelic``,
``not_snv``). A bad record never stops the rest of the file.

Formats (:func:`detect_format`): VCF (records looked up in the feature store),
TSV of keys or of chrom/pos/ref/alt columns (likewise), and the annotated formats
VEP tab and dbNSFP, whose rows carry their own annotations (:func:`read_inputs`
returns those too, for the scorer to build features from).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from vipredict.io.files import open_text
from vipredict.io.readers.dbnsfp import read_dbnsfp
from vipredict.io.readers.vep import read_vep_tab
from vipredict.variants import (
    Variant,
    VariantError,
    make_variant,
    normalise_build,
    parse_variant_key,
)

Format = Literal["vcf", "vep", "dbnsfp", "tsv"]
FORMATS: tuple[str, ...] = ("vcf", "vep", "dbnsfp", "tsv")
DEFAULT_BUILD = "GRCh37"
_SNIFF_LINES = 200
_DBNSFP_MARKERS = ("pos(1-coor)", "pos(1-based)", "aaref", "genename")
_BUILD_HINTS = {"GRCh38": ("grch38", "hg38", "b38"), "GRCh37": ("grch37", "hg19", "b37", "hs37")}
#: Accepted spellings of the locus columns of a variant table (lower case, ``#`` stripped).
LOCUS_ALIASES = {
    "build": ("build", "assembly", "genome"),
    "chrom": ("chrom", "chr", "chromosome", "contig"),
    "pos": ("pos", "position", "start"),
    "ref": ("ref", "reference"),
    "alt": ("alt", "alternate"),
}


@dataclass(frozen=True)
class InputRecord:
    """One requested variant as the user wrote it, with its key or the reason it has none."""

    label: str
    key: str | None
    error: str = ""
    detail: str = ""


def _checked(label: str, variant: Variant) -> InputRecord:
    """The one SNV rule: vipredict scores single-nucleotide variants only."""
    if not variant.is_snv:
        return InputRecord(
            label, None, "not_snv", f"{variant.key} is not a single-nucleotide variant"
        )
    return InputRecord(label, variant.key)


def record_from_key(text: str) -> InputRecord:
    """A record from a ``build:chrom:pos:ref:alt`` key."""
    try:
        return _checked(text, parse_variant_key(text))
    except VariantError as error:
        return InputRecord(text, None, error.reason, error.detail)


def record_from_parts(
    build: object, chrom: object, pos: object, ref: object, alt: object, label: str | None = None
) -> InputRecord:
    """A record from the five parts of a variant (``label`` defaults to them joined by ``:``)."""
    parts = (build, chrom, pos, ref, alt)
    label = ":".join("" if p is None else str(p) for p in parts) if label is None else label
    try:
        return _checked(label, make_variant(*(str(p) for p in parts)))
    except VariantError as error:
        return InputRecord(label, None, error.reason, error.detail)


def failed_record(label: str, reason: str, detail: str = "") -> InputRecord:
    return InputRecord(label, None, reason, detail)


# --------------------------------------------------------------------------- VCF


def build_from_header(lines: Iterable[str], default: str) -> str:
    """The assembly a VCF header declares (reference/contig/assembly lines), else ``default``."""
    for line in lines:
        lowered = line.lower()
        if lowered.startswith(("##reference", "##contig", "##assembly")):
            for build, hints in _BUILD_HINTS.items():
                if any(hint in lowered for hint in hints):
                    return build
    return normalise_build(default)


def vcf_records(lines: Iterable[str], build: str) -> Iterator[InputRecord]:
    """Records of VCF lines (header lines skipped); a multi-allelic record gives one per ALT.

    Line numbers in the labels of malformed lines count every line given, so
    passing a whole file labels them with the file's own line numbers.
    """
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 5:
            yield failed_record(
                f"line {number}: {line[:60]}", "malformed_record", "fewer than 5 VCF columns"
            )
            continue
        chrom, pos, _id, ref, alts = fields[:5]
        for alt in alts.split(","):
            yield record_from_parts(build, chrom, pos, ref, alt, label=f"{chrom}:{pos}:{ref}:{alt}")


def vcf_text_records(text: str, default_build: str) -> list[InputRecord]:
    """Records of a whole VCF held as text (uploads); the header may name the build.

    Lines are split on ``\\n`` only (a stray ``\\r`` is trimmed by the parser), so
    no other character that Python treats as a line break can split a record.
    """
    lines = text.split("\n")
    build = build_from_header((line for line in lines if line.startswith("##")), default_build)
    return list(vcf_records(lines, build))


def read_vcf_records(path: Path, default_build: str = DEFAULT_BUILD) -> list[InputRecord]:
    with open_text(path) as handle:
        return vcf_text_records(handle.read(), default_build)


# --------------------------------------------------------------------------- TSV of variants


def _head(path: Path) -> list[str]:
    """First lines of a plain or gzip text file."""
    lines: list[str] = []
    with open_text(path) as handle:
        for _, line in zip(range(_SNIFF_LINES), handle, strict=False):
            lines.append(line.rstrip("\r\n"))
    return lines


def _locus_columns(columns: Sequence[str]) -> dict[str, str]:
    """Canonical name -> the table's column, for the locus columns the table has."""
    lower = {c.strip().lower().lstrip("#"): c for c in columns}
    found = {}
    for canonical, aliases in LOCUS_ALIASES.items():
        match = next((lower[a] for a in aliases if a in lower), None)
        if match is not None:
            found[canonical] = match
    return found


def read_tsv_records(path: Path, default_build: str = DEFAULT_BUILD) -> list[InputRecord]:
    """A TSV (or CSV) of variants: a ``variant`` key column, or chrom/pos/ref/alt columns
    (optionally a build column), or bare keys without a header."""
    header = next(iter(_head(path)), "")
    sep = "," if "," in header and "\t" not in header else "\t"
    with open_text(path) as handle:
        table = pd.read_csv(handle, sep=sep, dtype=str, keep_default_na=False)
    lower = {c.strip().lower().lstrip("#"): c for c in table.columns}
    if "variant" in lower:
        return [record_from_key(v) for v in table[lower["variant"]]]
    locus = _locus_columns(list(table.columns))
    if {"chrom", "pos", "ref", "alt"} <= set(locus):
        builds = table[locus["build"]] if "build" in locus else [default_build] * len(table)
        return [
            record_from_parts(b, c, p, r, a)
            for b, c, p, r, a in zip(
                builds, *(table[locus[k]] for k in ("chrom", "pos", "ref", "alt")), strict=True
            )
        ]
    keys = [table.columns[0], *table.iloc[:, 0].tolist()]  # header-less: first line is data
    return [record_from_key(k) for k in keys]


# --------------------------------------------------------------------------- any file


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


@dataclass(frozen=True)
class Inputs:
    """What a user's file holds: one record per requested variant, in input order.

    ``annotations`` is the canonical annotation table of the keyed records when
    the file carries annotations (VEP, dbNSFP); ``None`` means the variants are
    to be looked up in the feature store.
    """

    records: list[InputRecord]
    annotations: pd.DataFrame | None = None


def read_inputs(path: Path, fmt: str | None = None, build: str = DEFAULT_BUILD) -> Inputs:
    """Read a user's file in any supported format (``fmt`` overrides sniffing)."""
    kind = fmt or detect_format(path)
    if kind == "vcf":
        return Inputs(read_vcf_records(path, build))
    if kind == "tsv":
        return Inputs(read_tsv_records(path, build))
    if kind in ("vep", "dbnsfp"):
        annotations = read_vep_tab(path, build) if kind == "vep" else read_dbnsfp(path, build)
        records = [InputRecord(str(key), str(key)) for key in annotations["variant"]]
        return Inputs(records, annotations.reset_index(drop=True))
    raise ValueError(f"unknown input format {fmt!r}; use {', '.join(FORMATS)}")
