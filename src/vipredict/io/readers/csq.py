"""Ensembl VEP's VCF output: the ``CSQ`` INFO field -> canonical annotations and frequencies.

A pipeline's VEP VCF keeps everything in ``CSQ``: one entry per transcript
(entries joined by ``,``), fields joined by ``|`` in the order the
``##INFO=<ID=CSQ,...,Description="... Format: A|B|...">`` header line names them
(any order; fields vipredict does not use are ignored), several values inside a
field joined by ``&``. The fields are VEP's tab columns, so the transcript rule
and the harmonised column mapping are those of :mod:`vipredict.io.readers.vep`.

This module reads the entries; :func:`vipredict.io.inputs.read_csq_vcf` walks the
records, applies the one SNV rule and names what goes wrong per allele
(``missing_csq_fields``, ``csq_missing``, ``csq_malformed``,
``too_many_csq_entries``, ``allele_not_in_csq``, ``not_missense``, ``ref_mismatch``).
A record's entries are counted before they are split (at most
:data:`vipredict.io.bounds.MAX_CSQ_ENTRIES`), split once per record and grouped
by allele in one pass (:class:`RecordEntries`), so the work of a record never
grows with its ALT count times its entry count.

Alleles: an entry names its allele by ``ALLELE_NUM`` (VEP ``--allele_number``)
when the header has that field, else by ``Allele``, which for an SNV is the ALT
as written (VEP trims a shared first base only when every allele has it, which an
SNV's ALT never shares with its REF).

gnomAD: VEP's own fields (``gnomADe_AF``, ``gnomADe_AFR_AF``, ``gnomADg_NFE_AF``,
``gnomAD_AF``) and custom annotations written as ``<prefix>_AF_<group>`` /
``<prefix>_AC`` / ``<prefix>_AN`` (``gnomADv3_AF_afr``) become the long frequency
table (``variant, dataset, group, ac, an, af``; ``dataset`` is the prefix as
written, ``group`` the gnomAD group or ``all``), read by the one field grammar of
:mod:`vipredict.io.readers.sites`. Sex, raw and popmax sub-fields are not groups
and are ignored. A value absent for a variant is unknown: no row. The values are
the chosen entry's (VEP repeats them in every entry of the allele).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from vipredict.io.readers._common import with_provenance
from vipredict.io.readers.sites import empty_long, frequencies_from_columns, frequency_fields
from vipredict.io.readers.vep import (
    ENTRY_FIELDS,
    EVIDENCE_SCORES,
    SCORE_COLUMNS,
    entry_annotations,
    pick_transcripts,
)
from vipredict.schema import conform_annotations

CSQ_ID = "CSQ"
_CSQ_HEADER = re.compile(r'^##INFO=<ID=CSQ,.*?Format:\s*([^"]*)"', re.IGNORECASE)
ENTRY_SEP = ","
FIELD_SEP = "|"
VALUE_SEP = "&"


@dataclass(frozen=True)
class CsqFormat:
    """The field names of a file's CSQ entries, in the header's order."""

    fields: tuple[str, ...]

    @cached_property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.fields)}

    @property
    def has_allele_number(self) -> bool:
        return "ALLELE_NUM" in self.index

    def lacking(self) -> str:
        """What a model needs that these fields lack ('' when nothing): ``missing_csq_fields``.

        Needed: ``Consequence`` (the missense rule), ``Allele`` or ``ALLELE_NUM``
        (which entries are this ALT's), and at least one column of an evidence score.
        """
        if not self.fields:
            return "the header declares no CSQ fields (##INFO=<ID=CSQ,...,Format: ...>)"
        needs = []
        if "Consequence" not in self.index:
            needs.append("Consequence")
        if "Allele" not in self.index and not self.has_allele_number:
            needs.append("Allele (or ALLELE_NUM)")
        scores = {c for name in EVIDENCE_SCORES for c in SCORE_COLUMNS[name]}
        if not scores & set(self.index):
            needs.append("any score a model reads (" + ", ".join(sorted(scores)[:6]) + ", ...)")
        if not needs:
            return ""
        return "the CSQ header lacks " + "; ".join(needs)


def csq_format(header: Iterable[str]) -> CsqFormat | None:
    """The CSQ fields a VCF header declares, or None when it declares no CSQ field."""
    for line in header:
        if line.upper().startswith("##INFO=<ID=CSQ,"):
            match = _CSQ_HEADER.match(line)
            names = match.group(1).split(FIELD_SEP) if match else []
            return CsqFormat(tuple(name.strip() for name in names if name.strip()))
    return None


def info_value(info: str, key: str = CSQ_ID) -> str | None:
    """The value of ``key`` in a VCF INFO column (None when absent or empty)."""
    for item in info.split(";"):
        name, _, value = item.partition("=")
        if name == key:
            return value or None
    return None


Entry = tuple[str, ...]


def parse_entries(value: str, fmt: CsqFormat) -> list[Entry] | None:
    """The entries of one record's CSQ value; None if any has another field count than the header.

    A count that differs means the fields cannot be told apart, so no entry of the
    record is trusted (``csq_malformed``).
    """
    entries = [tuple(text.split(FIELD_SEP)) for text in value.split(ENTRY_SEP)]
    if any(len(entry) != len(fmt.fields) for entry in entries):
        return None
    return entries


@dataclass(frozen=True)
class RecordEntries:
    """One record's entries grouped by the allele they name, in one pass over them.

    An entry with an ``ALLELE_NUM`` names its ALT by number; one without (or a
    header without the field) by ``Allele``. Grouping once per record, rather than
    scanning every entry for each ALT, keeps a record's cost linear in its entries.
    """

    entries: Sequence[Entry]
    by_number: dict[str, list[int]]
    by_allele: dict[str, list[int]]

    @classmethod
    def group(cls, entries: Sequence[Entry], fmt: CsqFormat) -> RecordEntries:
        number_at = fmt.index.get("ALLELE_NUM")
        allele_at = fmt.index.get("Allele")
        by_number: dict[str, list[int]] = {}
        by_allele: dict[str, list[int]] = {}
        for i, entry in enumerate(entries):
            number = entry[number_at].strip() if number_at is not None else ""
            if number:
                by_number.setdefault(number, []).append(i)
            elif allele_at is not None:
                by_allele.setdefault(entry[allele_at].strip().upper(), []).append(i)
        return cls(entries, by_number, by_allele)

    def of(self, alt: str, number: int) -> list[Entry]:
        """The entries of ALT number ``number`` (1-based) written ``alt``, in the record's order."""
        rows = self.by_number.get(str(number), []) + self.by_allele.get(alt.strip().upper(), [])
        return [self.entries[i] for i in sorted(rows)]


def allele_entries(entries: Sequence[Entry], fmt: CsqFormat, alt: str, number: int) -> list[Entry]:
    """The entries of ALT number ``number`` (1-based): by ALLELE_NUM when given, else by Allele."""
    return RecordEntries.group(entries, fmt).of(alt, number)


@dataclass(frozen=True)
class AlleleEntries:
    """One keyed allele and its CSQ entries (``row``: its place among the input's records)."""

    row: int
    key: str
    entries: list[Entry]


@dataclass
class CsqTables:
    """Annotations (one row per missense allele) and frequencies; refusals by record row."""

    annotations: pd.DataFrame
    frequencies: pd.DataFrame
    refused: dict[int, tuple[str, str]] = field(default_factory=dict)


def used_fields(fmt: CsqFormat) -> dict[str, int]:
    """Name -> position of the fields vipredict reads (a repeated name: its first position)."""
    gnomad = frequency_fields(fmt.fields, prefixed=True)
    wanted = (n for n in fmt.fields if n in ENTRY_FIELDS or n in gnomad)
    return {name: fmt.index[name] for name in dict.fromkeys(wanted)}


def _entry_frame(alleles: Sequence[AlleleEntries], fmt: CsqFormat) -> pd.DataFrame:
    """One row per entry: ``_row``, ``variant`` and the used CSQ fields by name (text)."""
    fields = used_fields(fmt)
    rows = [(a.row, a.key, *(e[i] for i in fields.values())) for a in alleles for e in a.entries]
    frame = pd.DataFrame(rows, columns=["_row", "variant", *fields], dtype=object)
    return frame.astype({"_row": "int64", **dict.fromkeys(["variant", *fields], "string")})


def _locus(keys: pd.Series) -> pd.DataFrame:
    parts = keys.astype("string").str.split(":", expand=True)
    parts.columns = ["build", "chrom", "pos", "ref", "alt"]
    return parts.assign(pos=pd.to_numeric(parts["pos"]).astype("Int64"))


def _ref_mismatches(chosen: pd.DataFrame) -> dict[int, tuple[str, str]]:
    """``ref_mismatch`` of rows whose VCF REF (VEP's GIVEN_REF) is not the reference VEP
    used (USED_REF): VEP compared them when run with ``--check_ref``/``--everything``."""
    if not {"GIVEN_REF", "USED_REF"} <= set(chosen.columns):
        return {}
    given = chosen["GIVEN_REF"].str.strip().str.upper()
    used = chosen["USED_REF"].str.strip().str.upper()
    bases = given.str.fullmatch("[ACGTN]+").fillna(False) & used.str.fullmatch("[ACGTN]+")
    wrong = (bases.fillna(False) & (given != used)).astype(bool)
    return {
        int(row): ("ref_mismatch", f"REF {g} but the reference VEP used has {u}")
        for row, g, u in zip(chosen["_row"][wrong], given[wrong], used[wrong], strict=True)
    }


def csq_tables(alleles: Sequence[AlleleEntries], fmt: CsqFormat) -> CsqTables:
    """Annotations and frequencies of keyed alleles by the transcript rule and mapping of VEP.

    An allele whose entries include no missense one is refused (``not_missense``),
    as is one whose REF VEP found to differ from the reference (``ref_mismatch``).
    """
    if not alleles:
        nothing = conform_annotations(pd.DataFrame(columns=["variant"]))
        return CsqTables(nothing, empty_long())
    chosen = pick_transcripts(_entry_frame(alleles, fmt), "_row")
    refused: dict[int, tuple[str, str]] = {}
    other = chosen.loc[~chosen["missense"], ["_row", "Consequence"]]
    for row, consequence in other.itertuples(index=False):
        refused[int(row)] = ("not_missense", f"no missense consequence in CSQ ({consequence})")
    refused |= _ref_mismatches(chosen[chosen["missense"]])
    kept = chosen[~chosen["_row"].isin(list(refused))].drop_duplicates("variant")
    frame = pd.concat(
        [kept[["variant"]], _locus(kept["variant"]), entry_annotations(kept, VALUE_SEP)], axis=1
    ).reset_index(drop=True)
    annotations = conform_annotations(with_provenance(frame, None))
    return CsqTables(annotations, frequency_table(kept, fmt), refused)


def frequency_table(chosen: pd.DataFrame, fmt: CsqFormat) -> pd.DataFrame:
    """The long frequency table of the chosen entries' gnomAD fields (grammar of ``sites``)."""
    # sorted: the rows' order must not depend on the order of the header's fields
    gnomad = sorted(name for name in frequency_fields(fmt.fields, prefixed=True) if name in chosen)
    return frequencies_from_columns(chosen[["variant", *gnomad]], prefixed=True)
