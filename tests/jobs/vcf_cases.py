"""VCF helpers of the jobs tests: writing, reading back, and the mixed-records cases.

The fast tests of ``predict`` and ``annotate`` write small VCFs from the tiny
store's own loci (made-up GRCh37 SNVs, see ``tests/synthetic.py``) and from the
bad-record cases of ``tests/fixtures/mixed_records.vcf``, re-keyed onto a tiny
store variant (that fixture's 1:955563 G>C exists in the REAL store only).
(A module of its own, not ``conftest``: that name is taken by every folder's.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vipredict.io.files import open_text

FIXTURES = Path(__file__).parents[1] / "fixtures"
COLUMNS_LINE = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
HEADER = (
    "##fileformat=VCFv4.2",
    "##reference=GRCh37",
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="read depth (the file\'s own field)">',
    COLUMNS_LINE,
)


@dataclass(frozen=True)
class Locus:
    """One SNV of the tiny store."""

    chrom: str
    pos: int
    ref: str
    alt: str

    @property
    def key(self) -> str:
        return f"GRCh37:{self.chrom}:{self.pos}:{self.ref}:{self.alt}"


def other_base(*taken: str) -> str:
    """A base that is none of ``taken``."""
    return next(base for base in "ACGT" if base not in taken)


def vcf_line(chrom: str, pos: int | str, ref: str, alt: str, info: str = ".") -> str:
    return "\t".join([chrom, str(pos), ".", ref, alt, ".", ".", info])


def write_vcf(path: Path, body: Sequence[str], header: Sequence[str] = HEADER) -> Path:
    path.write_text("\n".join([*header, *body]) + "\n")
    return path


def body(path: Path) -> list[str]:
    """Record lines of a plain or gzipped VCF (header and comment lines left out)."""
    with open_text(path) as handle:
        return [line.rstrip("\n") for line in handle if line.strip() and not line.startswith("#")]


def info(line: str) -> dict[str, str]:
    """The INFO field of a VCF line as a dict (``.`` and a missing field give {})."""
    fields = line.split("\t")
    pairs = (kv.partition("=") for kv in fields[7].split(";")) if len(fields) > 7 else ()
    return {key: value for key, _, value in pairs if key and key != "."}


def per_allele(path: Path, keys: Sequence[str]) -> list[dict[str, str]]:
    """One dict of ``keys`` per ALT of every record, in file order (Number=A fields split)."""
    rows = []
    for line in body(path):
        values = info(line)
        alts = line.split("\t")[4].split(",")
        for k in range(len(alts)):
            rows.append({key: values.get(key, "").split(",")[k] for key in keys})
    return rows


@dataclass(frozen=True)
class MixedCase:
    """A body line of the mixed VCF and the per-allele VIP_ERR it must get ("." when scored)."""

    line: str
    errors: str


def mixed_cases(good: Locus) -> list[MixedCase]:
    """``tests/fixtures/mixed_records.vcf``, line for line, keyed on the tiny store's ``good``."""
    fixture = body(FIXTURES / "mixed_records.vcf")
    assert len(fixture) == 10 and fixture[0].startswith("1\t955563\t.\tG\tC")  # kept in step
    c, p, r, a = good.chrom, good.pos, good.ref, good.alt
    return [
        MixedCase(vcf_line(c, p, r, a), "."),
        MixedCase(vcf_line(f"chr{c}", p, r, a), "."),
        MixedCase(vcf_line(c, p, other_base(r, a), a), "ref_mismatch"),
        MixedCase(vcf_line("chrUn_gl000220", 1000, "A", "G"), "unknown_contig"),
        MixedCase(vcf_line(c, p, r + "A", r), "not_snv"),
        MixedCase(vcf_line(c, "notanumber", r, a), "malformed_record"),
        MixedCase(f"{c}\t{p}", "malformed_record"),
        MixedCase(vcf_line(c, p, r, f"{a},{other_base(r, a)}"), ".,no_features"),
        MixedCase(vcf_line("1", 1, "A", "G"), "no_features"),
        MixedCase(vcf_line(c, p, r.lower(), a.lower()), "."),
    ]


@dataclass(frozen=True)
class TinyLoci:
    """The tiny store's loci by what the scorer makes of them, and the store's rows."""

    rows: pd.DataFrame
    evidence: list[Locus]  # scored, with a PP3/BP4 code
    thin: list[Locus]  # insufficient_annotation
    blank: list[Locus]  # no_features: no conservation or functional score


@dataclass(frozen=True)
class TinyVcf:
    """A coordinate-sorted VCF of every tiny store locus, plus misses, and its expected errors."""

    path: Path
    errors: list[str]  # per record ("" when scored)


#: The empty block htslib writes last in every BGZF file (SAM/BAM spec, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def is_bgzf(path: Path) -> bool:
    """BGZF, not plain gzip: the first member carries the ``BC`` subfield, the file ends in EOF."""
    data = path.read_bytes()
    bgzf_member = data[:4] == bytes.fromhex("1f8b0804") and data[12:14] == b"BC"
    return bgzf_member and data.endswith(BGZF_EOF)
