"""Keying and provenance shared by the readers.

Every reader ends the same way: canonical ``variant`` keys for the rows that can
be keyed, a logged count (never an exception) for those that cannot, and the
``source``/``source_version`` of the declared source it read, if any. Doing it
in one place keeps the drop rules identical across formats.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pysam

from vipredict.io.files import is_plain_gzip
from vipredict.io.sources import get_source
from vipredict.variants import VariantError, key_column, make_variant, normalise_build

logger = logging.getLogger(__name__)

_REF = r"[ACGTN]+"
_ALT = r"[ACGT]+"


def attach_keys(frame: pd.DataFrame, build: str, what: str) -> pd.DataFrame:
    """Add canonical locus + ``variant`` columns; drop (and log) rows that cannot be keyed.

    ``frame`` needs ``chrom``, ``pos``, ``ref``, ``alt``. Symbolic or missing ALTs
    (``<DEL>``, ``.``, ``*``) and VEP-style ``-`` alleles count as
    ``malformed_record``; non-primary contigs as ``unknown_contig`` (the reasons of
    :class:`vipredict.variants.VariantError`). The counts are kept in
    ``attrs["dropped"]`` so callers and tests can see what was lost.
    """
    canonical_build = normalise_build(build)
    pos = pd.to_numeric(frame["pos"], errors="coerce")
    ref = frame["ref"].astype("string").str.strip().str.upper()
    alt = frame["alt"].astype("string").str.strip().str.upper()
    wellformed = (
        pos.notna()
        & (pos >= 1)
        & ref.str.fullmatch(_REF).fillna(False).astype(bool)
        & alt.str.fullmatch(_ALT).fillna(False).astype(bool)
        & (ref != alt).fillna(False).astype(bool)
    )
    keys = pd.Series(pd.NA, index=frame.index, dtype="string")
    if wellformed.any():
        keys[wellformed] = key_column(
            canonical_build,
            frame.loc[wellformed, "chrom"],
            pos[wellformed].astype("int64"),
            ref[wellformed],
            alt[wellformed],
        )
    dropped = {
        "malformed_record": int((~wellformed).sum()),
        "unknown_contig": int((wellformed & keys.isna()).sum()),
    }
    dropped = {reason: count for reason, count in dropped.items() if count}
    if dropped:
        logger.warning("%s: dropped %s record(s) that cannot be keyed", what, dropped)
    keep = keys.notna()
    out = frame.loc[keep].copy()
    out["variant"] = keys[keep]
    out["build"] = canonical_build
    out["chrom"] = keys[keep].str.split(":").str[1]
    out["pos"] = pos[keep].astype("int64").astype("Int64")
    out["ref"] = ref[keep]
    out["alt"] = alt[keep]
    out = out.reset_index(drop=True)
    out.attrs["dropped"] = dropped
    return out


def with_provenance(frame: pd.DataFrame, source_name: str | None) -> pd.DataFrame:
    """Stamp ``source``/``source_version`` (NA when the user pointed at their own file)."""
    attrs = dict(frame.attrs)
    version = None if source_name is None else get_source(source_name).version
    # typed from the start: a column of 10^5 NA objects cast to text cost a chunk ~6 ms
    stamps = {
        name: pd.Series(pd.NA if value is None else value, index=frame.index, dtype="string")
        for name, value in (("source", source_name), ("source_version", version))
    }
    out = frame.assign(**stamps)
    out.attrs = attrs
    return out


@contextmanager
def readable_vcf(path: Path) -> Iterator[Path]:
    """A path pysam can open: plain-gzip VCFs (several public ones) are inflated to a temp file.

    htslib seeks in compressed VCFs and only supports BGZF, so a ``gzip``-made
    ``.vcf.gz`` fails with "seek not implemented"; inflating is cheap at these sizes.
    """
    # htslib warns once per contig missing from the header (most public files); the
    # reader's own drop counts are the useful signal, so htslib is silenced meanwhile.
    previous = pysam.set_verbosity(0)
    try:
        if not is_plain_gzip(path):
            yield Path(path)
            return
        with tempfile.TemporaryDirectory(prefix="vipredict-vcf-") as tmp:
            target = Path(tmp) / Path(path).with_suffix("").name
            with gzip.open(path, "rb") as source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
            yield target
    finally:
        pysam.set_verbosity(previous)


def keyed_alleles(record: pysam.VariantRecord, build: str) -> Iterator[tuple[int, str]]:
    """(allele index, canonical key) of each ALT that can be keyed; symbolic ALTs are skipped.

    The index is the allele's number in genotype calls (1 = first ALT). Readers use it
    to read only the alleles they want from a large VCF.
    """
    for index, alt in enumerate(record.alts or (), start=1):
        try:
            yield index, make_variant(build, record.chrom, record.pos, record.ref, alt).key
        except VariantError:
            continue
