"""Cell-level value parsing shared by every reader of annotation tools' output.

VEP (comma-joined) and dbNSFP (semicolon-joined) both pack one value per
transcript into a cell, write ``.``/``-`` for missing, and VEP may wrap SIFT and
PolyPhen as ``deleterious(0.01)``. A variant gets ONE value per score, so the
reduction over transcripts is a modelling decision; it lives here, once, so VEP
and dbNSFP inputs for the same variant yield the same number.

Decision (:data:`MULTI_VALUE_RULE`), measured against the training rows: keep the
*first listed* value. On the 157 variants that are both in the VEP tables and in
ClinGen 2019 (whose rows name one transcript), the first listed dbNSFP value
equals the training value far more often than the most damaging one: VEST4 75%
against 46%, FATHMM 94% against 81% (MPC and PrimateAI 100% either way). The
most-damaging reduction (max for most tools; min for SIFT and FATHMM, where
lower means more damaging) remains available for dbNSFP rows of several
transcripts that name no order. Text columns (gene, amino-acid position) take
the first listed transcript too.

VEP's own per-transcript entries (a VEP tab line, a CSQ entry) are not reduced
here: one entry is chosen by the transcript rule of
:mod:`vipredict.io.readers.vep`; only the several values a dbNSFP plugin field may
hold inside that one entry go through :func:`reduce_values`.

A token that is neither missing nor a number (``high``, ``0.1x``) is dropped, and
:func:`non_numeric` finds it so the reader can say so in ``annotation_warnings``
instead of failing or guessing.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

#: Tokens the annotation tools use for "no value".
MISSING_TOKENS = frozenset({"", ".", "-", "NA", "nan", "NaN", "None"})

#: Scores where a *lower* value is more damaging, so the transcript minimum is kept.
LOWER_IS_DAMAGING = frozenset({"sift_score", "fathmm_score"})

# A bare number, optionally wrapped as ``label(number)`` (VEP SIFT/PolyPhen style).
_NUMBER = r"^\s*(?:[A-Za-z_ ]+\()?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\)?\s*$"

Reduction = Literal["max", "min"]
MultiValueRule = Literal["most_damaging", "first"]

#: How the several values of one cell (one per dbNSFP transcript) become one number.
MULTI_VALUE_RULE: MultiValueRule = "first"


def reduction_for(column: str) -> Reduction:
    """Which end of the transcript values is the most damaging for a canonical score."""
    return "min" if column in LOWER_IS_DAMAGING else "max"


def split_numbers(values: pd.Series, sep: str) -> pd.Series:
    """One float per transcript token (long, index repeated); missing tokens dropped.

    Vectorised (split/explode/regex) because dbNSFP files hold ~50k rows x 15 scores.
    """
    tokens = values.astype("string").str.split(sep, regex=False).explode()
    numbers = tokens.str.extract(_NUMBER, expand=False)
    return pd.to_numeric(numbers, errors="coerce").dropna().astype("float64")


def most_damaging(values: pd.Series, column: str, sep: str) -> pd.Series:
    """Per row, the most damaging of the ``sep``-joined transcript values (NaN if none)."""
    numbers = split_numbers(values, sep)
    grouped = numbers.groupby(level=0)
    reduced = grouped.min() if reduction_for(column) == "min" else grouped.max()
    return reduced.reindex(values.index).astype("float64")


def first_number(values: pd.Series, sep: str) -> pd.Series:
    """Per row, the first numeric ``sep``-joined token (NaN if none)."""
    first = split_numbers(values, sep).groupby(level=0).first()
    return first.reindex(values.index).astype("float64")


def reduce_values(values: pd.Series, column: str, sep: str) -> pd.Series:
    """Per row, one number from the ``sep``-joined values by :data:`MULTI_VALUE_RULE`."""
    if MULTI_VALUE_RULE == "first":
        return first_number(values, sep)
    return most_damaging(values, column, sep)


def non_numeric(values: pd.Series, sep: str) -> pd.Series:
    """Per row, the first token that is neither a missing token nor a number (NA if none).

    Such a value is left missing by the number parsers; the readers name it in
    ``annotation_warnings`` so a malformed score is visible, not silently absent.
    """
    tokens = values.astype("string").str.split(sep, regex=False).explode().str.strip()
    present = tokens[tokens.notna() & ~tokens.isin(MISSING_TOKENS)]
    bad = present[present.str.extract(_NUMBER, expand=False).isna()]
    first = bad.groupby(level=0).first()
    return first.reindex(values.index).astype("string")


def first_value(values: pd.Series, sep: str) -> pd.Series:
    """Per row, the first non-missing ``sep``-joined token (text columns such as gene or aapos).

    Text cannot be ranked by damage, so the first listed transcript (VEP's and
    dbNSFP's canonical-first order) is the documented choice.
    """
    tokens = values.astype("string").str.split(sep, regex=False).explode().str.strip()
    present = tokens[~tokens.isin(MISSING_TOKENS) & tokens.notna()]
    first = present.groupby(level=0).first()
    return first.reindex(values.index).astype("string")


def first_positive_int(values: pd.Series, sep: str) -> pd.Series:
    """First transcript value that is a positive integer (dbNSFP writes ``-1`` for none)."""
    numbers = split_numbers(values, sep)
    positive = numbers[(numbers > 0) & (numbers == numbers.round())]
    first = positive.groupby(level=0).first()
    return first.reindex(values.index).astype("Int64")


def collapse_by_variant(frame: pd.DataFrame, score_columns: list[str]) -> pd.DataFrame:
    """One row per ``variant``: scores by the most-damaging rule, other columns first non-NA.

    Tools repeat a variant on several lines (VEP per consequence, dbNSFP v2 per
    transcript when the amino-acid change differs), and the transcript reduction
    must not depend on whether transcripts share a line or not.
    """
    if not frame["variant"].duplicated().any():
        return frame
    rules = {c: reduction_for(c) for c in score_columns if c in frame.columns}
    rules |= {c: "first" for c in frame.columns if c not in rules and c != "variant"}
    collapsed = frame.groupby("variant", sort=False, as_index=False).agg(rules)
    return collapsed[list(frame.columns)]
