"""Variant keys: one spelling of a variant across every source.

Sources disagree on chromosome names (``chr1``/``1``, ``chrM``/``MT``) and on
build names (``hg19``/``GRCh37``). Every table in vipredict is keyed by
``build:chrom:pos:ref:alt`` in the canonical spelling produced here, so that a
join never silently misses because of a prefix.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

CANONICAL_CONTIGS: tuple[str, ...] = (*[str(i) for i in range(1, 23)], "X", "Y", "MT")
_CONTIG_ALIASES = {"M": "MT", "MT": "MT", "23": "X", "24": "Y"}
_BUILD_ALIASES = {
    "GRCH37": "GRCh37",
    "HG19": "GRCh37",
    "B37": "GRCh37",
    "37": "GRCh37",
    "GRCH38": "GRCh38",
    "HG38": "GRCh38",
    "B38": "GRCh38",
    "38": "GRCh38",
}
_BASES = frozenset("ACGT")


class VariantError(ValueError):
    """A variant that cannot be keyed; ``reason`` is the named per-variant error code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Variant:
    build: str
    chrom: str
    pos: int
    ref: str
    alt: str

    @property
    def key(self) -> str:
        return f"{self.build}:{self.chrom}:{self.pos}:{self.ref}:{self.alt}"

    @property
    def is_snv(self) -> bool:
        return len(self.ref) == 1 and len(self.alt) == 1


def normalise_build(build: str) -> str:
    canonical = _BUILD_ALIASES.get(str(build).strip().upper())
    if canonical is None:
        raise VariantError("unknown_build", f"build {build!r} is not GRCh37/hg19 or GRCh38/hg38")
    return canonical


@cache
def _contig_table() -> dict:
    return tomllib.loads(resources.files("vipredict").joinpath("data/contigs.toml").read_text())


def contig_lengths(build: str) -> dict[str, int]:
    """Primary contig lengths (bp) of ``build`` (``data/contigs.toml``, from the GRC reports).

    Used to refuse a position beyond the end of its chromosome
    (``position_out_of_range``) and to tell the builds apart by the contig lengths
    a VCF header declares.
    """
    return dict(_contig_table()[normalise_build(build)])


def alternate_lengths(build: str) -> dict[str, int]:
    """Other lengths a header may give a contig of ``build`` (UCSC hg19's 16,571-bp chrM)."""
    return dict(_contig_table().get("alternates", {}).get(normalise_build(build), {}))


def normalise_chrom(chrom: str | int) -> str:
    text = str(chrom).strip()
    if text[:3].lower() == "chr":
        text = text[3:]
    text = text.upper()
    text = _CONTIG_ALIASES.get(text, text)
    if text not in CANONICAL_CONTIGS:
        raise VariantError("unknown_contig", f"contig {chrom!r} is not a primary human chromosome")
    return text


def make_variant(build: str, chrom: str | int, pos: int | str, ref: str, alt: str) -> Variant:
    """Validate and canonicalise one variant; raises :class:`VariantError` with a named reason."""
    canonical_build = normalise_build(build)
    canonical_chrom = normalise_chrom(chrom)
    try:
        position = int(pos)
    except (TypeError, ValueError):
        raise VariantError("malformed_record", f"position {pos!r} is not an integer") from None
    if position < 1:
        raise VariantError("malformed_record", f"position {position} is not 1-based positive")
    ref_u, alt_u = str(ref).strip().upper(), str(alt).strip().upper()
    if not ref_u or not alt_u or not set(ref_u) <= _BASES | {"N"} or not set(alt_u) <= _BASES:
        if "," in alt_u:
            raise VariantError("multi_allelic", f"ALT {alt!r} lists several alleles; split them")
        raise VariantError("malformed_record", f"alleles {ref!r}>{alt!r} are not A/C/G/T")
    if ref_u == alt_u:
        raise VariantError("malformed_record", f"REF equals ALT ({ref_u})")
    return Variant(canonical_build, canonical_chrom, position, ref_u, alt_u)


def parse_variant_key(key: str) -> Variant:
    """Parse ``build:chrom:pos:ref:alt`` (also accepts ``-`` as separator)."""
    parts = str(key).strip().replace("-", ":").split(":")
    if len(parts) != 5:
        raise VariantError("malformed_record", f"{key!r} is not build:chrom:pos:ref:alt")
    return make_variant(*parts)


def key_column(
    build: str | pd.Series, chrom: pd.Series, pos: pd.Series, ref: pd.Series, alt: pd.Series
) -> pd.Series:
    """Vectorised keys for a whole table of already-clean variants (readers use this).

    Rows whose contig is not a primary chromosome get a missing key rather than an
    exception, so one odd contig in a reference file never loses the table.
    """
    chrom_text = chrom.astype("string").str.strip().str.replace(r"^(?i:chr)", "", regex=True)
    chrom_text = chrom_text.str.upper().replace({"M": "MT", "23": "X", "24": "Y"})
    valid = chrom_text.isin(CANONICAL_CONTIGS)
    builds = (
        pd.Series(normalise_build(build), index=chrom.index)
        if isinstance(build, str)
        else build.map(normalise_build)
    )
    keys = (
        builds.astype("string")
        + ":"
        + chrom_text
        + ":"
        + pos.astype("int64").astype("string")
        + ":"
        + ref.astype("string").str.upper()
        + ":"
        + alt.astype("string").str.upper()
    )
    return keys.where(valid, pd.NA).astype("string")


def split_keys(keys: pd.Series) -> pd.DataFrame:
    """Inverse of :func:`key_column`: columns build, chrom, pos, ref, alt."""
    parts = keys.astype("string").str.split(":", expand=True)
    parts.columns = ["build", "chrom", "pos", "ref", "alt"]
    parts["pos"] = parts["pos"].astype(np.int64)
    return parts
