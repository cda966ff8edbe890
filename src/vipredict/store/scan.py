"""Look-ups of a whole VCF, reading each store file forward once.

A VCF is sorted by position, and so is every store file, so the store rows one
block of the VCF needs start where the previous block's ended. :class:`SortedScan`
answers :meth:`Store.match <vipredict.store.partitioned.Store.match>`'s question,
with the same answer, by keeping a cursor in each file of the partition being read:
rows are decoded once, in batches, and dropped once the input has passed them.
Annotating a file then holds one block of text, its rows and a batch per file, and
DuckDB is never loaded: its joins decoded the row groups each block touched afresh,
and its engine, imports and buffers were part of the peak that kept ``annotate`` over
300 MB at 10^7 variants (README, "Scale").

Input that is not sorted still gets the right answer: a cursor asked for rows
behind it starts again from the row group that holds them, and a block spread over
more of a file than :data:`SPREAD_ROWS` rows (a shuffled VCF) is joined by the
store's own query instead, so memory never grows with the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vipredict.store.partitioned import REF_SCHEMA, Store, StoreMatch, partition_groups

#: Rows decoded at a time from a store file. A batch's INFO text (about 400 bytes a
#: row) then stays under glibc's 1 MiB mapping threshold (``vipredict.memory``): its
#: buffers are reused from the heap instead of mapped, zeroed and unmapped each time.
#: 10^7 variants from pre-scored answers: 58.3 s at 8,192 rows, 52.5 s at 2,048 (page
#: faults 8.2 -> 4.3 million), the same peak RSS.
BATCH_ROWS = 2_048
#: Bytes read from a store file at a time. Arrow's default pre-buffers the column
#: chunks of every row group asked for (the rest of the file) and reads each whole
#: (2.7 MB of INFO text per 65,536 rows), through Arrow's C++ allocator (mimalloc),
#: which keeps what it frees whatever pool Python was given. In process, 10^7 variants
#: from pre-scored answers: peak RSS 326-334 MB pre-buffered, 279-281 MB without,
#: 272 MB reading 1 MiB at a time, all at the same speed.
READ_BUFFER_BYTES = 1 << 20
#: A block whose positions in one file span more stored rows than this (by the row
#: groups' statistics) is joined by :meth:`Store.match`: it is not a sorted input.
SPREAD_ROWS = 1 << 18


@dataclass
class _Cursor:
    """One store file read forward: the rows from ``low`` on, and the batches to come."""

    path: str
    columns: list[str]
    file: pq.ParquetFile = field(init=False)
    #: First and last position, and first row, of each row group (files are sorted).
    firsts: np.ndarray = field(init=False)
    lasts: np.ndarray = field(init=False)
    offsets: np.ndarray = field(init=False)
    held: pa.Table | None = field(init=False, default=None)
    held_pos: np.ndarray = field(init=False)
    low: int = field(init=False, default=0)
    batches: Iterator[pa.RecordBatch] | None = field(init=False, default=None)
    #: Row of the file the next batch starts at.
    next_row: int = field(init=False, default=0)
    #: Rows decoded so far (each once, for input in order).
    decoded: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.file = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=READ_BUFFER_BYTES)
        meta = self.file.metadata
        pos = meta.schema.to_arrow_schema().get_field_index("pos")
        groups = [meta.row_group(g) for g in range(meta.num_row_groups)]
        stats = [group.column(pos).statistics for group in groups]
        self.firsts = np.array([s.min for s in stats], dtype=np.int64)
        self.lasts = np.array([s.max for s in stats], dtype=np.int64)
        self.offsets = np.cumsum([0, *(group.num_rows for group in groups)])
        self.held_pos = np.empty(0, dtype=np.int64)

    def spread(self, lo: int, hi: int) -> int:
        """Stored rows of the row groups that can hold positions ``lo..hi``."""
        touched = (self.lasts >= lo) & (self.firsts <= hi)
        sizes = np.diff(self.offsets)
        return int(sizes[touched].sum())

    def rows(self, lo: int, hi: int) -> pa.Table:
        """The file's rows at positions ``lo..hi`` (sorted by position)."""
        if self.held is None or lo < self.low or self._behind(lo):
            self._start(lo)
        keep = int(np.searchsorted(self.held_pos, lo, "left"))
        if keep:
            self.held, self.held_pos = self.held.slice(keep), self.held_pos[keep:]
        self.low = lo
        self._read_through(hi)
        end = int(np.searchsorted(self.held_pos, hi, "right"))
        return self.held.slice(0, end)

    def _behind(self, lo: int) -> bool:
        """Whether every held and next row lies before ``lo`` and a later row group
        starts at or after it: skipping there decodes nothing in between."""
        if len(self.held_pos) and self.held_pos[-1] >= lo:
            return False
        group = int(np.searchsorted(self.offsets, self.next_row, "right")) - 1
        return group < len(self.lasts) and self.lasts[group] < lo

    def _start(self, lo: int) -> None:
        """Read on from the first row group that can hold ``lo``."""
        group = int(np.searchsorted(self.lasts, lo, "left"))
        self.batches = self.file.iter_batches(
            BATCH_ROWS,
            row_groups=range(group, len(self.lasts)),
            columns=self.columns,
            use_threads=False,
        )
        self.next_row = int(self.offsets[group])
        schema = self.file.schema_arrow
        self.held = pa.schema([schema.field(c) for c in self.columns]).empty_table()
        self.held_pos = np.empty(0, dtype=np.int64)
        self.low = lo

    def _read_through(self, hi: int) -> None:
        """Decode batches until a row after ``hi`` is held (or the file ends)."""
        positions = [self.held_pos]
        batches = []
        while self.batches is not None and not (len(positions[-1]) and positions[-1][-1] > hi):
            batch = next(self.batches, None)
            if batch is None:
                self.batches = None
                break
            self.next_row += batch.num_rows
            self.decoded += batch.num_rows
            batches.append(batch)
            positions.append(batch.column("pos").to_numpy())
        if batches:
            self.held_pos = np.concatenate(positions)
            self.held = pa.concat_tables([self.held, pa.Table.from_batches(batches)])


class SortedScan:
    """:meth:`Store.match` for the blocks of one input read in order (see the module)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: A cursor per file of the partitions the last block touched.
        self._cursors: dict[str, _Cursor] = {}
        self._columns: list[str] = []

    def match(self, queries: pa.Table, columns: Sequence[str]) -> StoreMatch:
        """What :meth:`Store.match` answers for ``queries`` (``QUERY_SCHEMA``)."""
        wanted = list(columns)
        if wanted != self._columns:
            self._cursors, self._columns = {}, wanted
        read = list(dict.fromkeys(["pos", "ref", "alt", *wanted]))
        found, refs, spread, kept = [], [], [], {}
        for build, chrom, group in partition_groups(queries):
            lo, hi = (int(v.as_py()) for v in pc.min_max(group["pos"]).values())
            cursors = [
                self._cursors.get(path) or _Cursor(path, read)
                for path in self.store.files(build, chrom)
            ]
            kept.update((cursor.path, cursor) for cursor in cursors)
            if any(c.spread(lo, hi) > max(SPREAD_ROWS, 4 * group.num_rows) for c in cursors):
                spread.append(group)
                continue
            for cursor in cursors:
                hit, other = _pairs(group, cursor.rows(lo, hi), wanted)
                found.append(hit)
                refs.append(other)
        self._cursors = kept
        if spread:
            joined = self.store.match(pa.concat_tables(spread), wanted)
            found.append(joined.found)
            refs.append(joined.refs)
        return _combined(found, refs, self.store, wanted)


def _pairs(group: pa.Table, rows: pa.Table, columns: list[str]) -> tuple[pa.Table, pa.Table]:
    """Matches of ``group``'s queries among ``rows`` (one file's, sorted by position):
    the exact ones with their columns, and ``row, ref`` of the others at the same locus."""
    positions = rows["pos"].to_numpy()
    asked = group["pos"].to_numpy()
    first = np.searchsorted(positions, asked, "left")
    count = np.searchsorted(positions, asked, "right") - first
    query_rows, stored_rows = [], []
    for k in range(int(count.max()) if len(count) else 0):
        at = np.flatnonzero(count > k)
        query_rows.append(at)
        stored_rows.append(first[at] + k)
    queried = np.concatenate(query_rows) if query_rows else np.empty(0, np.int64)
    stored = pa.array(np.concatenate(stored_rows) if stored_rows else np.empty(0, np.int64))
    asked_rows = pa.array(queried)
    same = pc.and_(
        pc.equal(rows["ref"].take(stored), group["ref"].take(asked_rows)),
        pc.equal(rows["alt"].take(stored), group["alt"].take(asked_rows)),
    ).combine_chunks()
    row = group["row"].take(asked_rows)
    hit = _taken(rows.select(columns), stored.filter(same), row.filter(same))
    missed = pc.invert(same)
    other = pa.table({"row": row.filter(missed), "ref": rows["ref"].take(stored.filter(missed))})
    return hit, other


def _taken(rows: pa.Table, stored: pa.Array, row: pa.Array) -> pa.Table:
    """``rows``' rows at ``stored``, with the query ``row`` of each first, taken batch by
    batch (the rows come out in stored order).

    ``rows`` is the batches a cursor holds. ``Table.take`` would first join them into
    one copy of every held row (INFO text of every stored row in reach, matched or
    not) and then copy the matched ones: annotating 3 x 10^6 variants from pre-scored
    answers faulted in 3.7 million pages that way, 3.2 million this way.
    """
    at = stored.to_numpy()
    order = np.argsort(at, kind="stable")
    at, queried = at[order], row.take(pa.array(order))
    batches = rows.to_batches()
    bounds = np.cumsum([0, *(batch.num_rows for batch in batches)])
    cuts = np.searchsorted(at, bounds)
    parts = [
        batch.take(pa.array(at[lo:hi] - start))
        for batch, start, lo, hi in zip(batches, bounds, cuts, cuts[1:], strict=False)
        if hi > lo
    ]
    taken = pa.Table.from_batches(parts, rows.schema)
    return taken.add_column(0, "row", queried)


def _combined(
    found: list[pa.Table], refs: list[pa.Table], store: Store, columns: list[str]
) -> StoreMatch:
    """One :class:`StoreMatch` of the files' matches, as :meth:`Store.match` gives it."""
    seeds = (store.found_schema(columns).empty_table(), REF_SCHEMA.empty_table())
    hits = pa.concat_tables([seeds[0], *found], promote_options="permissive")
    return StoreMatch.of(hits, pa.concat_tables([seeds[1], *refs], promote_options="permissive"))
