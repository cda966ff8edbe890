"""The variants users bring: one input record, one SNV rule, one parser per input format.

Whatever the entry point (``vipredict predict``, ``vipredict annotate``, ``POST
/predict``, ``POST /predict/vcf``, ``POST /queue``, ``vipredict queue build``), a
requested variant becomes an :class:`InputRecord` here: its label as the user
wrote it, and either its canonical key or the named reason it has none
(``malformed_record``, ``unknown_contig``, ``unknown_build``, ``multi_allelic``,
``not_snv``, ``position_out_of_range``, ``build_conflict``, for a record past
a bound of :mod:`vipredict.io.bounds` ``chrom_too_long``, ``allele_too_long``,
``too_many_alts``, and for VEP VCFs ``missing_csq_fields``, ``csq_missing``,
``csq_malformed``, ``too_many_csq_entries``, ``allele_not_in_csq``,
``not_missense``, ``ref_mismatch``). A bad record never stops the rest of the file.

VCF text is split into records on ``\\n`` only (a trailing ``\\r`` trimmed), so no
other character Python takes for a line break (``\\x1c``, ``\\x85``, ``\\u2028``)
splits a record, and it is read lazily (:func:`record_lines`): the variants are
counted as they are read (:class:`~vipredict.io.bounds.VariantCounter`), so a
request past its limit stops at the first variant too many.

Formats (:func:`detect_format`): VCF (records looked up in the feature store),
TSV of keys or of chrom/pos/ref/alt columns (likewise), and the annotated formats:
a VEP VCF whose header declares the ``CSQ`` INFO field (``csq``), VEP tab and
dbNSFP, whose records carry their own annotations (:func:`read_inputs` returns
those too, and a CSQ VCF's gnomAD frequencies, for the scorer to build features
from).

Builds (:func:`choose_build`): a VCF header names its assembly (``##reference``,
``##assembly``, contig ``assembly=``, VEP's ``assembly="..."``) and declares contig
lengths, which differ between GRCh37 and GRCh38. ``build=None`` means "as the
header says, else GRCh37"; a build given explicitly must agree with the header.
A header that contradicts itself or the explicit build keys nothing: each record
is answered ``build_conflict``, so no variant is ever scored under the wrong build.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pandas as pd

from vipredict import deadline
from vipredict.io.bounds import VariantCounter, csq_entries_bound, record_bound
from vipredict.io.files import open_text
from vipredict.io.readers.csq import (
    AlleleEntries,
    CsqFormat,
    Entry,
    RecordEntries,
    csq_format,
    csq_tables,
    info_value,
    parse_entries,
)
from vipredict.io.readers.dbnsfp import read_dbnsfp
from vipredict.io.readers.sites import combine_frequencies, sites_for_keys
from vipredict.io.readers.vep import read_vep_tab
from vipredict.variants import (
    Variant,
    VariantError,
    alternate_lengths,
    contig_lengths,
    make_variant,
    normalise_build,
    normalise_chrom,
    parse_variant_key,
)

Format = Literal["vcf", "csq", "vep", "dbnsfp", "tsv"]
#: ``vcf``: looked up in the store; ``csq``: a VEP VCF scored from its CSQ annotations.
FORMATS: tuple[str, ...] = ("vcf", "csq", "vep", "dbnsfp", "tsv")
DEFAULT_BUILD = "GRCh37"
BUILDS = ("GRCh37", "GRCh38")
_SNIFF_LINES = 200
_DBNSFP_MARKERS = ("pos(1-coor)", "pos(1-based)", "aaref", "genename")
_BUILD_HINTS = {"GRCh38": ("grch38", "hg38", "b38"), "GRCh37": ("grch37", "hg19", "b37", "hs37")}
_CONTIG_ID = re.compile(r"[<,]ID=([^,>]+)")
_CONTIG_LENGTH = re.compile(r"[<,]length=(\d+)")
_CONTIG_ASSEMBLY = re.compile(r"[<,]assembly=([^,>]+)")
_VEP_ASSEMBLY = re.compile(r'assembly="([^"]*)"')
#: A line that may be a record: not empty, not a comment (found in C, blank runs skipped).
_RECORD_LINE = re.compile(r"^[^#\n][^\n]*", re.MULTILINE)
#: Fields a record is split into: the eight fixed ones and the rest (samples) unsplit.
_FIXED_FIELDS = 8
#: Errors that depend on the build; under a build conflict they become ``build_conflict``.
_BUILD_ERRORS = frozenset({"position_out_of_range"})
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
    """The one SNV rule (vipredict scores single-nucleotide variants only), on its chromosome.

    A position past the end of the chromosome in the variant's build is refused
    (``position_out_of_range``): such a key names no base, and is the usual mark of
    coordinates of the other build.
    """
    if not variant.is_snv:
        return InputRecord(
            label, None, "not_snv", f"{variant.key} is not a single-nucleotide variant"
        )
    length = contig_lengths(variant.build).get(variant.chrom)
    if length is not None and variant.pos > length:
        detail = f"{variant.key}: chromosome {variant.chrom} of {variant.build} has {length:,} bp"
        return InputRecord(label, None, "position_out_of_range", detail)
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


# --------------------------------------------------------------------------- builds


@dataclass(frozen=True)
class BuildChoice:
    """The build records are keyed on, and why the header disagrees ('' when it does not).

    A non-empty ``conflict`` is the detail of every record's ``build_conflict``.
    """

    build: str
    conflict: str = ""


def _short(line: str) -> str:
    return line if len(line) <= 60 else line[:57] + "..."


def _named_builds(line: str) -> list[str]:
    """Builds a reference/assembly/contig/VEP header line names.

    Contig lines are read in their ID and ``assembly=`` only: their ``md5=`` hex
    could spell ``b37`` by chance.
    """
    lowered = line.lower()
    if lowered.startswith("##contig"):
        found = [m.group(1) for m in (_CONTIG_ID.search(line), _CONTIG_ASSEMBLY.search(line)) if m]
        lowered = " ".join(found).lower()
    elif lowered.startswith("##vep"):
        match = _VEP_ASSEMBLY.search(line)
        lowered = match.group(1).lower() if match else ""
    elif not lowered.startswith(("##reference", "##assembly")):
        return []
    return [build for build, hints in _BUILD_HINTS.items() if any(h in lowered for h in hints)]


def _contig_length(line: str) -> tuple[str, int] | None:
    """(canonical chromosome, length) of a primary contig's header line, else None."""
    if not line.lower().startswith("##contig"):
        return None
    name, length = _CONTIG_ID.search(line), _CONTIG_LENGTH.search(line)
    if name is None or length is None:
        return None
    try:
        return normalise_chrom(name.group(1)), int(length.group(1))
    except VariantError:
        return None


def _builds_of_length(chrom: str, length: int) -> list[str]:
    return [
        b
        for b in BUILDS
        if length in (contig_lengths(b).get(chrom), alternate_lengths(b).get(chrom))
    ]


def header_claims(header: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The builds a header points to (each with what says so), and lengths of no known build.

    A contig whose length both builds share (MT) says nothing.
    """
    claims: dict[str, str] = {}
    strangers: list[str] = []
    for line in header:
        for build in _named_builds(line):
            claims.setdefault(build, _short(line))
        contig = _contig_length(line)
        if contig is None:
            continue
        fits = _builds_of_length(*contig)
        if not fits:
            strangers.append(f"contig {contig[0]} is {contig[1]:,} bp")
        elif len(fits) == 1:
            claims.setdefault(fits[0], f"contig {contig[0]} is {contig[1]:,} bp")
    return claims, strangers


def choose_build(
    header: Iterable[str], requested: str | None = None, default: str = DEFAULT_BUILD
) -> BuildChoice:
    """The build of a VCF: the header's, else ``requested``, else ``default``; conflicts named.

    ``requested`` is an explicit choice (``--build``): a header that says otherwise
    is a conflict. A header naming two builds, or contig lengths of neither, is
    one too. An unknown ``requested``/``default`` raises :class:`VariantError`
    (a usage error, not a per-variant one).
    """
    claims, strangers = header_claims(header)
    conflict = ""
    if strangers:
        conflict = "the header's contig lengths are neither GRCh37's nor GRCh38's (" + (
            "; ".join(strangers[:3]) + ")"
        )
    elif len(claims) > 1:
        conflict = "the header points to " + " and to ".join(
            f"{build} ({why})" for build, why in claims.items()
        )
    said = next(iter(claims)) if len(claims) == 1 else None
    if requested is None:
        return BuildChoice(said or normalise_build(default), conflict)
    asked = normalise_build(requested)
    if said is not None and said != asked and not conflict:
        conflict = f"build {asked} was asked for, but the header says {said} ({claims[said]})"
    return BuildChoice(asked, conflict)


def build_from_header(lines: Iterable[str], default: str) -> str:
    """The assembly a VCF header declares, else ``default`` (a self-contradicting header
    declares none: :func:`choose_build` names that conflict)."""
    return choose_build(lines, None, default).build


def _under(choice: BuildChoice, record: InputRecord) -> InputRecord:
    """A record under a build conflict: ``build_conflict`` unless refused for its own reason.

    A malformed line or an indel is that whatever the build; a keyed record or a
    position past a chromosome's end of the assumed build is not.
    """
    if choice.conflict and (record.key is not None or record.error in _BUILD_ERRORS):
        return InputRecord(record.label, None, "build_conflict", choice.conflict)
    return record


# --------------------------------------------------------------------------- VCF


Numbered = Iterable[tuple[int, str]]


def record_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of each line of ``text`` that may be a record, lazily.

    Lines end at ``\\n`` only (a trailing ``\\r`` is trimmed); blank and ``#`` lines
    are skipped by the regex engine, so no list of every line is ever built and a
    caller that stops early (a variant limit) has read no further.
    """
    number, last = 1, 0
    for match in _RECORD_LINE.finditer(text):
        number += text.count("\n", last, match.start())
        last = match.start()
        yield number, match.group().rstrip("\r")


#: Lines read between two checks of the request's deadline (:mod:`vipredict.deadline`).
_DEADLINE_EVERY = 256


def _vcf_alleles(
    numbered: Numbered, build: str, counter: VariantCounter | None = None
) -> Iterator[tuple[int, int, InputRecord, list[str]]]:
    """(line number, ALT number, record, the line's fields) of each ALT of each record line.

    A line past a bound of :mod:`vipredict.io.bounds` is one record with its named
    error, decided on the raw fields before any per-ALT label or key is made, and
    it counts as one variant; ``counter`` counts each ALT before it is built.
    """
    counter = counter or VariantCounter()
    for number, raw in numbered:
        if number % _DEADLINE_EVERY == 0:
            deadline.check()  # a request's parsing stops when its answer is no longer awaited
        line = raw.rstrip("\r\n")
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t", _FIXED_FIELDS)
        if len(fields) < 5:
            counter.add()
            label = f"line {number}: {line[:60]}"
            yield (
                number,
                0,
                failed_record(label, "malformed_record", "fewer than 5 VCF columns"),
                fields,
            )
            continue
        chrom, pos, _id, ref, alts = fields[:5]
        bound = record_bound(chrom, pos, ref, alts)
        if bound is not None:
            counter.add()
            yield number, 0, failed_record(f"line {number}: {line[:60]}", *bound), fields
            continue
        alleles = alts.split(",")
        counter.add(len(alleles))
        for alt_number, alt in enumerate(alleles, start=1):
            label = f"{chrom}:{pos}:{ref}:{alt}"
            yield number, alt_number, record_from_parts(build, chrom, pos, ref, alt, label), fields


def vcf_alleles(
    lines: Iterable[str], build: str, counter: VariantCounter | None = None
) -> Iterator[tuple[int, InputRecord]]:
    """(ALT number, record) of each ALT of VCF lines (header lines skipped).

    ALT number 0 marks a record that stands for its whole line: one with fewer
    than five columns, or past a bound of :mod:`vipredict.io.bounds`.
    """
    for _number, alt, record, _fields in _vcf_alleles(enumerate(lines, 1), build, counter):
        yield alt, record


def vcf_records(
    lines: Iterable[str], build: str, counter: VariantCounter | None = None
) -> Iterator[InputRecord]:
    """Records of VCF lines (header lines skipped); a multi-allelic record gives one per ALT.

    Line numbers in the labels of malformed lines count every line given, so
    passing a whole file labels them with the file's own line numbers.
    """
    for _alt, record in vcf_alleles(lines, build, counter):
        yield record


def header_lines(lines: Iterable[str]) -> list[str]:
    """The leading ``#`` lines of a VCF (its header), ``\\r`` trimmed."""
    out = []
    for raw in lines:
        if not raw.startswith("#"):
            break
        out.append(raw.rstrip("\r\n"))
    return out


def text_header(text: str) -> list[str]:
    """The header of a VCF held as text: its leading ``#`` lines, split on ``\\n`` only."""
    end = text.find("\n")
    while end >= 0 and text.startswith("#", end + 1):
        end = text.find("\n", end + 1)
    head = text if end < 0 else text[:end]
    return header_lines(head.split("\n")) if head.startswith("#") else []


def _text_records(
    text: str, choice: BuildChoice, counter: VariantCounter | None = None
) -> list[InputRecord]:
    numbered = record_lines(text)
    return [_under(choice, r) for _n, _a, r, _f in _vcf_alleles(numbered, choice.build, counter)]


def vcf_text_records(text: str, default_build: str) -> list[InputRecord]:
    """Records of a whole VCF held as text (uploads), for a store look-up.

    The header may name the build (``default_build`` when it does not); a header
    that contradicts itself gives ``build_conflict``. Lines are split on ``\\n``
    only (:func:`record_lines`), so no other character that Python treats as a
    line break can split a record.
    """
    return _text_records(text, choose_build(text_header(text), None, default_build))


def read_text(path: Path) -> str:
    """A plain or gzip file's whole text with its line ends as written.

    Python's universal newlines would turn a lone ``\\r`` inside a record into a
    line break; records are split on ``\\n`` only (:func:`record_lines`), as for
    uploads, so a file and the same text uploaded give the same records.
    """
    with open_text(path, newline="") as handle:
        return handle.read()


def read_vcf_records(path: Path, default_build: str = DEFAULT_BUILD) -> list[InputRecord]:
    return vcf_text_records(read_text(path), default_build)


# --------------------------------------------------------------------------- VEP VCF (CSQ)


#: A record's CSQ entries grouped by allele, or the named reason it has none.
LineCsq = tuple[RecordEntries | None, tuple[str, str]]


def _line_csq(fields: list[str], fmt: CsqFormat) -> LineCsq:
    """One record's CSQ entries, split once for all its ALTs and counted before splitting."""
    value = info_value(fields[7]) if len(fields) > 7 else None
    if value is None:
        return None, ("csq_missing", "the record has no CSQ annotation")
    bound = csq_entries_bound(value)
    if bound is not None:
        return None, bound
    entries = parse_entries(value, fmt)
    if entries is None:
        return None, (
            "csq_malformed",
            f"a CSQ entry does not have the header's {len(fmt.fields)} fields",
        )
    return RecordEntries.group(entries, fmt), ("", "")


def _csq_entries(
    record: InputRecord, line: LineCsq, alt_number: int
) -> tuple[InputRecord, list[Entry]]:
    """A keyed allele's own CSQ entries, or the named reason it has none."""
    grouped, (reason, detail) = line
    if grouped is None:
        return failed_record(record.label, reason, detail), []
    alt = str(record.key).rsplit(":", 1)[1]
    mine = grouped.of(alt, alt_number)
    if not mine:
        detail = f"no CSQ entry for ALT {alt} (allele {alt_number})"
        return failed_record(record.label, "allele_not_in_csq", detail), []
    return record, mine


def _csq_inputs(
    numbered: Numbered, fmt: CsqFormat, choice: BuildChoice, counter: VariantCounter | None = None
) -> tuple[Inputs, list[int]]:
    """Inputs of numbered VEP VCF lines, and the line number of each record.

    A record's CSQ value is split once (not once per ALT), and an ALT written twice
    in one record is refused after its first mention: VCF allows each allele once,
    and both would claim the same entries.
    """
    records: list[InputRecord] = []
    line_of: list[int] = []
    wanted: list[AlleleEntries] = []
    lacking = fmt.lacking()
    current: tuple[int, LineCsq, set[str]] = (-1, (None, ("", "")), set())
    for number, alt_number, parsed, fields in _vcf_alleles(numbered, choice.build, counter):
        record = _under(choice, parsed)
        if record.key is not None and lacking:
            record = failed_record(record.label, "missing_csq_fields", lacking)
        elif record.key is not None:
            if current[0] != number:
                current = (number, _line_csq(fields, fmt), set())
            alt = record.key.rsplit(":", 1)[1]
            if alt in current[2]:
                detail = f"ALT {alt} is listed more than once in this record"
                record = failed_record(record.label, "malformed_record", detail)
            else:
                current[2].add(alt)
                record, entries = _csq_entries(record, current[1], alt_number)
                if entries:
                    wanted.append(AlleleEntries(len(records), str(record.key), entries))
        records.append(record)
        line_of.append(number)
    tables = csq_tables(wanted, fmt)
    for row, (reason, detail) in tables.refused.items():
        records[row] = failed_record(records[row].label, reason, detail)
    return Inputs(records, tables.annotations, tables.frequencies), line_of


def read_csq_lines(
    lines: Iterable[str], fmt: CsqFormat, choice: BuildChoice
) -> tuple[Inputs, list[int]]:
    """Inputs of VEP VCF lines (header lines skipped), and the 0-based line of each record.

    One record per ALT, in input order; an annotation row per scorable missense SNV
    (:func:`vipredict.io.readers.csq.csq_tables`); every other allele a named error.
    ``vipredict annotate`` calls this block by block, hence the line numbers.
    """
    inputs, line_of = _csq_inputs(enumerate(lines, 1), fmt, choice)
    return inputs, [number - 1 for number in line_of]


def vcf_text_inputs(
    text: str, build: str | None = None, csq: bool | None = None, limit: int | None = None
) -> Inputs:
    """A whole VCF held as text (a file's or an upload's) -> Inputs.

    ``build``: None = as the header says, else GRCh37; given = must agree with the
    header (else ``build_conflict`` for each record). ``csq``: None = read the CSQ
    annotations when the header declares them, True = always (a header without
    them gives ``missing_csq_fields``), False = never (a store look-up). ``limit``:
    the most variants the text may hold; reading stops at the first one past it
    (:class:`~vipredict.io.bounds.TooManyVariantsError`), before the rest is parsed.
    """
    header = text_header(text)
    choice = choose_build(header, build)
    fmt = csq_format(header)
    counter = VariantCounter(limit)
    if csq is False or (csq is None and fmt is None):
        return Inputs(_text_records(text, choice, counter))
    return _csq_inputs(record_lines(text), fmt or CsqFormat(()), choice, counter)[0]


def read_csq_vcf(source: Path | str, build: str | None = None) -> Inputs:
    """A VEP VCF (a path, or its text) -> records, CSQ annotations and gnomAD frequencies."""
    if isinstance(source, Path):
        source = read_text(source)
    return vcf_text_inputs(source, build, csq=True)


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
    (optionally a build column), or bare keys without a header.

    Rows end at ``\\n`` only (a trailing ``\\r`` trimmed), as VCF records do."""
    header = next(iter(_head(path)), "")
    sep = "," if "," in header and "\t" not in header else "\t"
    with open_text(path, newline="") as handle:
        table = pd.read_csv(handle, sep=sep, dtype=str, keep_default_na=False, lineterminator="\n")
    table.columns = [str(c).removesuffix("\r") for c in table.columns]
    if len(table.columns):
        last = table.columns[-1]
        table[last] = table[last].str.removesuffix("\r")
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


def _vcf_header(path: Path) -> list[str]:
    """The whole header of a plain or gzip VCF (a CSQ line may follow thousands of contigs)."""
    with open_text(path) as handle:
        return header_lines(handle)


def detect_format(path: Path) -> Format:
    """Sniff the header: ``##fileformat=VCF`` (``csq`` when it declares VEP's CSQ field) /
    VEP's ``#Allele`` / dbNSFP ``#chr`` / else tsv."""
    lines = _head(path)
    if lines and lines[0].startswith("##fileformat=VCF"):
        return "csq" if csq_format(_vcf_header(path)) is not None else "vcf"
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
    the file carries annotations (CSQ VCF, VEP, dbNSFP), with an
    ``annotation_warnings`` column; ``None`` means the variants are to be looked
    up in the feature store. ``frequencies`` is the long table (``variant, dataset,
    group, ac, an, af``) of the population frequencies the file carries, if any.
    """

    records: list[InputRecord]
    annotations: pd.DataFrame | None = None
    frequencies: pd.DataFrame | None = None


def read_inputs(path: Path, fmt: str | None = None, build: str | None = None) -> Inputs:
    """Read a user's file in any supported format (``fmt`` overrides sniffing).

    ``build`` None: a VCF's header decides, else GRCh37 (as for every other
    format); a build given must agree with a VCF's header (``build_conflict``).
    """
    kind = fmt or detect_format(path)
    if kind in ("vcf", "csq"):
        return vcf_text_inputs(read_text(path), build, csq=kind == "csq")
    assumed = build or DEFAULT_BUILD
    if kind == "tsv":
        return Inputs(read_tsv_records(path, assumed))
    if kind in ("vep", "dbnsfp"):
        annotations = read_vep_tab(path, assumed) if kind == "vep" else read_dbnsfp(path, assumed)
        records = [InputRecord(str(key), str(key)) for key in annotations["variant"]]
        return Inputs(records, annotations.reset_index(drop=True))
    raise ValueError(f"unknown input format {fmt!r}; use {', '.join(FORMATS)}")


def with_sites_frequencies(inputs: Inputs, sites: Path | None) -> Inputs:
    """``inputs`` with a gnomAD/ExAC sites VCF's frequencies added for its keyed variants.

    The input's own frequencies (a CSQ's gnomAD fields) come first where both
    give the same variant, dataset and group.
    """
    if sites is None:
        return inputs
    keys = [r.key for r in inputs.records if r.key is not None]
    extra = sites_for_keys(Path(sites), keys)
    return replace(inputs, frequencies=combine_frequencies(inputs.frequencies, extra))
