"""Annotations a pipeline sends inline with its variants (``POST /predict``, ``POST /queue``).

A pipeline that has already annotated its variants sends, per variant, the values
under the canonical names of :mod:`vipredict.schema` and, optionally, population
frequencies per dataset and ancestry group. This module turns those JSON values
into the two tables every other annotated input becomes (contracts 1 and 2 of
issue 11): the canonical annotation table (:func:`~vipredict.schema.conform_annotations`
plus ``annotation_warnings``) and the long frequency table (``variant, dataset,
group, ac, an, af``). It knows nothing of HTTP; the service declares the same
rules in its OpenAPI schema from :data:`ANNOTATION_RULES` and :data:`COUNT_RULES`.

Bad values are judged per variant, because one pipeline bug rarely touches every
row and the rest of a batch is still worth answering. A value of the wrong type
(text, ``true``, an array, NaN) or outside its range makes the whole variant
``invalid_annotation``, with every offending field named in the detail. The
variant is NOT scored from the values that remain: a score computed without a
value the caller meant to send looks valid and is not what was asked, while a
named error is found at once. Out-of-range most often means another scale (EA on
0-100 instead of the fraction the model was trained on, a percentage AF), which
would give a confidently wrong answer if it were let through.

A name vipredict does not read (a misspelt ``sift_scor``, an ancestry group
``nfe2``, a count ``AF``) makes the variant ``unknown_field``, naming each such
name and, when one is close, the name probably meant (:func:`unknown_names`): a
silently ignored value would change the answer unnoticed, and refusing the whole
request for it would hold back every other variant of a batch.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from vipredict.io.inputs import InputRecord, Inputs, failed_record
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES, conform_annotations
from vipredict.variants import parse_variant_key

INVALID_ANNOTATION = "invalid_annotation"
UNKNOWN_FIELD = "unknown_field"
NOT_MISSENSE = "not_missense"
#: ``source`` of the annotation rows built here (provenance of every inline value).
INLINE_SOURCE = "inline"
WARNINGS_COLUMN = "annotation_warnings"
#: One-letter residues the amino-acid change features know (``*`` is a stop codon).
RESIDUES = frozenset("ACDEFGHIKLMNPQRSTVWY*")
#: Ancestry groups of the frequency table, and ``all`` for a dataset's overall value.
#: The same vocabulary as :data:`vipredict.features.frequency.ACCEPTED_GROUPS` (a layer
#: above this one, so it is repeated here; a test keeps the two equal).
FREQUENCY_GROUPS: tuple[str, ...] = (
    "afr", "amr", "asj", "eas", "fin", "nfe", "sas", "oth", "ami", "mid", "remaining", "all",
)  # fmt: skip
TEXT_LIMIT = 64
_SHOWN = 40

Kind = Literal["number", "integer", "text", "residue"]


@dataclass(frozen=True)
class ValueRule:
    """What one inline value must be: its kind and, for numbers, its closed range.

    ``note`` says why the range is what it is when a caller could easily send
    another scale; it is part of the error detail and of the OpenAPI description.
    """

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    note: str = ""

    def range_text(self) -> str:
        """The range as people write it (``0-1``, ``>= 0``), or "" when unbounded."""
        if self.low is not None and self.high is not None:
            return f"{self.low:g}-{self.high:g}"
        if self.low is not None:
            return f">= {self.low:g}"
        if self.high is not None:
            return f"<= {self.high:g}"
        return ""


def _number(
    name: str, low: float | None = None, high: float | None = None, note: str = ""
) -> ValueRule:
    return ValueRule(name, "number", low, high, note)


_PROBABILITY = (0.0, 1.0)
#: Every value a variant's ``annotations`` may carry (the canonical table's order, plus transcript).
#: Ranges are what the quantity can be on the scale the models were trained on
#: (the ClinGen sets); unbounded scores (FATHMM, GERP++, phyloP, SiPhy) are only
#: required to be finite numbers.
ANNOTATION_RULES: dict[str, ValueRule] = {
    rule.name: rule
    for rule in (
        ValueRule("gene", "text"),
        ValueRule("transcript", "text"),
        ValueRule("aa_ref", "residue"),
        ValueRule("aa_pos", "integer", 1, None),
        ValueRule("aa_alt", "residue"),
        _number("gerp_rs"),
        _number("phylop100way"),
        _number("phastcons100way", *_PROBABILITY),
        _number("siphy_29way"),
        _number("sift_score", *_PROBABILITY),
        _number("polyphen2_score", *_PROBABILITY, "PolyPhen-2 HumVar probability"),
        _number("fathmm_score"),
        _number("vest4_score", *_PROBABILITY),
        _number("mutpred2_score", *_PROBABILITY, "MutPred2, not MutPred v1"),
        _number(
            "ea_score",
            *_PROBABILITY,
            "EA_1.0 / 100: the fraction the models were trained on",
        ),
        _number("primateai_score", *_PROBABILITY),
        _number("mpc_score", 0.0, None),
        _number("cadd_phred", 0.0, None, "CADD PHRED-scaled, not the raw score"),
    )
}
#: The per-group values of ``frequencies``.
COUNT_RULES: dict[str, ValueRule] = {
    "af": _number("af", *_PROBABILITY, "a fraction, not a percentage"),
    "ac": ValueRule("ac", "integer", 0, None),
    "an": ValueRule("an", "integer", 0, None),
}

if not {*FUNCTIONAL_SCORES, *CONSERVATION_SCORES} <= set(ANNOTATION_RULES):
    raise RuntimeError("ANNOTATION_RULES must cover every canonical model score")


@dataclass(frozen=True)
class InlineVariant:
    """One requested variant with what the caller sent about it (JSON values as parsed).

    ``annotations`` maps canonical names to values; ``frequencies`` maps a dataset
    (``gnomADg``, as the source spells it) to groups, each a mapping of ``af``,
    ``ac`` and ``an``. ``None`` for both means "look the variant up in the store".
    """

    record: InputRecord
    annotations: Mapping[str, Any] | None = None
    frequencies: Mapping[str, Mapping[str, Mapping[str, Any] | None]] | None = None

    @property
    def annotated(self) -> bool:
        """Whether the caller sent anything: then the variant is scored only from that."""
        return self.annotations is not None or self.frequencies is not None


def _cut(text: str) -> str:
    """The caller's text as an error shows it: at most :data:`_SHOWN` characters."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _shown(value: Any) -> str:
    return _cut(repr(value))


def unknown_names(names: Iterable[str], known: Iterable[str], where: str = "") -> list[str]:
    """Why each of ``names`` not in ``known`` is refused, with the likely intended name.

    ``where`` prefixes each name (``annotations.``); a name is shown at most
    :data:`_SHOWN` characters long, since it is the caller's text.
    """
    vocabulary = list(known)
    lowered = {word.lower(): word for word in vocabulary}  # AF is af; Sift_Score, sift_score
    problems = []
    for name in names:
        if name in vocabulary:
            continue
        text = _cut(str(name))
        close = difflib.get_close_matches(text.lower(), list(lowered), n=1)
        hint = f" (did you mean {where}{lowered[close[0]]}?)" if close else ""
        problems.append(f"{where}{text}: not a field vipredict reads{hint}")
    return problems


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def check_value(rule: ValueRule, value: Any, where: str) -> tuple[Any, str]:
    """``(the value to store, "")`` or ``(None, why it is refused)``; ``None`` is missing.

    JSON booleans are refused as numbers (Python counts ``True`` as 1), and so are
    NaN and infinities (no tool writes them; they mean a serialisation bug).
    """
    if value is None:
        return None, ""
    if rule.kind in ("text", "residue"):
        if not isinstance(value, str):
            return None, f"{where}: expected text, got {_json_type(value)} {_shown(value)}"
        text = value.strip()
        if rule.kind == "text":
            if len(text) > TEXT_LIMIT:
                return None, f"{where}: longer than {TEXT_LIMIT} characters"
            return text or None, ""
        if text.upper() not in RESIDUES:
            return None, f"{where}: {_shown(value)} is not a one-letter amino-acid code"
        return text.upper(), ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, f"{where}: expected a number, got {_json_type(value)} {_shown(value)}"
    if not _finite(value):
        return None, f"{where}: {_shown(value)} is not a finite number"
    if rule.kind == "integer" and value != int(value):
        return None, f"{where}: {value} is not a whole number"
    low_ok = rule.low is None or value >= rule.low
    high_ok = rule.high is None or value <= rule.high
    if not (low_ok and high_ok):
        note = f" ({rule.note})" if rule.note else ""
        return None, f"{where}: {value:g} is outside {rule.range_text()}{note}"
    return (int(value) if rule.kind == "integer" else float(value)), ""


def _annotation_row(key: str, annotations: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The annotation row of one variant and the problems found in its values (names the
    rules do not know are :func:`unknown_names`' business)."""
    locus = parse_variant_key(key)
    row: dict[str, Any] = {
        "variant": key,
        "build": locus.build,
        "chrom": locus.chrom,
        "pos": locus.pos,
        "ref": locus.ref,
        "alt": locus.alt,
        "source": INLINE_SOURCE,
    }
    problems = []
    for name, value in annotations.items():
        rule = ANNOTATION_RULES.get(name)
        if rule is None:
            continue
        row[name], problem = check_value(rule, value, name)
        if problem:
            problems.append(problem)
    return row, problems


def _frequency_rows(
    key: str, frequencies: Mapping[str, Mapping[str, Mapping[str, Any] | None]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Long-table rows of one variant (a group with no value has no row) and its problems."""
    rows, problems = [], []
    for dataset, groups in frequencies.items():
        for group, counts in (groups or {}).items():
            where = f"frequencies.{dataset}.{group}"
            if group not in FREQUENCY_GROUPS:
                continue  # named by _unknown
            values = {}
            for name, value in (counts or {}).items():
                rule = COUNT_RULES.get(name)
                if rule is None:
                    continue  # named by _unknown
                values[name], problem = check_value(rule, value, f"{where}.{name}")
                if problem:
                    problems.append(problem)
            ac, an = values.get("ac"), values.get("an")
            if ac is not None and an is not None and ac > an:
                problems.append(f"{where}: ac {ac} is larger than an {an}")
            if any(v is not None for v in values.values()):
                rows.append({"variant": key, "dataset": dataset, "group": group, **values})
    return rows, problems


def _missense_problem(row: Mapping[str, Any]) -> str:
    """Why the protein change sent is not a missense change ("" when it is or is not given)."""
    ref, alt = row.get("aa_ref"), row.get("aa_alt")
    if ref is None or alt is None:
        return ""
    if ref == alt:
        return f"aa_ref and aa_alt are both {ref}: a synonymous change, not missense"
    if "*" in (ref, alt):
        return f"{ref}>{alt} involves a stop codon: not a missense change"
    return ""


def frequency_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The long frequency table (contract 1): text keys, float64 counts, NaN when absent."""
    frame = pd.DataFrame(list(rows), columns=["variant", "dataset", "group", "ac", "an", "af"])
    for column in ("variant", "dataset", "group"):
        frame[column] = frame[column].astype("string")
    for column in ("ac", "an", "af"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


@dataclass(frozen=True)
class _Parsed:
    """One variant read: its record (the named error when refused) and, if kept, its rows."""

    record: InputRecord
    row: dict[str, Any] | None = None
    counts: tuple[dict[str, Any], ...] = ()


def _unknown(variant: InlineVariant) -> list[str]:
    """The names a variant's annotations and frequencies hold that vipredict does not read."""
    problems = unknown_names(variant.annotations or {}, ANNOTATION_RULES, "annotations.")
    for dataset, groups in (variant.frequencies or {}).items():
        where = f"frequencies.{dataset}."
        problems += unknown_names(groups or {}, FREQUENCY_GROUPS, where)
        for group, counts in (groups or {}).items():
            if group in FREQUENCY_GROUPS:
                problems += unknown_names(counts or {}, COUNT_RULES, f"{where}{group}.")
    return problems


def _parse(variant: InlineVariant) -> _Parsed:
    record = variant.record
    if record.key is None:
        return _Parsed(record)
    if unknown := _unknown(variant):
        return _Parsed(failed_record(record.label, UNKNOWN_FIELD, "; ".join(unknown)))
    row, problems = _annotation_row(record.key, variant.annotations or {})
    counts, frequency_problems = _frequency_rows(record.key, variant.frequencies or {})
    problems += frequency_problems
    if problems:
        return _Parsed(failed_record(record.label, INVALID_ANNOTATION, "; ".join(problems)))
    if missense := _missense_problem(row):
        return _Parsed(failed_record(record.label, NOT_MISSENSE, missense))
    return _Parsed(record, row, tuple(counts))


def refusal(variant: InlineVariant) -> InputRecord | None:
    """The variant's named error (its own, ``unknown_field``, ``invalid_annotation``,
    ``not_missense``), or None.

    Cheap (no table is built), so a caller can answer refused variants before scoring.
    """
    record = _parse(variant).record
    return record if record.key is None else None


def inline_inputs(variants: Sequence[InlineVariant]) -> Inputs:
    """Records, annotation table and frequency table of variants sent with their annotations.

    Every variant gives one record, in order: its own when it has no key, an
    ``unknown_field``, ``invalid_annotation`` (or ``not_missense``) record when a
    name or a value is refused,
    else a keyed record with one annotation row (``source`` = ``inline``) and its
    frequency rows. A variant sent with frequencies only has an annotation row of
    its locus alone, so it is scored from what was sent like any other. Keys must
    not repeat among the kept variants: one call is one table with one row per key.
    """
    records: list[InputRecord] = []
    annotation_rows: list[dict[str, Any]] = []
    frequency_rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for variant in variants:
        parsed = _parse(variant)
        records.append(parsed.record)
        if parsed.row is None:
            continue
        key = str(parsed.record.key)
        if key in seen:
            raise ValueError(f"{key} is given twice; score repeats in separate calls")
        seen.add(key)
        annotation_rows.append(parsed.row)
        frequency_rows += parsed.counts
    return Inputs(records, annotation_frame(annotation_rows), frequency_frame(frequency_rows))


def annotation_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The canonical annotation table (contract 2) of inline rows, with their columns typed.

    Inline values carry no warnings of their own: the caller sent each value
    under the name of the quantity it is, so ``annotation_warnings`` starts empty.
    """
    frame = pd.DataFrame(list(rows)) if rows else pd.DataFrame(columns=["variant"])
    if "transcript" not in frame.columns:
        frame["transcript"] = pd.NA
    out = conform_annotations(frame)
    out["transcript"] = out["transcript"].astype("string")
    out[WARNINGS_COLUMN] = pd.array([""] * len(out), dtype="string")
    return out
