"""SortedScan answers Store.match's question, block after block, reading files forward.

Every test compares against :meth:`Store.match` (DuckDB's join) on the SYNTHETIC tiny
home's rows, written as two files per partition in row groups of 16 rows and read
in batches of 5, so blocks straddle batches, row groups, files and chromosomes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from synthetic import TinyHome

from vipredict.store import scan, write
from vipredict.store.build import features_of
from vipredict.store.partitioned import INFO_COLUMN, Store, StoreMatch, locus_queries
from vipredict.store.scan import SortedScan

COLUMNS = ["variant", "gerp_rs", INFO_COLUMN]


@pytest.fixture(scope="module")
def table(tiny: TinyHome) -> pd.DataFrame:
    """The SYNTHETIC feature table of the tiny home's store, with every third locus made
    tri-allelic (two more rows, other ALTs): rows at one position span batches."""
    rows = features_of(tiny.annotations, tiny.frequencies)
    extra = []
    for key in rows["variant"].astype(str).iloc[::3]:
        build, chrom, pos, ref, alt = key.split(":")
        for other in (b for b in "ACGT" if b not in (ref, alt)):
            extra.append(
                rows[rows["variant"].astype(str) == key].assign(
                    variant=f"{build}:{chrom}:{pos}:{ref}:{other}"
                )
            )
    return pd.concat([rows, *extra], ignore_index=True)


@pytest.fixture(scope="module")
def store(table: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The rows in two files per partition (alternate rows), row groups of 16 rows."""
    root = tmp_path_factory.mktemp("scan") / "store"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(write, "ROW_GROUP_ROWS", 16)
        write.append_rows(table.iloc[0::2], root, tag="a")
        write.append_rows(table.iloc[1::2], root, tag="b")
    store = Store(root)
    chrom = str(table["variant"].iloc[0]).split(":")[1]
    assert len(store.files("GRCh37", chrom)) == 2
    return store


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "BATCH_ROWS", 5)


def _keys(table: pd.DataFrame) -> list[str]:
    """Every stored key, and beside some a wrong REF, another ALT or an empty locus,
    in VCF order (chromosome as stored, then position)."""
    keys = []
    for i, key in enumerate(table["variant"].astype(str)):
        build, chrom, pos, ref, alt = key.split(":")
        keys.append(key)
        other = next(b for b in "ACGT" if b not in (ref, alt))
        if i % 3 == 0:
            keys.append(f"{build}:{chrom}:{pos}:{other}:{alt}")  # ref_mismatch
        if i % 4 == 0 and not (table["variant"] == f"{build}:{chrom}:{pos}:{ref}:{other}").any():
            keys.append(f"{build}:{chrom}:{pos}:{ref}:{other}")  # same locus, another ALT
        if i % 5 == 0:
            keys.append(f"{build}:{chrom}:{int(pos) + 1}:{ref}:{alt}")  # nothing stored
    queries = locus_queries(keys).to_pandas()
    order = queries.sort_values(["chrom", "pos"], kind="stable").index
    return [keys[i] for i in order] + ["GRCh37:22:5:A:G", "GRCh38:1:5:A:G"]


def _blocks(keys: list[str], size: int) -> Iterator[pa.Table]:
    for start in range(0, len(keys), size):
        queries = locus_queries(keys[start : start + size])
        rows = pa.array(np.arange(queries.num_rows) + start, pa.int64())
        yield queries.set_column(0, "row", rows)


def _answer(match: StoreMatch) -> tuple[list[dict], list[tuple]]:
    found = sorted(match.found.to_pylist(), key=lambda r: r["row"])
    refs = sorted(zip(match.refs["row"].to_pylist(), match.refs["ref"].to_pylist(), strict=True))
    return found, refs


def _without_join(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Store, "match", lambda *a: pytest.fail("joined by DuckDB"))


@pytest.mark.parametrize("size", [4, 64, 10_000])
def test_blocks_in_order_get_the_stores_answer_without_its_join(
    store: Store, table: pd.DataFrame, size: int, monkeypatch: pytest.MonkeyPatch
):
    """Blocks of one sorted input, of every size from one key to all of them: the same
    matches and stored REFs as DuckDB's join, which is never asked."""
    keys = _keys(table)
    expected = [_answer(store.match(block, COLUMNS)) for block in _blocks(keys, size)]
    reader = SortedScan(store)
    _without_join(monkeypatch)
    found = [_answer(reader.match(block, COLUMNS)) for block in _blocks(keys, size)]
    assert found == expected
    assert sum(len(f) for f, _ in found) == len(table)
    assert sum(len(r) for _, r in found) > 0


def test_input_that_goes_back_is_read_again(
    store: Store, table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
):
    """Blocks that go back in a file (two inputs one after the other): cursors start
    again from the row group that holds them, with the same answers as DuckDB's."""
    keys = _keys(table)
    blocks = [*_blocks(keys[300:], 40), *_blocks(keys[:300], 40), *_blocks(keys[100:], 40)]
    expected = [_answer(store.match(block, COLUMNS)) for block in blocks]
    reader = SortedScan(store)
    _without_join(monkeypatch)
    assert [_answer(reader.match(block, COLUMNS)) for block in blocks] == expected


def test_a_jump_ahead_skips_the_row_groups_between(
    store: Store, table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
):
    """A block far ahead of the last one (a sparse input) decodes only the row groups it
    touches, not the rows in between."""
    keys = [k for k in _keys(table) if k.startswith("GRCh37:1:")]
    reader = SortedScan(store)
    _without_join(monkeypatch)
    first, last = (_answer(reader.match(b, COLUMNS)) for b in _blocks([keys[0], keys[-1]], 1))
    assert len(first[0]) == len(last[0]) == 1
    decoded = sum(cursor.decoded for cursor in reader._cursors.values())
    assert decoded <= 2 * 2 * (16 + scan.BATCH_ROWS)  # two files, two row groups each


def test_a_shuffled_block_is_joined_by_the_store(
    store: Store, table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
):
    """Blocks of a shuffled input, spread over whole files: DuckDB's join answers them
    (a cursor would decode the file), and the answers are its own."""
    keys = _keys(table)
    shuffled = [keys[i] for i in np.random.default_rng(3).permutation(len(keys))]
    blocks = list(_blocks(shuffled, 40))
    expected = [_answer(store.match(block, COLUMNS)) for block in blocks]
    joined = []
    original = Store.match

    def counted(self: Store, queries: pa.Table, columns: list[str]) -> StoreMatch:
        joined.append(queries.num_rows)
        return original(self, queries, columns)

    monkeypatch.setattr(Store, "match", counted)
    monkeypatch.setattr(scan, "SPREAD_ROWS", 64)
    reader = SortedScan(store)
    assert [_answer(reader.match(block, COLUMNS)) for block in blocks] == expected
    stored = sum(k.startswith(("GRCh37:1:", "GRCh37:2:")) for k in shuffled)
    assert sum(joined) == stored


def test_a_cursor_drops_the_rows_the_input_has_passed(store: Store, table: pd.DataFrame):
    """Memory follows the block, not the file: after each block a cursor holds only rows
    from the block's first position on, plus what one batch read past its last."""
    reader = SortedScan(store)
    for block in _blocks(_keys(table), 30):
        reader.match(block, COLUMNS)
        for cursor in reader._cursors.values():
            held = cursor.held_pos
            assert len(held) == cursor.held.num_rows
            assert len(held) <= 30 + 2 * scan.BATCH_ROWS
            assert (held >= cursor.low).all()
