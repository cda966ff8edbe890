"""Rows are stored in locus order, and a chunk already in that order is not sorted again.

``store_arrow`` sorts rows by build, chromosome and position (stable), but first
asks :func:`vipredict.store.write._sorted_by_locus` whether they are in order
already, as a streamed chunk is. These tests compare that answer with Python's own
tuple order on SYNTHETIC loci (random, with ties and nulls), where a wrong "yes"
would store rows out of order.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

from vipredict.store.write import _sorted_by_locus


def _loci(rows: list[tuple[str | None, str | None, int | None]]) -> pa.Table:
    build, chrom, pos = zip(*rows, strict=True) if rows else ((), (), ())
    return pa.table(
        {
            "build": pa.array(build, pa.string()),
            "chrom": pa.array(chrom, pa.string()),
            "pos": pa.array(pos, pa.int64()),
        }
    )


def _in_order(rows: list[tuple[str | None, str | None, int | None]]) -> bool:
    """Python's answer: every row <= the next as a tuple (a null is never in order)."""
    if any(None in row for row in rows) and len(rows) > 1:
        return False
    return all(a <= b for a, b in itertools.pairwise(rows))


@pytest.mark.parametrize("seed", range(40))
def test_the_order_check_agrees_with_tuple_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 12))
    rows = [
        (
            str(rng.choice(["GRCh37", "GRCh38"])),
            str(rng.choice(["1", "10", "2", "X"])),
            int(rng.integers(1, 4)),
        )
        for _ in range(n)
    ]
    if seed % 2:  # half the cases in order, with ties on every column
        rows.sort()
    assert _sorted_by_locus(_loci(rows)) == _in_order(rows)


def test_ties_are_decided_by_the_next_column_only_when_equal() -> None:
    assert _sorted_by_locus(_loci([("GRCh37", "2", 9), ("GRCh38", "1", 1)]))
    assert not _sorted_by_locus(_loci([("GRCh38", "1", 1), ("GRCh37", "2", 9)]))
    assert _sorted_by_locus(_loci([("GRCh37", "1", 5), ("GRCh37", "1", 5), ("GRCh37", "10", 1)]))
    assert not _sorted_by_locus(_loci([("GRCh37", "1", 6), ("GRCh37", "1", 5)]))
    # text order, as the sort uses: "10" before "2"
    assert _sorted_by_locus(_loci([("GRCh37", "10", 7), ("GRCh37", "2", 1)]))


def test_a_null_locus_is_sorted_not_trusted() -> None:
    assert not _sorted_by_locus(_loci([("GRCh37", None, 1), ("GRCh37", "1", 2)]))
    assert not _sorted_by_locus(_loci([("GRCh37", "1", 1), ("GRCh37", "1", None)]))
    assert _sorted_by_locus(_loci([("GRCh37", None, None)]))
