"""Streaming dbNSFP-sized files into the store in bounded memory (``vipredict add-dbnsfp``).

Each chunk goes through the same reader mapping
(:func:`~vipredict.io.readers.dbnsfp.dbnsfp_annotations`) and feature builders as
a build (:mod:`vipredict.store.build`), so streamed rows equal rows built in
memory. Only the columns the reader uses are parsed, memory is bounded by the
chunk size, and variants the store already holds are skipped (first source wins).

dbNSFP v3/v4 lines give a variant's position on both builds: each row is stored
under the build asked for and, as a copy, under the other one
(:func:`vipredict.store.liftover.with_copies`), unless the store already holds
that key. v2 files give GRCh37 and hg18 (a build vipredict does not key), so
their rows are GRCh37 only.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from vipredict.features.frequency import DEFAULT_DATASETS, frequency_source_versions
from vipredict.features.table import build_feature_table
from vipredict.io.files import is_gzip
from vipredict.io.readers.dbnsfp import USED_COLUMNS, dbnsfp_annotations
from vipredict.progress import ByteProgress
from vipredict.schema import KEY
from vipredict.store.build import Frequencies, load_frequencies, unlabelled
from vipredict.store.liftover import carry_other_build, with_copies
from vipredict.store.partitioned import COPY_COLUMN, FILES, Store, locus_queries
from vipredict.store.write import append_rows


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


@contextmanager
def _counted_bytes(path: Path) -> Iterator[tuple[BinaryIO, Callable[[], int]]]:
    """A binary handle on the (possibly gzipped) file and a function giving raw bytes read."""
    with Path(path).open("rb") as raw:
        handle = gzip.GzipFile(fileobj=raw) if is_gzip(path) else raw
        yield handle, raw.tell  # type: ignore[misc]


def _split_last_locus(chunk: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows before the chunk's last locus, rows at it): a locus is never cut in two.

    dbNSFP v2 lists a variant once per transcript on adjacent lines and the reader
    collapses them; holding the last locus back keeps that collapse exact across chunks.
    """
    chrom, pos = chunk.columns[0], next(c for c in chunk.columns if c.startswith("pos("))
    last = (chunk[chrom] == chunk[chrom].iloc[-1]) & (chunk[pos] == chunk[pos].iloc[-1])
    return chunk[~last], chunk[last]


class _Target:
    """The store being streamed into, opened once it holds a file (first source wins)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._store: Store | None = None

    def not_stored(self, table: pd.DataFrame) -> pd.DataFrame:
        """Rows whose variant the store does not hold yet."""
        if table.empty:
            return table
        if self._store is None:
            if not any(self.root.glob(FILES)):
                return table
            self._store = Store(self.root)
        found = self._store.match(locus_queries(table[KEY]), []).found.column("row")
        keep = np.ones(len(table), dtype=bool)
        keep[found.to_numpy()] = False
        return table[keep]


def stream_dbnsfp(
    path: Path,
    root: Path,
    build: str = "GRCh37",
    *,
    dataset: str | None = None,
    source_name: str | None = None,
    chunk_rows: int = 100_000,
    frequencies: Frequencies | None = None,
    progress: ByteProgress = lambda _: None,
) -> StreamReport:
    """Stream a dbNSFP TSV of any size into the store at ``root``, chunk by chunk.

    ``dataset`` names the rows (default: ``source_name``, else the file name);
    ``progress`` gets the compressed bytes read after each chunk.
    """
    long, covered = frequencies if frequencies is not None else load_frequencies()
    by_variant = long.set_index(long["variant"].astype(str)).sort_index()
    provenance = frequency_source_versions(long, DEFAULT_DATASETS)
    dataset = dataset or source_name or Path(path).name
    report, tag = StreamReport(), uuid.uuid4().hex[:8]
    root.mkdir(parents=True, exist_ok=True)
    target = _Target(root)

    def write(raw: pd.DataFrame) -> None:
        if raw.empty:
            return
        annotations = dbnsfp_annotations(raw, build, f"dbNSFP {Path(path).name}", source_name)
        for reason, count in annotations.attrs["dropped"].items():
            report.dropped[reason] = report.dropped.get(reason, 0) + count
        # Only this chunk's frequency rows: the builders then cost the chunk, not the genome.
        local = by_variant.loc[by_variant.index.intersection(annotations[KEY].astype(str))]
        table = build_feature_table(unlabelled(annotations, dataset), local, covered)
        table["frequency_source_versions"] = provenance  # of the whole table, as in a build
        rows, _ = with_copies(carry_other_build(table, annotations))
        fresh = target.not_stored(rows)
        copies = int(fresh[COPY_COLUMN].notna().sum())
        report.already_stored += int(rows[COPY_COLUMN].isna().sum()) - (len(fresh) - copies)
        append_rows(
            fresh, root, f"{tag}-{report.chunks:06d}", first_row=report.written + report.copies
        )
        report.written += len(fresh) - copies
        report.copies += copies
        report.rows_read += len(raw)
        report.chunks += 1

    with _counted_bytes(path) as (handle, position):
        reader = pd.read_csv(
            handle,
            sep="\t",
            dtype=str,
            keep_default_na=False,
            usecols=USED_COLUMNS.__contains__,
            chunksize=chunk_rows,
        )
        carry = pd.DataFrame()
        for chunk in reader:
            ready, carry = _split_last_locus(pd.concat([carry, chunk], ignore_index=True))
            write(ready)
            progress(position())
        write(carry)
        progress(position())
    return report
