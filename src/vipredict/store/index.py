"""The serving index: a store's rows found by key in well under a millisecond.

A DuckDB look-up of one key in the parquet store decodes a page of every column
of a 65,536-row row group (about 80 ms of CPU on a 10^8-row store), which is
fine for a VCF's worth of keys and far too slow for a service asked one variant
at a time. The index keeps, beside the store (``STORE/_index/``), one Arrow IPC
file per store file holding only the columns an answer reads (:func:`served_columns`:
locus, gene, reader warnings and the numeric features), in record batches of
:data:`BATCH_ROWS` rows sorted by position, LZ4-compressed; and a JSON sidecar
with the first position of every batch and the store file it was built from
(size and modification time). The numbers of a row are packed into one
fixed-size list (:data:`VALUES`, missing as NaN, which is how every reader of
them sees a missing value), so a batch is a handful of buffers to decompress
rather than two per feature, and a row's numbers are one slice. A look-up is a
binary search over the first positions (in memory: 8 bytes per batch), one
batch read (about 0.1 ms) and a search inside it.

The files are read through ``pa.OSFile`` positional reads, not memory-mapped:
mapped pages count in the worker's RSS, which would then grow with every batch
ever touched. A store file without an index file of its size and time makes the
whole index stale (:func:`open_index` says which and how to rebuild); the service
then looks keys up through DuckDB as before. ``vipredict store-index`` builds it
(only the files that changed).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vipredict.progress import byte_progress
from vipredict.schema import KEY
from vipredict.store.derived import (
    derived_paths,
    is_current,
    read_sidecar,
    remove_orphans,
    source_stamp,
    write_sidecar,
)
from vipredict.store.partitioned import FILES, Store, float_matrix, miss
from vipredict.variants import VariantError, parse_variant_key

logger = logging.getLogger(__name__)

#: Folder of the index inside the store (the store's file glob never reaches it).
INDEX_DIR = "_index"
#: Rows per record batch: one batch is read per look-up (about 0.1 ms, LZ4).
BATCH_ROWS = 512
COMPRESSION = "lz4"
#: Text columns an answer reads besides the locus (the numbers are every float feature).
TEXT_COLUMNS = ("gene", "annotation_warnings")
#: Float columns of the store that no answer reads.
UNSERVED = frozenset({"label"})
#: Bump when the files' layout changes: an index of another version is stale.
FORMAT_VERSION = 2
#: The index column of a row's numbers, in the order of :func:`served_columns`.
VALUES = "values"
HOW_TO_BUILD = "build it with `vipredict store-index`"
_READ_OPTIONS = pa.ipc.IpcReadOptions(use_threads=False)


def served_columns(schema: pa.Schema) -> list[str]:
    """``pos, ref, alt``, the text columns an answer shows, and every float feature."""
    return [*_locus_and_text(schema), *_numbers(schema)]


def _locus_and_text(schema: pa.Schema) -> list[str]:
    return ["pos", "ref", "alt", *(name for name in TEXT_COLUMNS if name in schema.names)]


def _numbers(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_floating(f.type) and f.name not in UNSERVED]


def _packed(table: pa.Table, text: list[str], numbers: list[str]) -> pa.Table:
    """The locus and text columns as they are, the numbers as one float64 list per row."""
    matrix = float_matrix(table, numbers)
    values = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), len(numbers))
    return pa.table({**{name: table[name] for name in text}, VALUES: values})


def index_root(store_root: Path) -> Path:
    return Path(store_root) / INDEX_DIR


def _paths(store_root: Path, source: Path, root: Path) -> tuple[Path, Path]:
    """(IPC file, JSON sidecar) of one store file."""
    return derived_paths(store_root, source, root, ".arrow")


def _current(store_root: Path, source: Path, root: Path) -> bool:
    """Whether ``source`` has a complete index file built from it as it is now."""
    return is_current(store_root, source, root, ".arrow", FORMAT_VERSION)


def _sorted_table(source: Path, columns: list[str]) -> Iterable[pa.Table]:
    """The file's served columns in position order, a row group at a time when the file
    is sorted already (the store writes it so), else read whole and sorted (stable)."""
    parquet = pq.ParquetFile(source)
    positions = parquet.read(columns=["pos"])["pos"].to_numpy()
    if len(positions) and bool(np.all(np.diff(positions) >= 0)):
        for group in range(parquet.num_row_groups):
            yield parquet.read_row_group(group, columns=columns)
        return
    order = np.argsort(positions, kind="stable")
    yield parquet.read(columns=columns).take(pa.array(order))


def build_file(store_root: Path, source: Path, root: Path, columns: list[str]) -> int:
    """Write the index file of one store file; returns its rows. The sidecar is written
    last (by rename), so an interrupted build leaves the file stale, not wrong."""
    data, meta = _paths(store_root, source, root)
    data.parent.mkdir(parents=True, exist_ok=True)
    stamp = source_stamp(source)
    stored = pq.read_schema(source)
    text, numbers = _locus_and_text(stored), _numbers(stored)
    schema = pa.schema(
        [stored.field(c) for c in text] + [(VALUES, pa.list_(pa.float64(), len(numbers)))]
    )
    first: list[int] = []
    rows = 0
    options = pa.ipc.IpcWriteOptions(compression=COMPRESSION)
    partial = data.with_suffix(".arrow.partial")
    with (
        pa.OSFile(str(partial), "wb") as sink,
        pa.ipc.new_file(sink, schema, options=options) as out,
    ):
        pending: pa.Table | None = None

        def write(table: pa.Table) -> None:
            nonlocal rows
            for batch in table.combine_chunks().to_batches(BATCH_ROWS):
                out.write_batch(batch)
                first.append(int(batch.column(0)[0].as_py()))
                rows += batch.num_rows

        for table in _sorted_table(source, columns):
            table = _packed(table, text, numbers).cast(schema)
            if pending is not None:
                table = pa.concat_tables([pending, table])
            whole = len(table) // BATCH_ROWS * BATCH_ROWS
            if whole:
                write(table.slice(0, whole))
            pending = table.slice(whole)
        if pending is not None and len(pending):
            write(pending)
    os.replace(partial, data)
    payload = {
        "format": FORMAT_VERSION,
        "source": stamp,
        "rows": rows,
        "batch_rows": BATCH_ROWS,
        "columns": columns,
        "first_pos": first,
    }
    write_sidecar(meta, payload)
    return rows


def build_index(
    store_root: Path, root: Path | None = None, show_progress: bool = False
) -> dict[str, int]:
    """Index every store file that has no current index file; drop index files of store
    files that are gone. Returns counts of files ``built``, ``kept`` and ``removed``.

    One store file at a time, a row group at a time: memory stays about one row
    group's served columns, whatever the store's size. ``show_progress``: a bar
    over the store bytes to index."""
    store_root = Path(store_root)
    root = index_root(store_root) if root is None else Path(root)
    store = Store(store_root)
    columns = served_columns(store.schema)
    sources = list(store.all_files())
    todo = [s for s in sources if not _current(store_root, s, root)]
    total = sum(s.stat().st_size for s in todo)
    with byte_progress(total, "store index", show_progress) as advance:
        done = 0
        for source in todo:
            build_file(store_root, source, root, columns)
            done += source.stat().st_size
            advance(done)
    wanted = {p for s in sources for p in _paths(store_root, s, root)}
    removed = remove_orphans(root, wanted, ".arrow")
    return {"built": len(todo), "kept": len(sources) - len(todo), "removed": removed}


@dataclass
class _IndexFile:
    """One open index file: its batches' first positions and a positional reader."""

    low: int
    high: int
    first: np.ndarray
    reader: pa.ipc.RecordBatchFileReader
    #: One reader per file, shared by the service's threads: a lock per file, so a read
    #: waiting on the disk holds up only the look-ups of that file.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def batches_at(self, pos: int) -> range:
        """Batches that may hold ``pos`` (more than one when a position spans a boundary)."""
        start = max(0, int(np.searchsorted(self.first, pos, "left")) - 1)
        stop = int(np.searchsorted(self.first, pos, "right"))
        return range(start, stop)


@dataclass(frozen=True)
class IndexRow:
    """One stored row: its key, its text columns and its numbers (a copy: no batch kept)."""

    variant: str
    text: dict[str, object]
    values: np.ndarray

    def as_dict(self, numbers: Sequence[str]) -> dict[str, object]:
        """Column -> Python value (NaN where missing): one row as a scorer reads it."""
        return {**self.text, **dict(zip(numbers, self.values.tolist(), strict=True))}


@dataclass(frozen=True)
class IndexMatch:
    """Rows found (in request order) and each miss's named error."""

    rows: list[IndexRow]
    missing: dict[str, tuple[str, str]]
    text: list[str]
    numbers: list[str]

    def frame(self) -> pd.DataFrame:
        """The rows as the store's look-up gives them: served columns and ``variant``."""
        matrix = (
            np.vstack([r.values for r in self.rows])
            if self.rows
            else np.empty((0, len(self.numbers)))
        )
        columns: dict[str, object] = {name: [r.text[name] for r in self.rows] for name in self.text}
        columns.update({name: matrix[:, j] for j, name in enumerate(self.numbers)})
        frame = pd.DataFrame(columns)
        frame[KEY] = [r.variant for r in self.rows]
        return frame


@dataclass
class StoreIndex:
    """Key look-ups through the serving index of a store (see the module docstring)."""

    columns: list[str]
    text: list[str]
    numbers: list[str]
    partitions: dict[tuple[str, str], list[_IndexFile]]

    @staticmethod
    def batch(part: _IndexFile, i: int) -> pa.RecordBatch:
        with part.lock:
            return part.reader.get_batch(i)

    def _rows_at(self, build: str, chrom: str, pos: int) -> list[tuple[pa.RecordBatch, int]]:
        """(batch, row) of every stored row at ``pos`` in the partition."""
        out = []
        for part in self.partitions.get((build, chrom), ()):
            if not part.low <= pos <= part.high:
                continue
            for i in part.batches_at(pos):
                batch = self.batch(part, i)
                positions = batch.column(0).to_numpy()
                lo = int(np.searchsorted(positions, pos, "left"))
                hi = int(np.searchsorted(positions, pos, "right"))
                out.extend((batch, row) for row in range(lo, hi))
        return out

    def match(self, keys: Sequence[str]) -> IndexMatch:
        """Like :meth:`vipredict.model.scorer.Scorer.lookup`: the rows of the keys found
        and, for the others, ``ref_mismatch`` (the store holds the locus with another
        REF: the smallest such REF is named) or ``no_features``."""
        rows: list[IndexRow] = []
        missing: dict[str, tuple[str, str]] = {}
        width = len(self.numbers)
        for key in dict.fromkeys(keys):
            try:
                variant = parse_variant_key(key)
            except VariantError:
                missing[key] = miss(key, "", None)
                continue
            at = self._rows_at(variant.build, variant.chrom, int(variant.pos))
            refs = []
            hit = False
            for batch, row in at:
                ref, alt = batch.column(1)[row].as_py(), batch.column(2)[row].as_py()
                if ref == variant.ref and alt == variant.alt:
                    flat = batch.column(len(self.text)).values.to_numpy()
                    values = flat[row * width : (row + 1) * width].copy()
                    text = {n: batch.column(j)[row].as_py() for j, n in enumerate(self.text)}
                    rows.append(IndexRow(key, text, values))
                    hit = True
                else:
                    refs.append(ref)
            if not hit:
                missing[key] = miss(key, variant.ref, min(refs) if refs else None)
        return IndexMatch(rows, missing, self.text, self.numbers)


def open_index(store_root: Path, root: Path | None = None) -> StoreIndex | None:
    """The store's serving index, or None (with one log line saying why and how to build it)
    when it is missing or was built from other files than the store holds now."""
    store_root = Path(store_root)
    root = index_root(store_root) if root is None else Path(root)
    sources = sorted(store_root.glob(FILES))
    stale = [s for s in sources if not _current(store_root, s, root)]
    if not sources or stale:
        what = "no serving index" if not root.is_dir() else f"{len(stale)} store file(s) unindexed"
        logger.warning(
            "%s for the store at %s (e.g. %s): keys are looked up through DuckDB; %s",
            what, store_root, stale[0].name if stale else "-", HOW_TO_BUILD,
        )  # fmt: skip
        return None
    partitions: dict[tuple[str, str], list[_IndexFile]] = {}
    stored = pq.read_schema(sources[0])
    columns = served_columns(stored)
    for source in sources:
        data, meta = _paths(store_root, source, root)
        info = read_sidecar(meta)
        assert info is not None  # checked current above
        if info["columns"] != columns:
            logger.warning(
                "the serving index of %s holds other columns than the store serves: %s",
                store_root, HOW_TO_BUILD,
            )  # fmt: skip
            return None
        first = np.asarray(info["first_pos"], dtype=np.int64)
        if not len(first):
            continue
        # Decompressed on the asking thread: a thread pool per batch only adds hand-offs.
        reader = pa.ipc.open_file(pa.OSFile(str(data), "rb"), options=_READ_OPTIONS)
        last = reader.get_batch(reader.num_record_batches - 1).column(0)
        build = source.parent.parent.name.split("=", 1)[1]
        chrom = source.parent.name.split("=", 1)[1]
        part = _IndexFile(int(first[0]), int(last[len(last) - 1].as_py()), first, reader)
        partitions.setdefault((build, chrom), []).append(part)
    if not partitions:
        return None
    return StoreIndex(columns, _locus_and_text(stored), _numbers(stored), partitions)
