"""Population frequencies that come WITH a user's data, as one long table.

Two places carry them: a gnomAD/ExAC *sites VCF* (INFO ``AC_afr``/``AN_afr``/
``AF_afr``, ExAC's ``AC_AFR``/``AN_AFR``; ``vipredict predict INPUT --frequencies
SITES.vcf.gz``), and the columns of an annotated input (VEP's ``gnomADe_AFR_AF``,
``gnomADg_AF_afr``, a custom ``gnomADv3_AF_afr``; a TSV's ``AC_AFR``). Both end
here in the table every consumer reads (:data:`LONG_COLUMNS`)::

    variant  dataset  group  ac  an  af

one row per variant x dataset x group, ``group`` in gnomAD's codes or ``all`` for
the overall value. What is not given stays NaN and a group the source does not
report has no row: an AF without its AC/AN is kept as an AF, never turned into
counts, because the filtering allele frequency (FAF95) that BA1/BS1 need cannot
be computed from an AF alone (:func:`vipredict.acmg.frequency_criteria` says what
an AF-only row can and cannot decide).

Field names are read by :func:`frequency_field`, one grammar for every spelling:
an optional dataset prefix (``gnomADe``, ``gnomADv3``, ``ExAC``; prefixes are the
dataset name as written), then the statistic and the group in either order
(``AF_afr``, ``AFR_AF``), ``Adj`` marking ExAC's adjusted overall counts, which win
over its raw ``AC``/``AN``/``AF``. Sex- and subset-specific fields
(``AC_afr_female``, ``controls_AC_afr``, ``AF_raw``) are not groups and are skipped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pysam

from vipredict.io.readers._common import attach_keys, readable_vcf
from vipredict.io.readers._values import MISSING_TOKENS
from vipredict.variants import VariantError, make_variant, normalise_build, normalise_chrom

logger = logging.getLogger(__name__)

#: The long frequency table (contract 1 of issue 11): one row per variant x dataset x group.
LONG_COLUMNS = ("variant", "dataset", "group", "ac", "an", "af")
#: The overall (all samples) value's group name.
ALL_GROUP = "all"
#: gnomAD/ExAC group codes (lower case) -> the canonical group; v4 spells "oth" "remaining".
GROUP_CODES = {
    "afr": "afr",
    "amr": "amr",
    "asj": "asj",
    "eas": "eas",
    "fin": "fin",
    "nfe": "nfe",
    "sas": "sas",
    "oth": "oth",
    "ami": "ami",
    "mid": "mid",
    "remaining": "remaining",
}
_STATS = ("ac", "an", "af")
_ADJ = "adj"
#: Prefixes of annotation columns that hold population frequencies (case-insensitive).
FREQUENCY_PREFIXES = ("gnomad", "exac")


@dataclass(frozen=True)
class FrequencyField:
    """What one column or INFO field holds: ``dataset`` (None = the caller names it), group, stat.

    ``adjusted`` marks ExAC's ``AC_Adj``-style overall counts, preferred over raw ones.
    """

    dataset: str | None
    group: str
    stat: str
    adjusted: bool = False


def _unprefixed(name: str, bare_group_is_af: bool) -> tuple[str, str, bool] | None:
    """(group, stat, adjusted) of an unprefixed field name, or None if it is not one."""
    tokens = name.lower().split("_")
    stats = [t for t in tokens if t in _STATS]
    if len(stats) > 1:
        return None
    adjusted = _ADJ in tokens
    others = [t for t in tokens if t not in _STATS and t != _ADJ]
    if len(others) > 1 or tokens.count(_ADJ) > 1:
        return None
    stat = stats[0] if stats else ("af" if bare_group_is_af else None)
    if stat is None:
        return None
    if not others:
        return (ALL_GROUP, stat, adjusted) if stats else None
    group = GROUP_CODES.get(others[0])
    return (group, stat, adjusted) if group is not None else None


def frequency_field(name: str, prefixed: bool = False) -> FrequencyField | None:
    """What a column/INFO field holds, or None if it is not a per-group frequency.

    ``prefixed``: the name starts with its dataset (an annotation column such as
    ``gnomADe_AFR_AF``; VEP 110+ also writes ``gnomADe_AFR`` for the AF). The
    prefix must start with gnomAD or ExAC and is returned as written. Unprefixed
    names (a sites VCF's INFO, a TSV's columns) must be the bare statistic and group.
    """
    if not prefixed:
        parsed = _unprefixed(name, bare_group_is_af=False)
        return FrequencyField(None, *parsed) if parsed else None
    for match in re.finditer("_", name):
        prefix, rest = name[: match.start()], name[match.end() :]
        if not prefix.lower().startswith(FREQUENCY_PREFIXES):
            continue
        parsed = _unprefixed(rest, bare_group_is_af=True)
        if parsed:
            return FrequencyField(prefix, *parsed)
    return None


def frequency_fields(
    names: Iterable[str], prefixed: bool = False
) -> dict[str, FrequencyField]:
    """The frequency fields among ``names``, at most one per (dataset, group, stat).

    Where a (dataset, group) has any adjusted field (ExAC ``AC_Adj``/``AN_Adj``), its
    raw ones (``AC``, ``AN``, ``AF``: every genotype, low quality included) are
    dropped, so counts and AF never mix the two.
    """
    parsed = [(n, f) for n in names if (f := frequency_field(n, prefixed)) is not None]
    adjusted = {(f.dataset, f.group) for _, f in parsed if f.adjusted}
    chosen: dict[tuple[str | None, str, str], tuple[str, FrequencyField]] = {}
    for name, field in parsed:
        if (field.dataset, field.group) in adjusted and not field.adjusted:
            continue
        chosen.setdefault((field.dataset, field.group, field.stat), (name, field))
    return {name: field for name, field in chosen.values()}


def parse_frequency_value(value: Any) -> float:
    """One number from a cell; ``&``-joined repeats (VEP) count only when they agree.

    Several different values for one allele (two gnomAD records overlapping the
    site) cannot be told apart, so they are unknown (NaN), never the max or the first.
    """
    if value is None:
        return np.nan
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    tokens = {t.strip() for t in str(value).split("&")} - MISSING_TOKENS
    numbers = set()
    for token in tokens:
        try:
            numbers.add(float(token))
        except ValueError:
            return np.nan
    return numbers.pop() if len(numbers) == 1 else np.nan


def empty_long() -> pd.DataFrame:
    """A long table with no rows, typed as every reader returns it."""
    return typed_long(pd.DataFrame(columns=list(LONG_COLUMNS)))


def typed_long(frame: pd.DataFrame) -> pd.DataFrame:
    """The declared columns and dtypes (strings for names, float64 for numbers)."""
    out = frame[list(LONG_COLUMNS)].copy()
    for column in ("variant", "dataset", "group"):
        out[column] = out[column].astype("string")
    for column in _STATS:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out.reset_index(drop=True)


def long_from_wide(
    wide: pd.DataFrame,
    fields: Mapping[str, FrequencyField],
    dataset: str | None = None,
) -> pd.DataFrame:
    """Melt ``wide`` (``variant`` + the raw frequency columns) into the long table.

    ``dataset`` names the rows of unprefixed fields. A (variant, dataset, group)
    whose AC, AN and AF are all missing gets no row: nothing was said about it.
    """
    pieces = []
    slots: dict[tuple[str, str], dict[str, str]] = {}
    for name, field in fields.items():
        owner = field.dataset or dataset
        if owner is None:
            raise ValueError(f"field {name!r} has no dataset prefix and no dataset was named")
        slots.setdefault((owner, field.group), {})[field.stat] = name
    for (owner, group), columns in slots.items():
        piece = pd.DataFrame({"variant": wide["variant"], "dataset": owner, "group": group})
        for stat in _STATS:
            values = wide[columns[stat]] if stat in columns else pd.Series(np.nan, wide.index)
            piece[stat] = values.map(parse_frequency_value).astype("float64")
        pieces.append(piece[piece[list(_STATS)].notna().any(axis=1)])
    if not pieces:
        return empty_long()
    long = typed_long(pd.concat(pieces, ignore_index=True))
    impossible = impossible_counts(long)
    out = long[~impossible].reset_index(drop=True)
    out.attrs["dropped"] = {"impossible_counts": int(impossible.sum())} if impossible.any() else {}
    return out


def impossible_counts(long: pd.DataFrame) -> pd.Series:
    """Rows no population table can hold: AC > AN, a negative count, an AF outside [0, 1].

    They mean mislabelled columns (a header out of step with its data), never a
    frequency: such rows are dropped (unknown) and counted, and a caller reading a
    whole file may refuse its columns altogether.
    """
    ac, an, af = (long[c].astype("float64") for c in ("ac", "an", "af"))
    return ((ac > an) | (ac < 0) | (an < 0) | (af < 0) | (af > 1)).fillna(False).astype(bool)


def frequencies_from_columns(
    frame: pd.DataFrame, dataset: str | None = None, prefixed: bool | None = None
) -> pd.DataFrame:
    """The long table of an annotated table's frequency columns (``variant`` keyed).

    ``prefixed`` None: prefixed names (``gnomADe_AF_afr``) are read when any column
    has one, else the bare ones (``AC_AFR``) under ``dataset``.
    """
    names = [c for c in frame.columns if c != "variant"]
    if prefixed is None:
        prefixed = bool(frequency_fields(names, prefixed=True))
    fields = frequency_fields(names, prefixed=prefixed)
    if not prefixed and fields and dataset is None:
        raise ValueError("frequency columns without a dataset prefix need a dataset name")
    return long_from_wide(frame, fields, dataset)


# --------------------------------------------------------------------------- sites VCF


def dataset_of_path(path: Path) -> str:
    """Default dataset name of a sites VCF: its file name before the first dot."""
    return Path(path).name.split(".", 1)[0]


def _info_value(record: pysam.VariantRecord, field: str, allele: int) -> Any:
    """Number=A fields hold one value per ALT; Number=1 (AN) is shared by all ALTs.

    htslib stores VCF floats in 32 bits: the shortest text of that float32 gives
    back the number as the file wrote it (``0.005``, not ``0.004999999888``).
    """
    if field not in record.info:
        return None
    value = record.info[field]
    if isinstance(value, tuple):
        value = value[allele] if allele < len(value) else None
    if isinstance(value, float):
        return float(str(np.float32(value)))
    return value


def _passes(record: pysam.VariantRecord) -> bool:
    filters = list(record.filter.keys())
    return not filters or filters == ["PASS"]


def _indexed(path: Path) -> bool:
    return any(Path(f"{path}{suffix}").is_file() for suffix in (".tbi", ".csi"))


def _contig_names(vcf: pysam.VariantFile) -> dict[str, str]:
    """Canonical chromosome -> the file's own contig name (``chr1`` or ``1``)."""
    names = {}
    for contig in vcf.header.contigs:
        try:
            names[normalise_chrom(contig)] = contig
        except VariantError:
            continue
    return names


def _records(
    vcf: pysam.VariantFile, wanted: set[str] | None, indexed: bool
) -> Iterator[pysam.VariantRecord]:
    """Every record, or (indexed file, wanted keys) only those at the wanted positions."""
    if wanted is None or not indexed:
        yield from vcf
        return
    contigs = _contig_names(vcf)
    loci = sorted({(k.split(":")[1], int(k.split(":")[2])) for k in wanted})
    seen: set[tuple[str, int, str, str]] = set()
    for chrom, pos in loci:
        contig = contigs.get(chrom)
        if contig is None:
            continue
        for record in vcf.fetch(contig, pos - 1, pos):
            mark = (record.chrom, record.pos, record.ref, ",".join(record.alts or ()))
            if record.pos == pos and mark not in seen:
                seen.add(mark)
                yield record


def _alleles(record: pysam.VariantRecord, build: str, wanted: set[str] | None) -> list[int]:
    """0-based ALT indexes to read (all, or those whose key is wanted)."""
    out = []
    for index, alt in enumerate(record.alts or ()):
        if wanted is None:
            out.append(index)
            continue
        try:
            key = make_variant(build, record.chrom, record.pos, record.ref, alt).key
        except VariantError:
            continue
        if key in wanted:
            out.append(index)
    return out


def read_sites_vcf(
    path: Path,
    build: str,
    dataset: str | None = None,
    wanted: Iterable[str] | None = None,
    pass_only: bool = True,
) -> pd.DataFrame:
    """A gnomAD (v2/v3/v4 INFO naming) or ExAC sites VCF -> the long table, one variant per ALT.

    ``dataset`` defaults to the file name before its first dot (``exac.vcf.gz`` ->
    ``exac``). ``wanted`` (variant keys) keeps only those alleles and, when the
    VCF has a tabix/CSI index, reads only their positions, so a genome-wide gnomAD
    file answers a few thousand variants without being scanned. ``pass_only``
    (default) skips sites whose FILTER is not PASS: a frequency that failed gnomAD's
    or ExAC's QC is no evidence either way, so those variants stay unknown. The
    counts of what was skipped are in ``attrs["dropped"]``.
    """
    name = dataset or dataset_of_path(path)
    build = normalise_build(build)
    keys = None if wanted is None else set(wanted)
    rows: list[dict[str, Any]] = []
    failed = 0
    with readable_vcf(Path(path)) as usable, pysam.VariantFile(str(usable)) as vcf:
        fields = frequency_fields(vcf.header.info.keys())
        for record in _records(vcf, keys, _indexed(usable)):
            alleles = _alleles(record, build, keys)
            if alleles and pass_only and not _passes(record):
                failed += len(alleles)
                continue
            for index in alleles:
                row = {"chrom": record.chrom, "pos": record.pos, "ref": record.ref}
                row["alt"] = (record.alts or ())[index]
                row |= {field: _info_value(record, field, index) for field in fields}
                rows.append(row)
    wide = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt", *fields])
    keyed = attach_keys(wide, build, f"sites VCF {Path(path).name}")
    long = long_from_wide(keyed, fields, name)
    long.attrs["dropped"] = {
        **keyed.attrs["dropped"],
        **long.attrs.get("dropped", {}),
        **({"not_pass": failed} if failed else {}),
    }
    long.attrs["fields"] = sorted(fields)
    if not fields:
        logger.warning("%s has no per-group AC/AN/AF INFO fields", Path(path).name)
    return long


def combine_frequencies(*tables: pd.DataFrame | None) -> pd.DataFrame | None:
    """One long table from several (the input's own and a ``--frequencies`` VCF's).

    A (variant, dataset, group) given twice keeps its first occurrence: the input's
    own value, read from the same file the user scored, comes first.
    """
    present = [typed_long(t) for t in tables if t is not None and len(t)]
    if not present:
        return next((typed_long(t) for t in tables if t is not None), None)
    combined = pd.concat(present, ignore_index=True)
    return combined.drop_duplicates(["variant", "dataset", "group"]).reset_index(drop=True)


def sites_for_keys(
    path: Path, keys: Iterable[str], dataset: str | None = None, pass_only: bool = True
) -> pd.DataFrame:
    """The long table of a sites VCF for the given variant keys (read under their own build).

    What ``vipredict predict INPUT --frequencies SITES.vcf.gz`` and ``queue build
    --frequencies`` read: only the input's variants, so a genome-wide gnomAD VCF
    (bgzipped and tabix-indexed) costs a few thousand index look-ups, not a scan.
    A key the VCF does not hold gets no row (unknown, never "absent").
    """
    by_build: dict[str, set[str]] = {}
    for key in keys:
        by_build.setdefault(key.split(":", 1)[0], set()).add(key)
    tables = [read_sites_vcf(path, b, dataset, wanted, pass_only) for b, wanted in by_build.items()]
    combined = combine_frequencies(*tables)
    return combined if combined is not None else empty_long()
