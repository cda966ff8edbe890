"""dbNSFP TSV (v2.x, v3.x and v4.x column names) -> canonical annotation table.

Scores go through the harmonised mapping shared with the VEP reader
(:data:`vipredict.io.readers.vep.SCORE_COLUMNS`): each canonical score comes only
from a column of the quantity the model was trained on. PolyPhen-2 is
``Polyphen2_HVAR_score`` (HumVar, as ClinGen's ``pph2_prob``), never
``Polyphen2_HDIV_score``; dbNSFP's ``MutPred_score`` is MutPred v1, not MutPred2.
A value of another quantity is left missing and ``annotation_warnings`` says why.
dbNSFP renamed columns between releases (``pos(1-coor)`` -> ``pos(1-based)``,
``29way_logOdds`` -> ``SiPhy_29way_logOdds``); older spellings are renamed to the
current ones first (:data:`OLD_SPELLINGS`), so a new release is one edit.

Positions on both builds: v3/v4 files key variants on GRCh38 (``#chr``,
``pos(1-based)``) and give GRCh37 beside them (``hg19_chr``,
``hg19_pos(1-based)``). The reader keys each row on the build asked for and puts
the same variant's key on the other build, when the file gives it, in
:data:`OTHER_BUILD_KEY`, so the store can index the row under both builds
(:mod:`vipredict.store.liftover`). v2 files give GRCh37 (``pos(1-coor)``) and
hg18/NCBI36 (``hg18_pos(1-coor)``), a build vipredict does not key: they are
GRCh37 only.

A variant's several transcripts are ``;``-joined in a cell, and v2 repeats a
variant on several lines when the amino-acid change differs: those lines are
joined into ``;``-joined cells first, so both cases go through the same
reduction (:func:`vipredict.io.readers._values.reduce_values`).

Not mapped on purpose: v2.3's bare ``phyloP`` and v2.4's ``phyloP46way_*`` are
46-way scores, not the 100-way ``phylop100way`` the models use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vipredict.io.readers._common import with_provenance
from vipredict.io.readers._values import _NUMBER, MISSING_TOKENS, MULTI_VALUE_RULE, reduction_for
from vipredict.io.readers.vep import (
    NOT_SUBSTITUTED,
    SCORE_COLUMNS,
    WARNINGS,
)
from vipredict.io.sources import get_source, resolve
from vipredict.schema import conform_annotations
from vipredict.variants import CANONICAL_CONTIGS, normalise_build

logger = logging.getLogger(__name__)

DBNSFP_SOURCES = ("dbnsfp_v23_test", "dbnsfp_v24_head", "dbnsfp_v24_chr4")

#: Column of the same variant's key on the file's other build (NA when it gives none).
OTHER_BUILD_KEY = "other_build_variant"

#: Older dbNSFP spellings -> the name the harmonised mapping reads (same quantity).
OLD_SPELLINGS: dict[str, str] = {"29way_logOdds": "SiPhy_29way_logOdds"}

#: Columns beside the harmonised scores: 1000 Genomes phase 1 global AF when phase 3 is
#: absent (v2), and per-population frequencies returned as extra columns.
EXTRA_COLUMNS: dict[str, str] = {
    "1000Gp1_AF": "af_global",
    "1000Gp1_AFR_AF": "tgp1_afr_af",
    "1000Gp1_EUR_AF": "tgp1_eur_af",
    "1000Gp1_AMR_AF": "tgp1_amr_af",
    "1000Gp1_ASN_AF": "tgp1_asn_af",
    "1000Gp3_AFR_AF": "tgp3_afr_af",
    "1000Gp3_EUR_AF": "tgp3_eur_af",
    "1000Gp3_AMR_AF": "tgp3_amr_af",
    "1000Gp3_EAS_AF": "tgp3_eas_af",
    "1000Gp3_SAS_AF": "tgp3_sas_af",
    "ESP6500_AA_AF": "esp_aa_af",
    "ESP6500_EA_AF": "esp_ea_af",
}
_SEP = ";"
#: Coordinates per release and build: (chrom, pos) columns.
_V2_LOCUS = {"GRCh37": ("#chr", "pos(1-coor)")}
_V4_LOCUS = {"GRCh38": ("#chr", "pos(1-based)"), "GRCh37": ("hg19_chr", "hg19_pos(1-based)")}
_TEXT_COLUMNS = ("genename", "aaref", "aaalt", "aapos", "ref", "alt")
_LOCUS_NAMES = frozenset(c for loci in (_V2_LOCUS, _V4_LOCUS) for p in loci.values() for c in p)
#: Every column the reader uses: big files are read with only these (dbNSFP v4 has ~400).
USED_COLUMNS = frozenset(
    (
        *(c for columns in SCORE_COLUMNS.values() for c in columns),
        *(c for columns, _ in NOT_SUBSTITUTED.values() for c in columns),
        *OLD_SPELLINGS,
        *EXTRA_COLUMNS,
        *_LOCUS_NAMES,
        *_TEXT_COLUMNS,
    )
)

#: Columns only the per-population extras come from (``tgp1_afr_af``, ``esp_aa_af``, ...):
#: the reader returns them, but no feature reads them and the store keeps none of them,
#: so a streamed ingest does not read them (a quarter of the columns it would parse).
POPULATION_COLUMNS = frozenset(c for c, name in EXTRA_COLUMNS.items() if name not in SCORE_COLUMNS)


def builds_of(columns: pd.Index) -> dict[str, tuple[str, str]]:
    """Every build the file gives coordinates on -> its (chrom, pos) columns."""
    loci = _V2_LOCUS if _V2_LOCUS["GRCh37"][1] in columns else _V4_LOCUS
    return {build: pair for build, pair in loci.items() if pair[1] in columns}


def _locus_columns(columns: pd.Index, build: str) -> tuple[str, str]:
    """Which chrom/pos columns hold coordinates on ``build`` (v2 files are GRCh37 only)."""
    found = builds_of(columns)
    if build in found:
        return found[build]
    if _V2_LOCUS["GRCh37"][1] in columns:
        raise ValueError("dbNSFP v2 files carry GRCh37 (hg19) positions only")
    raise ValueError(f"not a dbNSFP table: no {_V4_LOCUS[build][1]!r} column for {build}")


def check_header(columns: list[str], build: str) -> None:
    """Raise ``ValueError`` naming what a dbNSFP header lacks to be keyed on ``build``.

    What :func:`dbnsfp_annotations` would fail on in its first chunk, said before a
    genome-sized file is streamed: the build's chromosome and position, REF and ALT.
    """
    _locus_columns(pd.Index(columns), normalise_build(build))
    missing = [c for c in ("ref", "alt") if c not in columns]
    if missing:
        raise ValueError(f"not a dbNSFP table: no {' or '.join(map(repr, missing))} column")


# --------------------------------------------------------------------------- keys
# The rules of vipredict.io.readers._common.attach_keys and vipredict.variants.key_column
# (the other readers'), in Arrow: a contig is normalised once per distinct value.


def _positions(cells: pa.Array) -> np.ndarray:
    """Positions as numbers, as ``pd.to_numeric(errors="coerce")`` reads them (NaN if not)."""
    digits = pc.fill_null(pc.match_substring_regex(cells, r"^[0-9]+$"), False)
    out = np.full(len(cells), np.nan)
    plain = digits.to_numpy(zero_copy_only=False)
    out[plain] = pc.cast(cells.filter(digits), pa.int64()).to_numpy()
    if not plain.all():  # "12.0", " 12", ".": the pandas parser, on those cells only
        rest = cells.filter(pc.invert(digits)).to_pylist()
        out[~plain] = pd.to_numeric(pd.Series(rest, dtype="str"), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
    return out


def _contigs(chrom: pa.Array) -> pa.Array:
    """Canonical contig of each cell (null where not a primary chromosome), as key_column."""
    encoded = pc.dictionary_encode(chrom)
    names = pd.Series(pd.array(encoded.dictionary, dtype=pd.StringDtype("pyarrow")))
    text = names.str.strip().str.replace(r"^(?i:chr)", "", regex=True).str.upper()
    text = text.replace({"M": "MT", "23": "X", "24": "Y"})
    canonical = pa.array(text.where(text.isin(CANONICAL_CONTIGS)).astype(object), pa.string())
    return canonical.take(encoded.indices)


def _keys(
    build: str, chrom: pa.Array, pos: np.ndarray, ref: pa.Array, alt: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """(keys, contigs): ``build:chrom:pos:REF:ALT``, null where the contig is not primary."""
    contigs = _contigs(chrom)
    position = pc.cast(pa.array(np.trunc(np.nan_to_num(pos)).astype(np.int64)), pa.string())
    keys = pc.binary_join_element_wise(
        build, contigs, position, pc.utf8_upper(ref), pc.utf8_upper(alt), ":"
    )
    return keys, contigs


@dataclass
class _Keyed:
    """The rows of a chunk that can be keyed: key, locus, other build's key, line in ``raw``."""

    variant: pa.Array
    chrom: pa.Array
    pos: np.ndarray
    ref: pa.Array
    alt: pa.Array
    other: pa.Array
    line: np.ndarray

    def take(self, rows: np.ndarray) -> _Keyed:
        at = pa.array(rows)
        return _Keyed(
            *(column.take(at) for column in (self.variant, self.chrom)),
            self.pos[rows],
            *(column.take(at) for column in (self.ref, self.alt, self.other)),
            self.line[rows],
        )


def _column(raw: pa.Table, name: str) -> pa.Array:
    return raw[name].combine_chunks()


def _other_build_key(raw: pa.Table, build: str) -> pa.Array:
    """The key of each row on the file's other build (null where it gives no position)."""
    keys = pa.nulls(raw.num_rows, pa.string())
    for other, (chrom, pos) in builds_of(pd.Index(raw.column_names)).items():
        if other == build:
            continue
        position = _positions(_column(raw, pos))
        # alleles as the file gives them, upper-cased (the row's own key checks them)
        ref, alt = _column(raw, "ref"), _column(raw, "alt")
        found, _ = _keys(other, _column(raw, chrom), position, ref, alt)
        keys = pc.if_else(pa.array(position >= 1), found.cast(pa.string()), keys)
    return keys


def _keyed_rows(raw: pa.Table, build: str, what: str) -> tuple[_Keyed, dict[str, int]]:
    """The rows of ``raw`` that can be keyed, and how many of the others were dropped why.

    The drop rules of :func:`~vipredict.io.readers._common.attach_keys`: a position
    that is not a positive number, alleles that are not A/C/G/T (N allowed in REF)
    or equal, are ``malformed_record``; a contig that is not primary is ``unknown_contig``.
    """
    chrom, pos = _locus_columns(pd.Index(raw.column_names), build)
    position = _positions(_column(raw, pos))
    ref = pc.utf8_upper(pc.utf8_trim_whitespace(_column(raw, "ref")))
    alt = pc.utf8_upper(pc.utf8_trim_whitespace(_column(raw, "alt")))
    bases = pc.and_(
        pc.match_substring_regex(ref, "^[ACGTN]+$"), pc.match_substring_regex(alt, "^[ACGT]+$")
    )
    alleles = pc.and_(bases, pc.not_equal(ref, alt))
    with np.errstate(invalid="ignore"):
        wellformed = (position >= 1) & pc.fill_null(alleles, False).to_numpy(zero_copy_only=False)
    keys, contigs = _keys(build, _column(raw, chrom), position, ref, alt)
    keyed = wellformed & pc.is_valid(keys).to_numpy(zero_copy_only=False)
    dropped = {
        "malformed_record": int((~wellformed).sum()),
        "unknown_contig": int((wellformed & ~keyed).sum()),
    }
    dropped = {reason: count for reason, count in dropped.items() if count}
    if dropped:
        logger.warning("%s: dropped %s record(s) that cannot be keyed", what, dropped)
    other = _other_build_key(raw, build)
    rows = _Keyed(keys, contigs, position, ref, alt, other, np.arange(raw.num_rows))
    rows = rows if keyed.all() else rows.take(np.flatnonzero(keyed))
    rows.pos = rows.pos.astype(np.int64)
    return rows, dropped


# --------------------------------------------------------------------------- cells -> values
# Arrow compute over every cell of a column at once: a cell without ``;`` is its own
# single token (most cells), the others are split, flattened and reduced per row with
# the token's row index. The rules are those of vipredict.io.readers._values, token
# for token: a number is what _NUMBER matches, missing is MISSING_TOKENS after
# stripping, and the first listed transcript wins (MULTI_VALUE_RULE).

#: A bare number, the common case, cast directly (no capture group, so RE2 runs a DFA).
_PLAIN_NUMBER = r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$"
#: :data:`_values._NUMBER` with its group named, for the rare padded or wrapped token.
_WRAPPED_NUMBER = _NUMBER.replace("(?:[A-Za-z_ ]+\\()?\\s*(", "(?:[A-Za-z_ ]+\\()?\\s*(?P<n>", 1)
_MISSING = pa.array(sorted(MISSING_TOKENS), pa.string())


def _first_per_row(rows: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, token positions) of the first token per row where ``mask`` holds (rows sorted)."""
    at = np.flatnonzero(mask)
    owners = rows[at]
    first = np.ones(len(at), dtype=bool)
    first[1:] = owners[1:] != owners[:-1]
    return owners[first], at[first]


def _regex_numbers(tokens: pa.Array) -> np.ndarray:
    """Tokens as floats by :data:`_values._NUMBER` itself (NaN where it does not match)."""
    out = np.full(len(tokens), np.nan)
    plain = pc.fill_null(pc.match_substring_regex(tokens, _PLAIN_NUMBER), False)
    plain_at = plain.to_numpy(zero_copy_only=False)
    if plain_at.any():
        out[plain_at] = pc.cast(tokens.filter(plain), pa.float64()).to_numpy()
    rest = np.flatnonzero(~plain_at)
    if len(rest):
        others = tokens.take(pa.array(rest))
        wrapped = pc.fill_null(pc.match_substring_regex(others, _WRAPPED_NUMBER), False)
        wrapped_at = wrapped.to_numpy(zero_copy_only=False)
        if wrapped_at.any():
            found = pc.extract_regex(others.filter(wrapped), _WRAPPED_NUMBER).field("n")
            out[rest[wrapped_at]] = pc.cast(found, pa.float64()).to_numpy()
    return out


class _Cells:
    """One text column's ``sep``-joined cells, tokenised once and read several ways."""

    def __init__(self, cells: pa.Array, sep: str = _SEP, regex: bool = False) -> None:
        self.cells, self.n = cells, len(cells)
        found = pc.match_substring_regex(cells, sep) if regex else pc.match_substring(cells, sep)
        if pc.any(found).as_py():
            lists = pc.split_pattern_regex(cells, sep) if regex else pc.split_pattern(cells, sep)
            self.tokens = pc.list_flatten(lists)
            self.rows = pc.list_parent_indices(lists).to_numpy()
        else:  # no cell holds two transcripts: each (non-null) cell is its one token
            valid = pc.is_valid(cells)
            self.tokens = cells.filter(valid) if cells.null_count else cells
            self.rows = np.flatnonzero(valid.to_numpy(zero_copy_only=False))

    @cached_property
    def candidates(self) -> np.ndarray:
        """Whether each token may be a value: it is not, as it stands, a missing token."""
        missing = pc.fill_null(pc.is_in(self.tokens, value_set=_MISSING), True)
        return ~missing.to_numpy(zero_copy_only=False)

    @cached_property
    def numbers(self) -> np.ndarray:
        """Each token as a float (NaN where it is not a number).

        Arrow's cast reads every finite number :data:`_values._NUMBER` reads, and
        nothing else finite; so the tokens that are not missing are cast at once,
        and only a column with a token the cast refuses, or one it reads as inf or
        NaN, goes through the regular expressions, for those tokens only.
        """
        tokens = self.tokens
        out = np.full(len(tokens), np.nan)
        at = np.flatnonzero(self.candidates)
        try:
            values = pc.cast(tokens.filter(pa.array(self.candidates)), pa.float64()).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            recheck = at
        else:
            finite = np.isfinite(values)
            out[at[finite]] = values[finite]
            recheck = at[~finite]
        if len(recheck):
            out[recheck] = _regex_numbers(tokens.take(pa.array(recheck)))
        return out

    @cached_property
    def stripped(self) -> pa.Array:
        return pc.utf8_trim_whitespace(self.tokens)

    @cached_property
    def given(self) -> np.ndarray:
        """Whether each token is something other than a missing token."""
        missing = pc.is_in(self.stripped, value_set=_MISSING)
        return ~missing.to_numpy(zero_copy_only=False)

    def first_number(self) -> np.ndarray:
        """Per row, the first token that is a number (NaN if none)."""
        out = np.full(self.n, np.nan)
        rows, at = _first_per_row(self.rows, ~np.isnan(self.numbers))
        out[rows] = self.numbers[at]
        return out

    def most_damaging(self, column: str) -> np.ndarray:
        """Per row, the most damaging number (:func:`_values.most_damaging`; NaN if none)."""
        out = np.full(self.n, np.nan)
        valid = ~np.isnan(self.numbers)
        rows, values = self.rows[valid], self.numbers[valid]
        if not len(rows):
            return out
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        reduce = np.minimum if reduction_for(column) == "min" else np.maximum
        out[rows[starts]] = reduce.reduceat(values, starts)
        return out

    def reduce(self, column: str) -> np.ndarray:
        """Per row, one number by :data:`MULTI_VALUE_RULE` (as :func:`_values.reduce_values`)."""
        return self.first_number() if MULTI_VALUE_RULE == "first" else self.most_damaging(column)

    def _first_token(self, mask: np.ndarray) -> pa.Array:
        rows, at = _first_per_row(self.rows, mask)
        where = np.full(self.n, -1, dtype=np.int64)
        where[rows] = at
        # at most a token a row is stripped, not every token
        return pc.utf8_trim_whitespace(self.tokens.take(pa.array(where, mask=where < 0)))

    def non_numeric(self) -> pa.Array:
        """Per row, the first token neither missing nor a number (null if none).

        A number is never missing, so only the tokens that are neither numbers nor, as
        they stand, missing tokens (few, in a score column) are stripped and looked for
        among the missing tokens.
        """
        mask = np.isnan(self.numbers) & self.candidates
        at = np.flatnonzero(mask)
        if len(at):
            stripped = pc.utf8_trim_whitespace(self.tokens.take(pa.array(at)))
            mask[at] = ~pc.is_in(stripped, value_set=_MISSING).to_numpy(zero_copy_only=False)
        return self._first_token(mask)

    def first_text(self) -> pa.Array:
        """Per row, the first non-missing token, stripped (null if none)."""
        return self._first_token(self.given)

    def first_positive_int(self) -> pd.Series:
        """Per row, the first number that is a positive integer (``-1`` means none in dbNSFP)."""
        numbers = self.numbers
        with np.errstate(invalid="ignore"):
            positive = (numbers > 0) & (numbers == np.round(numbers))
        out = np.full(self.n, np.nan)
        rows, at = _first_per_row(self.rows, positive)
        out[rows] = numbers[at]
        return pd.Series(out).astype("Int64")

    def any_given(self) -> np.ndarray:
        """Per row, whether any token is not a missing token."""
        out = np.zeros(self.n, dtype=bool)
        out[self.rows[self.given]] = True
        return out


def _present(cells: _Cells, asked: np.ndarray) -> np.ndarray:
    """Whether a refused column's cell holds a value, as the VEP rules read it, in the
    ``asked`` rows (False elsewhere).

    The cell is blanked first when every ``;`` transcript is missing, then read as
    :func:`vipredict.io.readers.vep._present` reads it (tokens split on ``;``, ``,``, ``&``).
    The ``;`` tokens are the column's own; only the asked cells that have one are split
    again (a refused score's warning is wanted only where the score is missing).
    """
    out = asked & cells.any_given()
    at = np.flatnonzero(out)
    if len(at):
        out[at] = _Cells(cells.cells.take(pa.array(at)), r"[;,&]", regex=True).any_given()
    return out


# --------------------------------------------------------------------------- rows


def _join_repeated(keyed: _Keyed, raw: pa.Table, text: list[str]) -> tuple[_Keyed, dict]:
    """(one row per variant, its text cells): a variant's repeated lines ``;``-joined.

    dbNSFP v2 lists a variant once per amino-acid change; joining the lines makes
    them the multi-transcript cell they stand for, so one reduction serves both. A
    variant stays at its first line, with that line's locus and other-build key.
    """
    every_line = len(keyed.line) == raw.num_rows
    lines = None if every_line else pa.array(keyed.line)
    cells = {c: _column(raw, c) if every_line else _column(raw, c).take(lines) for c in text}
    encoded = pc.dictionary_encode(keyed.variant).indices.to_numpy()
    counts = np.bincount(encoded)
    repeated = counts[encoded] > 1
    if not repeated.any():
        return keyed, cells
    at = np.flatnonzero(repeated)
    # dictionary codes follow first appearance: group after group, each group's lines in
    # order. A repeated variant's group is the rank of its code among the repeated codes
    # (what ``np.unique(..., return_inverse=True)`` gives, without sorting).
    group = (np.cumsum(counts > 1) - 1)[encoded[at]]
    order = at[np.argsort(group, kind="stable")]
    starts = np.r_[0, np.cumsum(np.bincount(group))]
    firsts = order[starts[:-1]]
    keep = ~repeated
    keep[firsts] = True
    index = np.arange(len(keyed.line))
    index[firsts] = len(index) + np.arange(len(firsts))
    kept = pa.array(index[keep])
    offsets, grouped = pa.array(starts.astype(np.int32)), pa.array(order)
    for column in text:
        joined = pc.binary_join(
            pa.ListArray.from_arrays(offsets, cells[column].take(grouped)), _SEP
        )
        cells[column] = pa.concat_arrays([cells[column], joined.cast(pa.string())]).take(kept)
    return keyed.take(np.flatnonzero(keep)), cells


def _text(column: pa.Array) -> pd.Series:
    """An Arrow string column as a pandas ``string`` column (Arrow-backed: no copy per value)."""
    return pd.Series(pd.array(column, dtype=pd.StringDtype("pyarrow")))


def _warnings(cells: dict[str, _Cells], scores: dict[str, np.ndarray], n: int) -> pa.Array:
    """``annotation_warnings`` (:func:`vipredict.io.readers.vep.score_warnings`, same items)."""
    parts: list[pa.Array] = []
    for canonical in SCORE_COLUMNS:
        missing = np.isnan(scores[canonical])
        refused, why = NOT_SUBSTITUTED.get(canonical, ((), ""))
        for column in (c for c in refused if c in cells):
            hit = _present(cells[column], missing)
            text = np.where(hit, f"{canonical}: {why}", None)
            parts.append(pa.array(text, pa.string()))
        for column in (c for c in SCORE_COLUMNS[canonical] if c in cells):
            token = cells[column].non_numeric()
            if token.null_count == len(token):
                continue
            prefix = f"{canonical}: non-numeric {column} value '"
            parts.append(pc.binary_join_element_wise(prefix, token, "' ignored", ""))
    joined = pa.nulls(n, pa.string())
    for part in parts:  # (binary_join_element_wise's null_handling="skip" drops rows in pyarrow 25)
        both = pc.binary_join_element_wise(joined, part, "; ")
        joined = pc.coalesce(both, joined, part)
    return pc.fill_null(joined, "")


def read_dbnsfp(path: Path, build: str = "GRCh37", source_name: str | None = None) -> pd.DataFrame:
    """dbNSFP TSV (plain or gzip) -> canonical annotations + per-population AF extras.

    One row per variant: dbNSFP v2 repeats a variant per transcript when the
    amino-acid change differs, and those lines are joined like ``;``-joined cells.
    """
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return dbnsfp_annotations(raw, build, f"dbNSFP {Path(path).name}", source_name)


def dbnsfp_annotations(
    raw: pd.DataFrame | pa.Table, build: str, what: str, source_name: str | None = None
) -> pd.DataFrame:
    """dbNSFP rows already read as text -> canonical annotations.

    Split from :func:`read_dbnsfp` so that a genome-sized file can be streamed in
    chunks (:mod:`vipredict.store.ingest` reads Arrow batches of
    :data:`USED_COLUMNS`) through exactly the same mapping. ``raw`` is a pandas
    frame or an Arrow table of text columns. Columns besides the canonical ones:
    :data:`OTHER_BUILD_KEY`, ``annotation_warnings`` and the per-population extras.

    The per-transcript cells are parsed with Arrow compute, a column at a time,
    never a Python loop per row: at dbNSFP's 85 million rows the per-row parser
    took hours.
    """
    canonical_build = normalise_build(build)
    table = raw if isinstance(raw, pa.Table) else pa.Table.from_pandas(raw, preserve_index=False)
    table = table.cast(pa.schema([(name, pa.string()) for name in table.column_names]))
    table = table.rename_columns(
        [
            OLD_SPELLINGS[c] if c in OLD_SPELLINGS and OLD_SPELLINGS[c] not in table.column_names
            else c
            for c in table.column_names
        ]
    )  # fmt: skip
    keyed, dropped = _keyed_rows(table, canonical_build, what)
    text = [c for c in table.column_names if c in USED_COLUMNS and c not in _LOCUS_NAMES]
    text = [c for c in text if c not in ("ref", "alt")]
    rows, joined = _join_repeated(keyed, table, text)
    cells = {c: _Cells(joined[c]) for c in text}
    n = len(rows.line)
    scores: dict[str, np.ndarray] = {}
    for canonical, columns in SCORE_COLUMNS.items():
        value = np.full(n, np.nan)
        for column in (c for c in columns if c in cells):
            value = np.where(np.isnan(value), cells[column].reduce(canonical), value)
        scores[canonical] = value
    extras: dict[str, np.ndarray] = {}
    for column, canonical in EXTRA_COLUMNS.items():
        if column not in cells:
            continue
        values = cells[column].reduce(canonical)
        if canonical in scores:
            scores[canonical] = np.where(np.isnan(scores[canonical]), values, scores[canonical])
        else:
            extras[canonical] = values
    columns: dict[str, object] = {
        "variant": _text(rows.variant),
        "build": canonical_build,
        "chrom": _text(rows.chrom),
        "pos": pd.array(rows.pos, dtype="Int64"),
        "ref": _text(rows.ref),
        "alt": _text(rows.alt),
    }
    for column, canonical in (("genename", "gene"), ("aaref", "aa_ref"), ("aaalt", "aa_alt")):
        if column in cells:
            columns[canonical] = _text(cells[column].first_text()).astype("string")
    if "aapos" in cells:
        columns["aa_pos"] = cells["aapos"].first_positive_int()
    columns.update({**scores, **extras})
    columns[OTHER_BUILD_KEY] = _text(rows.other)
    columns[WARNINGS] = _text(_warnings(cells, scores, n)).astype("string")
    # one frame from all the columns: inserting them one by one cost a chunk ~20 ms
    out = conform_annotations(with_provenance(pd.DataFrame(columns), source_name))
    out.attrs["dropped"] = dropped
    return out


def read_dbnsfp_source(name: str) -> pd.DataFrame:
    """A declared dbNSFP extract (``dbnsfp_v23_test``, ...) with provenance."""
    return read_dbnsfp(resolve(name), get_source(name).build, source_name=name)
