"""The store's INFO text, gathered in one pass, is :func:`render_info`'s, row for row.

``write.info_text`` assembles the evidence features' ``VIP_<name>=value`` text
from each column's distinct values instead of joining a string column per
feature. These tests compare it with the one renderer, ``vcf.render_info``, on
made-up float columns (values drawn from a few distinct ones, as store features
are): missing values as nulls and as NaN, rows with no value at all, a row whose
only value is in the last column, chunked columns, integers, and the fall-back
for text past 32-bit offsets.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from vipredict.io.vcf import render_info
from vipredict.store import write
from vipredict.store.write import info_text


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
    assert got.equals(render_info(columns))


def test_rows_with_no_value_are_null_and_a_lone_last_value_has_no_separator() -> None:
    columns = {
        "a": pa.array([None, 1.0, None, np.nan], pa.float64()),
        "b": pa.array([None, None, 2.0, 3.0], pa.float64()),
    }
    got = info_text(columns)
    assert got.to_pylist() == [None, "VIP_a=1", "VIP_b=2", "VIP_b=3"]
    assert got.equals(render_info(columns))


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
    assert got.equals(render_info(columns))


def test_no_rows_and_no_columns() -> None:
    assert info_text({"a": pa.array([], pa.float64())}).equals(
        render_info({"a": pa.array([], pa.float64())})
    )
    assert len(info_text({})) == 0


def test_text_past_32_bit_offsets_is_left_to_render_info(monkeypatch: pytest.MonkeyPatch) -> None:
    columns = _columns(4, 200, 5)
    rendered: list[int] = []

    def spy(values: dict[str, pa.Array]) -> pa.Array:
        rendered.append(len(values))
        return render_info(values)

    monkeypatch.setattr(write, "_STRING_BYTES", 100)
    monkeypatch.setattr(write, "render_info", spy)
    assert info_text(columns).equals(render_info(columns))
    assert rendered == [5]
