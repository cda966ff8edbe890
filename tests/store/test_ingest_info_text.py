"""Feature INFO text gathered in one pass is the per-feature join's, row for row.

``vcf.render_info`` (the one renderer: the store's INFO text, pre-scored
evidence's, annotate's other columns) assembles ``VIP_<name>=value`` text from
each column's distinct values at once; ``vcf._joined_info`` joins a string column
per feature, as render_info did before, and is kept for text past 32-bit
offsets. These tests compare the two on SYNTHETIC, made-up float columns (values
drawn from a few distinct ones, as store features are): missing values as nulls
and as NaN, rows with no value at all, a row whose only value is in the last
column, chunked columns, integers, rows asked in another order or null, and the
fall-back for text past 32-bit offsets.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from vipredict.io import vcf
from vipredict.io.vcf import render_info


def info_text(columns: dict[str, pa.Array]) -> pa.Array:
    """The gathered text (render_info's), checked as a valid Arrow array."""
    got = render_info(columns)
    got.validate(full=True)
    return got


def joined(columns: dict[str, pa.Array]) -> pa.Array:
    """The reference: one string join per feature."""
    return vcf._joined_info(columns, 65_536)


def _column(rng: np.random.Generator, n: int, missing: float) -> pa.Array:
    distinct = np.array([0.0, -0.0, 1.0, -2.5, 0.018572, 298.7305, 1e-7, 123456789.0, np.nan])
    values = rng.choice(distinct, n)
    return pa.array(values, mask=rng.random(n) < missing)


def _columns(seed: int, n: int, k: int) -> dict[str, pa.Array]:
    rng = np.random.default_rng(seed)
    return {
        f"feature_{j}": _column(rng, n, missing=rng.choice([0.0, 0.3, 0.9, 1.0])) for j in range(k)
    }


@pytest.mark.parametrize(("seed", "n", "k"), [(0, 1000, 26), (1, 500, 3), (2, 50, 1), (3, 7, 40)])
def test_info_text_is_render_info(seed: int, n: int, k: int) -> None:
    columns = _columns(seed, n, k)
    got = info_text(columns)
    got.validate(full=True)
    assert got.equals(joined(columns))


def test_rows_with_no_value_are_null_and_a_lone_last_value_has_no_separator() -> None:
    columns = {
        "a": pa.array([None, 1.0, None, np.nan], pa.float64()),
        "b": pa.array([None, None, 2.0, 3.0], pa.float64()),
    }
    got = info_text(columns)
    assert got.to_pylist() == [None, "VIP_a=1", "VIP_b=2", "VIP_b=3"]
    assert got.equals(joined(columns))


def test_chunked_and_integer_columns() -> None:
    columns = {
        "x": pa.chunked_array([[1.5, None], [], [2.25, 0.0]], pa.float64()),
        "flag": pa.chunked_array([pa.array([0, 1, None, 1], pa.int64())]),
    }
    got = info_text(columns)
    assert got.to_pylist() == [
        "VIP_x=1.5;VIP_flag=0",
        "VIP_flag=1",
        "VIP_x=2.25",
        "VIP_x=0;VIP_flag=1",
    ]
    assert got.equals(joined(columns))


def test_no_rows_and_no_columns() -> None:
    assert info_text({"a": pa.array([], pa.float64())}).equals(
        joined({"a": pa.array([], pa.float64())})
    )
    assert len(info_text({})) == 0


def test_text_past_32_bit_offsets_is_joined_slice_by_slice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    columns = _columns(4, 200, 5)
    expected = joined(columns)
    reference = vcf._joined_info
    rendered: list[int] = []

    def spy(values: dict[str, pa.Array], slice_rows: int) -> pa.Array:
        rendered.append(len(values))
        return reference(values, slice_rows)

    monkeypatch.setattr(vcf, "_STRING_BYTES", 100)
    monkeypatch.setattr(vcf, "_joined_info", spy)
    assert render_info(columns).equals(expected)
    assert rendered == [5]


def test_rows_asked_are_rendered_in_their_order_and_a_null_row_is_null() -> None:
    columns = _columns(5, 300, 6)
    rows = pa.array([7, 0, None, 299, 7], pa.int64())
    taken = {c: v.take(pa.array([7, 0, 0, 299, 7])) for c, v in columns.items()}
    got = render_info(columns, rows).to_pylist()
    want = joined(taken).to_pylist()
    assert got[2] is None and got[:2] + got[3:] == want[:2] + want[3:]
