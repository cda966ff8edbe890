"""Streaming dbNSFP-sized files into the store in bounded memory (``vipredict add-dbnsfp``).

Each chunk goes through the same reader mapping
(:func:`~vipredict.io.readers.dbnsfp.dbnsfp_annotations`, vectorised on Arrow) and
feature builders as a build (:mod:`vipredict.store.build`), so streamed rows equal
rows built in memory. The file is read by Arrow's streaming CSV reader, only the
columns the reader uses, so memory is bounded by the chunk size whatever the
file's. Variants the store already holds are skipped (first source wins).

Chunks end at a locus boundary (dbNSFP v2 lists a variant once per transcript on
adjacent lines, and the reader joins them), at the first boundary after
``chunk_rows`` lines: where a chunk ends depends only on where it starts, which
is what makes a run resumable. After each chunk's files are written, a checkpoint
(:data:`CHECKPOINT_DIR`) records the lines and rows committed, atomically; a run
that stops (killed, out of disk) is resumed with ``resume=True`` (``add-dbnsfp
--resume``): files of the chunk it was writing are removed, and reading restarts
at the first line not committed, so the store ends as one uninterrupted run leaves it.

Chunks are parsed, built, looked up, numbered and written in worker processes
(``workers``; ``add-dbnsfp`` uses one per core), each chunk wholly by one worker:
the one process that reads the file decides, in file order, where each chunk's
numbering starts and which files its look-up must read, and checkpoints the
chunks written in file order (:mod:`vipredict.workers`). So the store is the same
file for file whatever the number of workers, and a chunk's rows never travel
between processes. ``vipredict add-dbnsfp
--dask`` runs one such stream per chromosome file on a Dask cluster
(:func:`vipredict.jobs.dask.ingest_on_dask`).

dbNSFP v3/v4 lines give a variant's position on both builds: each row is stored
under the build asked for and, as a copy, under the other one
(:func:`vipredict.store.liftover.with_copies`), unless the store already holds
that key. v2 files give GRCh37 and hg18 (a build vipredict does not key), so
their rows are GRCh37 only.
"""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import multiprocessing.context
import os
import pickle
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from vipredict.features.frequency import DEFAULT_DATASETS, frequency_source_versions
from vipredict.features.table import build_feature_table
from vipredict.io.files import is_gzip, open_text
from vipredict.io.readers.dbnsfp import (
    OLD_SPELLINGS,
    OTHER_BUILD_KEY,
    POPULATION_COLUMNS,
    USED_COLUMNS,
    dbnsfp_annotations,
)
from vipredict.memory import keep_freed_memory
from vipredict.progress import ByteProgress
from vipredict.schema import KEY
from vipredict.store.build import Frequencies, load_frequencies, unlabelled
from vipredict.store.liftover import carry_other_build, with_copies
from vipredict.store.partitioned import COPY_COLUMN, FILES, ORDER_COLUMN, QUERY_SCHEMA, Store
from vipredict.store.write import store_arrow, write_partitions
from vipredict.workers import Runner, two_step_workers

#: Checkpoints of streamed files, beside the partitions (Arrow skips ``_*`` folders).
CHECKPOINT_DIR = "_ingest"
#: Bytes Arrow's CSV reader parses per batch (its threads split a block between them).
BLOCK_BYTES = 8 << 20


@dataclass
class StreamReport:
    """What a streamed build read, wrote, skipped and dropped."""

    rows_read: int = 0
    written: int = 0
    #: Rows also indexed under the file's other build (dbNSFP v3/v4).
    copies: int = 0
    already_stored: int = 0
    chunks: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    #: Whether this run went on from the checkpoint of an interrupted one.
    resumed: bool = False


@dataclass
class _Checkpoint:
    """What a run has committed: every line before ``lines``, in files tagged ``tag``."""

    tag: str
    lines: int = 0
    written: int = 0
    copies: int = 0
    already_stored: int = 0
    chunks: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    done: bool = False


def _run_id(path: Path, build: str, dataset: str, chunk_rows: int) -> str:
    """Which run a checkpoint belongs to: the same file, size, build, dataset and chunking."""
    stat = Path(path).stat()
    what = (
        f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{build}|{dataset}|{chunk_rows}"
    )
    return hashlib.sha256(what.encode()).hexdigest()[:16]


class _Checkpoints:
    """The checkpoint file of one run, written atomically after each chunk."""

    def __init__(self, root: Path, run: str) -> None:
        self.path = root / CHECKPOINT_DIR / f"{run}.json"

    def load(self) -> _Checkpoint | None:
        if not self.path.is_file():
            return None
        return _Checkpoint(**json.loads(self.path.read_text()))

    def save(self, state: _Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}")
        staging.write_text(json.dumps(asdict(state)))
        os.replace(staging, self.path)


def _remove_uncommitted(root: Path, tag: str, chunks: int) -> int:
    """Delete files of ``tag`` from chunk ``chunks`` on (written after the last checkpoint),
    and the hidden half-written files of any chunk (a worker stopped while writing)."""
    removed = 0
    for path in root.glob(f"build=*/chrom=*/part-{tag}-*.parquet"):
        chunk = int(path.name[len(f"part-{tag}-") :].split("-")[0])
        if chunk >= chunks:
            path.unlink()
            removed += 1
    for path in root.glob(f"build=*/chrom=*/.part-{tag}-*.parquet.*"):
        path.unlink()
        removed += 1
    return removed


# --------------------------------------------------------------------------- reading


def read_header(path: Path) -> list[str]:
    """The column names of a dbNSFP TSV (plain or gzip): its first line."""
    with open_text(path) as handle:
        return handle.readline().rstrip("\r\n").split("\t")


@contextmanager
def _batches(path: Path, skip_lines: int) -> Iterator[tuple[Iterator[pa.Table], Callable[[], int]]]:
    """Record batches of the used columns (all text) from line ``skip_lines`` on, and a
    function giving the (compressed) bytes read so far.

    Used: what the reader maps to what is stored (not :data:`POPULATION_COLUMNS`, the
    per-population frequencies it returns beside, which the store does not keep).
    """
    names = read_header(path)
    used = [
        c
        for c in names
        if (c in USED_COLUMNS or c in OLD_SPELLINGS) and c not in POPULATION_COLUMNS
    ]
    with Path(path).open("rb") as raw:
        stream = pa.PythonFile(raw, mode="r")
        source = pa.CompressedInputStream(stream, "gzip") if is_gzip(path) else stream
        reader = pcsv.open_csv(
            source,
            read_options=pcsv.ReadOptions(
                block_size=BLOCK_BYTES, skip_rows_after_names=skip_lines, use_threads=True
            ),
            # dbNSFP never quotes: a '"' is text, as in the file
            parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pcsv.ConvertOptions(
                include_columns=used,
                column_types={c: pa.string() for c in used},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        yield (pa.Table.from_batches([batch]) for batch in reader), raw.tell


def _locus_columns(names: list[str]) -> tuple[str, str]:
    """The file's own (first) chromosome and position columns: chunks never cut a locus."""
    return names[0], next(c for c in names if c.startswith("pos("))


def _chunks(batches: Iterator[pa.Table], chunk_rows: int) -> Iterator[pa.Table]:
    """Tables of ``chunk_rows`` lines or more, each ending where a locus does.

    A chunk is its first ``chunk_rows`` lines plus the rest of the locus the last
    of them is on; so where a chunk ends depends only on where it starts.
    """
    pending: list[pa.Table] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held > chunk_rows:
            buffer = pa.concat_tables(pending)
            end = _locus_end(buffer, chunk_rows)
            if end is None:  # the locus runs on into the next batch
                break
            yield buffer.slice(0, end)
            pending, held = [buffer.slice(end)], buffer.num_rows - end
    if held:
        yield pa.concat_tables(pending)


def _locus_end(buffer: pa.Table, chunk_rows: int) -> int | None:
    """Index of the first line after ``chunk_rows`` on another locus (None: not in ``buffer``)."""
    chrom, pos = _locus_columns(buffer.column_names)
    last = chunk_rows - 1
    rest = buffer.slice(last)
    same = pc.and_(
        pc.equal(rest[chrom], rest[chrom][0]), pc.equal(rest[pos], rest[pos][0])
    ).combine_chunks()
    other = np.flatnonzero(~same.to_numpy(zero_copy_only=False))
    return None if not len(other) else last + int(other[0])


# --------------------------------------------------------------------------- the store


class _Lookup:
    """Which of a chunk's rows the store holds already, asked only where it can matter.

    Files that were there before the run (``before``) are always asked. Files this
    run wrote are asked only for the partitions ``rewound``: those where a chunk
    goes back to a position at or before one the run wrote there already (never
    in a sorted dbNSFP file), so a sorted file streams into an empty store without
    a single look-up. One per worker (each opens the store when it first asks).
    """

    def __init__(self, root: Path, before: frozenset[str]) -> None:
        self.root = root
        self.before = before
        self._store: Store | None = None
        self._rewound: frozenset[tuple[str, str]] = frozenset()

    def _files(self, build: str, chrom: str) -> list[str]:
        folder = self.root / f"build={build}" / f"chrom={chrom}"
        found = sorted(str(p) for p in folder.glob("*.parquet"))
        if (build, chrom) in self._rewound:
            return found
        return [f for f in found if f in self.before]

    def not_stored(
        self, arrow: pa.Table, rewound: frozenset[tuple[str, str]] = frozenset()
    ) -> np.ndarray:
        """Which rows of ``arrow`` (rows as stored) hold a variant the store does not hold yet."""
        keep = np.ones(arrow.num_rows, dtype=bool)
        if not arrow.num_rows or (not self.before and not rewound):
            return keep
        if self._store is None:
            if not any(self.root.glob(FILES)):
                return keep
            self._store = Store(self.root)
            self._store.files = self._files  # type: ignore[method-assign]
        self._rewound = rewound
        found = self._store.match(_queries(arrow), []).found.column("row")
        keep[found.to_numpy()] = False
        return keep


#: (build, chromosome) -> (first, last) position of a chunk's rows there.
Extents = dict[tuple[str, str], tuple[int, int]]


def _extents(arrow: pa.Table) -> Extents:
    """The first and last position of ``arrow``'s rows in each partition."""
    if not arrow.num_rows:
        return {}
    spans = _queries(arrow).group_by(["build", "chrom"]).aggregate([("pos", "min"), ("pos", "max")])
    columns = (spans[k].to_pylist() for k in ("build", "chrom", "pos_min", "pos_max"))
    return {(b, c): (lo, hi) for b, c, lo, hi in zip(*columns, strict=True)}


class _Positions:
    """The last position this run wrote in each partition (of the chunks decided so far).

    A chunk's last position counts whether or not its row there was kept: a later
    chunk then is asked a look-up it may not need, never spared one it needs.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}

    def rewound(self, extents: Extents) -> frozenset[tuple[str, str]]:
        """The partitions where ``extents`` go back to a position already written."""
        return frozenset(
            p for p, (lo, _) in extents.items() if p in self._last and lo <= self._last[p]
        )

    def wrote(self, extents: Extents) -> None:
        for p, (_, hi) in extents.items():
            self._last[p] = max(hi, self._last.get(p, hi))


def _queries(arrow: pa.Table) -> pa.Table:
    """``row, build, chrom, pos, ref, alt`` of rows as stored (their locus columns)."""
    rows = {"row": pa.array(np.arange(arrow.num_rows))}
    return pa.table({**rows, **{c: arrow[c] for c in QUERY_SCHEMA.names[1:]}}).cast(QUERY_SCHEMA)


# --------------------------------------------------------------------------- the stream


@dataclass
class FrequencyIndex:
    """The frequency rows chunks are looked up in, grouped by variant once.

    Built once a command (:func:`index_frequencies`) and shared by every file it
    streams, as dbNSFP ships one file per chromosome: loading the exports and
    grouping their 1.3 million rows cost each file about 2 s of CPU before its
    first chunk.
    """

    by_variant: pd.DataFrame
    known: pd.Index
    #: Rows of ``by_variant`` grouped by variant: those of ``known[i]`` are
    #: ``rows[starts[i]:starts[i + 1]]``, in table order.
    rows: np.ndarray
    starts: np.ndarray
    covered: dict[str, set[str]]
    #: ``frequency_source_versions`` of the whole table, as a build stamps every row.
    provenance: str
    #: The distinct positions of ``known``'s keys, sorted (None: a key is not a locus).
    positions: np.ndarray | None = None

    @classmethod
    def of(cls, frequencies: Frequencies) -> FrequencyIndex:
        """The index of the long frequency table and the genes each export covers."""
        long, covered = frequencies
        by_variant = _one_chunk(long.set_index(long["variant"].astype(str)))
        known, codes = _first_appearance(by_variant.index)
        rows = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[rows], np.arange(len(known) + 1))
        provenance = frequency_source_versions(long, DEFAULT_DATASETS)
        return cls(
            by_variant=by_variant, known=known, rows=rows, starts=starts, covered=covered,
            provenance=provenance, positions=_key_positions(known),
        )  # fmt: skip

    def frequency_rows(self, keys: pd.Series, positions: np.ndarray | None = None) -> pd.DataFrame:
        """The frequency rows of ``keys`` (``by_variant.loc`` of their distinct known keys).

        ``positions``, the keys' own, spare the text look-up of every key at a position
        no known key has: the exports cover 69 genes, so most chunks have none.
        """
        if positions is not None and self.positions is not None:
            at = np.searchsorted(self.positions, positions).clip(max=len(self.positions) - 1)
            keys = keys[self.positions[at] == positions] if len(self.positions) else keys[:0]
        codes = self.known.get_indexer(keys.astype(str))
        # distinct keys are distinct codes: dropping repeats of the codes (integers) gives
        # what dropping repeats of the keys did, in the same order, without hashing text twice
        codes = pd.unique(codes[codes >= 0])
        lo, hi = self.starts[codes], self.starts[codes + 1]
        counts = hi - lo
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return self.by_variant.iloc[self.rows[np.repeat(lo, counts) + offsets]]


#: What a run looks its chunks' frequency rows up in: the exports (None: the home's),
#: their index, or a function giving the index, called only once a file has chunks to
#: stream (so a command over files already stored never loads the exports).
FrequencySource = Frequencies | FrequencyIndex | Callable[[], FrequencyIndex] | None


def index_frequencies(frequencies: FrequencySource = None, workers: int = 1) -> FrequencyIndex:
    """The :class:`FrequencyIndex` of ``frequencies`` (None: the home's exports, loaded).

    With ``workers`` > 1 the chunk workers' fork server is started first, so that
    its imports overlap the loading.
    """
    if isinstance(frequencies, FrequencyIndex):
        return frequencies
    if callable(frequencies):
        return frequencies()
    if workers > 1:
        _worker_processes()
    return FrequencyIndex.of(frequencies if frequencies is not None else load_frequencies())


@dataclass
class _Context:
    """What preparing a chunk needs besides its lines (set once a file, sent to each worker)."""

    build: str
    what: str
    source_name: str | None
    dataset: str
    index: FrequencyIndex


def _key_positions(keys: pd.Index) -> np.ndarray | None:
    """The distinct positions of ``build:chrom:pos:ref:alt`` keys, sorted (None: one is not)."""
    try:
        parts = pc.split_pattern(pa.array(keys.astype(str)), ":")
        positions = pc.cast(pc.list_element(parts, 2), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowIndexError):
        return None
    if positions.null_count:
        return None
    return np.unique(positions.to_numpy())


def _one_chunk(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each Arrow-backed column, and its index, in one chunk.

    Taking rows from a chunked Arrow column joins its chunks first: each chunk's
    few frequency rows cost as much as copying the whole column, once per column.
    """

    def joined(values: Any) -> Any:
        if not hasattr(values, "__arrow_array__"):
            return values
        arrow = pa.array(values)
        if not isinstance(arrow, pa.ChunkedArray) or arrow.num_chunks <= 1:
            return values
        return pd.array(arrow.combine_chunks(), dtype=values.dtype)

    out = pd.DataFrame({c: joined(frame[c].array) for c in frame.columns}, index=frame.index)
    out.index = pd.Index(joined(frame.index.array), name=frame.index.name)
    return out


def _first_appearance(keys: pd.Index) -> tuple[pd.Index, np.ndarray]:
    """(``keys.unique()``, each key's position in it): one Arrow hash pass, not pandas' two."""
    column = pa.array(keys.array)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column, null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp)
    return pd.Index(pd.array(encoded.dictionary, dtype=keys.dtype)), codes


@dataclass
class _Prepared:
    """One chunk ready to store: its rows as stored (``first_row`` 0), and what it dropped."""

    arrow: pa.Table
    lines: int
    dropped: dict[str, int]


@dataclass(frozen=True)
class _Counts:
    """What storing a chunk adds: rows, copies under the other build, and rows skipped."""

    rows: int
    copies: int
    already_stored: int

    @classmethod
    def of(cls, arrow: pa.Table, keep: np.ndarray) -> _Counts:
        is_copy = arrow[COPY_COLUMN].is_valid().to_numpy(zero_copy_only=False)
        copies = int(is_copy[keep].sum())
        rows = int(keep.sum()) - copies
        return cls(rows, copies, int((~is_copy).sum()) - rows)


@dataclass(frozen=True)
class _Summary:
    """A prepared chunk, as the committing process needs it to number and order it."""

    extents: Extents
    #: Counts if only the files from before the run are asked (final unless it rewinds).
    counts: _Counts


@dataclass(frozen=True)
class _Order:
    """How a prepared chunk is stored: its first row number, file tag and rewound partitions."""

    first_row: int
    tag: str
    rewound: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class _Stored:
    """A chunk written: what it read, dropped and added."""

    lines: int
    dropped: dict[str, int]
    counts: _Counts
    #: Whether its counts were known only once it was written (it was a barrier).
    rewound: bool


class _ChunkWork:
    """A chunk prepared, then numbered and written by the same process (in a worker, or here).

    Only a small summary goes to the process that decides each chunk's numbering:
    the rows themselves never leave the process that built them.
    """

    def __init__(self, context: _Context, root: Path, before: frozenset[str]) -> None:
        self.context = context
        self.root = root
        self.lookup = _Lookup(root, before)

    def prepare(self, raw: pa.Table) -> tuple[_Summary, tuple[_Prepared, np.ndarray]]:
        prepared = _prepare(raw, self.context)
        keep = self.lookup.not_stored(prepared.arrow)
        summary = _Summary(_extents(prepared.arrow), _Counts.of(prepared.arrow, keep))
        return summary, (prepared, keep)

    def finish(self, held: tuple[_Prepared, np.ndarray], order: _Order) -> _Stored:
        prepared, keep = held
        if order.rewound:
            keep = self.lookup.not_stored(prepared.arrow, order.rewound)
        write_partitions(_kept(prepared.arrow, keep, order.first_row), self.root, order.tag)
        counts = _Counts.of(prepared.arrow, keep)
        return _Stored(prepared.lines, prepared.dropped, counts, bool(order.rewound))


def _work_in_worker(context: Path, root: Path, before: frozenset[str]) -> _ChunkWork:
    """A worker's :class:`_ChunkWork`, its context read from the file ``context``.

    Arrow's buffers come from the C library (:func:`_chunk_allocations`), and one
    thread does Arrow's work: the workers are one per core already, and a pool
    thread converting a frame beside them only waits its turn (measured on 8
    chunks: 508-522 ms of CPU a chunk against 554-614 ms).
    """
    pa.set_memory_pool(pa.system_memory_pool())  # a worker's whole life is chunks
    keep_freed_memory()
    pa.set_cpu_count(1)
    with context.open("rb") as handle:
        work = _ChunkWork(pickle.load(handle), root, before)
    gc.freeze()  # see _frozen_garbage
    return work


@contextmanager
def _frozen_garbage() -> Iterator[None]:
    """Python's collector leaves the objects made so far (the run's context) alone meanwhile.

    Each chunk makes enough objects to set off full collections, and each of those
    went through every object of the context too (its index of a million keys):
    about 70 ms of a chunk's 530 (measured on 8 chunks in one process, 461-483 ms
    with the objects frozen). Unfrozen after, to be collected as usual.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Numbering:
    """Decides, in file order, each chunk's first row number, file tag and look-ups.

    A chunk whose look-up must read files this run wrote (it rewinds) is a barrier:
    it is stored only after every earlier chunk is, and the next chunk is numbered
    from its counts once it is stored.
    """

    def __init__(self, tag: str, first_chunk: int, first_row: int) -> None:
        self.tag, self.first_chunk, self.next_row = tag, first_chunk, first_row
        self.positions = _Positions()

    def decide(self, index: int, summary: _Summary) -> tuple[_Order, bool]:
        rewound = self.positions.rewound(summary.extents)
        self.positions.wrote(summary.extents)
        order = _Order(self.next_row, f"{self.tag}-{self.first_chunk + index:06d}", rewound)
        if not rewound:
            self.next_row += summary.counts.rows + summary.counts.copies
        return order, bool(rewound)

    def stored(self, chunk: _Stored) -> None:
        if chunk.rewound:
            self.next_row += chunk.counts.rows + chunk.counts.copies


@contextmanager
def _chunk_allocations() -> Iterator[None]:
    """Arrow's buffers from the C library's allocator while chunks stream (restored after).

    Every chunk allocates and frees the same hundred-odd megabytes of buffers.
    Arrow's default allocator (mimalloc) hands freed pages back to the kernel
    within milliseconds, so the next chunk faults them in again, each zeroed by
    the kernel: that was about a fifth of preparing a chunk, and more of the
    writer's time. glibc keeps most of them for the next chunk (measured on 8
    chunks in one process: kernel time 1.04 -> 0.45 s, user time the same).
    What is allocated does not change what is written.
    """
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _worker_processes() -> multiprocessing.context.BaseContext:
    """Where chunk workers come from: a fork server, started now so its imports overlap set-up.

    Not a fork of this process: it runs Arrow's reader threads, and a fork taken
    while one of them allocates leaves the child's allocator broken (a segfault
    seen in testing). The server is a clean, single-threaded process that has
    imported this module once; each worker forks from it and reads the run's
    context (frequency rows included) from one file when it starts.
    """
    processes = multiprocessing.get_context("forkserver")
    processes.set_forkserver_preload([__name__])
    forkserver.ensure_running()
    return processes


def _prepare(raw: pa.Table, context: _Context) -> _Prepared:
    """Parse a chunk, build its features and lay out its rows as stored (no store access).

    Everything here depends on the chunk alone, so it runs in worker processes in
    any order; numbering is decided by the one process that commits chunks.
    """
    annotations = dbnsfp_annotations(raw, context.build, context.what, context.source_name)
    # Only this chunk's frequency rows: the builders then cost the chunk, not the genome.
    index = context.index
    local = index.frequency_rows(annotations[KEY], annotations["pos"].to_numpy(np.int64))
    table = build_feature_table(unlabelled(annotations, context.dataset), local, index.covered)
    table["frequency_source_versions"] = index.provenance  # of the whole table, as in a build
    rows = _with_copies(table, annotations)
    return _Prepared(store_arrow(rows), raw.num_rows, dict(annotations.attrs["dropped"]))


def _kept(arrow: pa.Table, keep: np.ndarray, first_row: int) -> pa.Table:
    """Rows of ``arrow`` where ``keep``, numbered from ``first_row`` in build order.

    ``arrow`` was numbered from 0 in the chunk's own order before it was sorted by
    locus; the kept rows get the numbers they would have had if only they had been
    in the chunk (what numbering after the look-up gave).
    """
    order = arrow[ORDER_COLUMN].to_numpy()
    if keep.all():
        renumbered = order + first_row
    else:
        arrow, order = arrow.filter(pa.array(keep)), order[keep]
        in_chunk = np.zeros(len(keep), dtype=bool)
        in_chunk[order] = True
        renumbered = first_row + np.cumsum(in_chunk)[order] - 1
    position = arrow.schema.get_field_index(ORDER_COLUMN)
    field = arrow.schema.field(ORDER_COLUMN)
    return arrow.set_column(position, field, pa.array(renumbered, field.type))


@contextmanager
def _chunk_workers(context: _Context, root: Path, workers: int) -> Iterator[Runner]:
    """What stores chunks in file order: this process (``workers`` <= 1) or worker processes.

    Each worker prepares a chunk, and numbers and writes it once this process has
    decided its numbering (:mod:`vipredict.workers`): at most ``2 * workers`` chunks
    are in flight, so memory stays bounded by the chunk size times the workers.
    """
    before = frozenset(str(p) for p in root.glob(FILES))
    if workers <= 1:
        make = partial(_ChunkWork, context, root, before)
        with _frozen_garbage(), two_step_workers(make, 1) as here:
            yield here
        return
    # one file every worker reads: the context (frequency rows, about 240 MB pickled)
    # went down a pipe to each worker in turn, 2-3 s before the first chunk started
    shared = root / CHECKPOINT_DIR / f".context-{uuid.uuid4().hex}.pickle"
    shared.parent.mkdir(parents=True, exist_ok=True)
    try:
        with shared.open("wb") as handle:
            pickle.dump(context, handle, protocol=pickle.HIGHEST_PROTOCOL)
        make = partial(_work_in_worker, shared, root, before)
        with two_step_workers(make, workers, _worker_processes()) as pool:
            yield pool
    finally:
        shared.unlink(missing_ok=True)


def _sent(chunks: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """Chunks as sent to a worker: one copy of each slice. A pickled slice carries its
    parent's whole buffers; one copy halves the bytes sent, for a tenth of pickling them."""
    return (raw.combine_chunks() for raw in chunks)


def stream_dbnsfp(
    path: Path,
    root: Path,
    build: str = "GRCh37",
    *,
    dataset: str | None = None,
    source_name: str | None = None,
    chunk_rows: int = 100_000,
    frequencies: FrequencySource = None,
    progress: ByteProgress = lambda _: None,
    resume: bool = False,
    stop_after: int | None = None,
    workers: int = 1,
) -> StreamReport:
    """Stream a dbNSFP TSV of any size into the store at ``root``, chunk by chunk.

    ``dataset`` names the rows (default: ``source_name``, else the file name);
    ``progress`` gets the compressed bytes read after each chunk. ``resume`` goes
    on from the checkpoint of an interrupted run of the same file, build, dataset
    and chunking (a finished run's checkpoint makes it a no-op). ``stop_after``
    stops after that many chunks, as an interruption would (for tests).
    ``workers`` > 1 parses, builds and writes chunks in that many worker processes
    while this one numbers and checkpoints them in file order: the store is the
    same file for file. ``frequencies``: the home's exports when None; a command
    streaming several files passes each the same cached :func:`index_frequencies`.
    """
    path, root = Path(path), Path(root)
    dataset = dataset or source_name or path.name
    root.mkdir(parents=True, exist_ok=True)
    checkpoints = _Checkpoints(root, _run_id(path, build, dataset, chunk_rows))
    state = checkpoints.load() if resume else None
    report = StreamReport(resumed=state is not None)
    if state is None:
        state = _Checkpoint(tag=uuid.uuid4().hex[:8])
    elif state.done:
        return _report(state, report)
    else:
        _remove_uncommitted(root, state.tag, state.chunks)
    context = _Context(
        build=build,
        what=f"dbNSFP {path.name}",
        source_name=source_name,
        dataset=dataset,
        index=index_frequencies(frequencies, workers),
    )
    numbering = _Numbering(state.tag, state.chunks, state.written + state.copies)

    def commit(chunk: _Stored) -> None:
        for reason, count in chunk.dropped.items():
            state.dropped[reason] = state.dropped.get(reason, 0) + count
        state.already_stored += chunk.counts.already_stored
        state.written += chunk.counts.rows
        state.copies += chunk.counts.copies
        state.lines += chunk.lines
        state.chunks += 1
        checkpoints.save(state)
        numbering.stored(chunk)

    with (
        _chunk_allocations(),
        _chunk_workers(context, root, workers) as runner,
        _batches(path, state.lines) as (batches, position),
    ):
        chunks = _chunks(batches, chunk_rows)
        chunks = _sent(chunks) if workers > 1 else chunks
        for done, chunk in enumerate(runner.run(chunks, numbering.decide), start=1):
            commit(chunk)
            progress(position())
            if stop_after is not None and done >= stop_after:
                return _report(state, report)
    state.done = True
    checkpoints.save(state)
    progress(path.stat().st_size)
    return _report(state, report)


def _with_copies(table: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """The rows to store: ``table``'s, and copies under the other build where it is given.

    A file that gives no other build (dbNSFP v2, or v4 rows without hg19) has no
    copies to make: :func:`~vipredict.store.liftover.with_copies` would add only
    the empty :data:`COPY_COLUMN`, which is all this does then.
    """
    if annotations[OTHER_BUILD_KEY].notna().any():
        return with_copies(carry_other_build(table, annotations))[0]
    return table.assign(**{COPY_COLUMN: pd.Series(pd.NA, index=table.index, dtype="string")})


def _report(state: _Checkpoint, report: StreamReport) -> StreamReport:
    report.rows_read, report.written, report.copies = state.lines, state.written, state.copies
    report.already_stored, report.chunks = state.already_stored, state.chunks
    report.dropped = dict(state.dropped)
    return report
