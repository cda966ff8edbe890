"""Pre-scored evidence: the evidence champion's answer for every stored variant, on disk.

``vipredict annotate`` with scoring spent most of its time turning each matched
row's features back into a matrix and scoring it: 159 CPU-seconds for 10^7
variants, where copying the same columns costs 96. A store's rows do not change
between runs and a registered version's answers do not either, so, as CADD and
dbNSFP ship pre-scored files, ``vipredict prescore`` scores every stored row once
per champion and keeps the result beside the store (``STORE/_prescored/``), in
the store's own layout: one parquet file per store file, holding its keys, its
rendered INFO text (:data:`~vipredict.store.partitioned.INFO_COLUMN`), the INFO
text of the champion's own features when they are not those
(:data:`SCORED_TEXT_COLUMN`: what ``annotate`` writes by default when scoring), the
evidence columns of :data:`EVIDENCE_SCHEMA` and their ``VIP_*`` text as ``annotate``
writes it (:data:`ANSWER_TEXT_COLUMN`, for the guideline versions the metadata
names), with the store file's metadata.
That directory opens as a :class:`~vipredict.store.partitioned.Store`, so
annotating from it is the ``--no-score`` join with five more columns.

Each file is made from one store file by one registered version (:class:`ScoredBy`),
and its sidecar says which (:mod:`vipredict.store.derived`): evidence made by
another version, or from a store file since rewritten, is stale and never read
(:func:`open_prescored` says so once, and the caller scores as before). This
module reads and writes the files; the scores come from the caller
(:mod:`vipredict.jobs.prescore`), so the store imports no model.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vipredict.io.vcf import AlleleResults, InfoWriter, render_info
from vipredict.progress import byte_progress
from vipredict.store.derived import (
    derived_paths,
    is_current,
    remove_orphans,
    source_stamp,
    write_sidecar,
)
from vipredict.store.partitioned import (
    FILES,
    INFO_COLUMN,
    INFO_METADATA_KEY,
    ROW_GROUP_ROWS,
    Store,
    metadata_list,
)

logger = logging.getLogger(__name__)

PRESCORED_DIR = "_prescored"
FORMAT_VERSION = 2
HOW_TO_BUILD = "`vipredict prescore` makes it"
#: The store columns a pre-scored file repeats: what a join and its REF check read.
KEY_COLUMNS = ("pos", "ref", "alt")
#: What the evidence champion answers per row (:class:`vipredict.model.scorer.RowEvidence`):
#: NaN scores and ``none`` evidence where no profile scored the row, ``error`` "" when scored.
EVIDENCE_SCHEMA = pa.schema(
    [
        ("score", pa.float64()),
        ("posterior", pa.float64()),
        ("evidence", pa.string()),
        ("mis_prd", pa.float64()),
        ("error", pa.string()),
    ]
)
EVIDENCE_COLUMNS = tuple(EVIDENCE_SCHEMA.names)
#: Metadata key of a pre-scored file: the features its scores were computed from, in the
#: champion's order (what ``annotate`` writes by default when scoring).
SCORED_FEATURES_KEY = b"vipredict.scored_features"
#: INFO text of those features, when the store renders others (else INFO_COLUMN is it).
SCORED_TEXT_COLUMN = "scored_info_text"
#: The evidence columns' ``VIP_*`` text (:meth:`~vipredict.io.vcf.InfoWriter.result_texts`),
#: for the guideline versions named under :data:`ANSWER_GUIDELINES_KEY`.
ANSWER_TEXT_COLUMN = "answer_text"
ANSWER_GUIDELINES_KEY = b"vipredict.answer_guidelines"
#: Scores one table of store rows (the columns asked for): a table of :data:`EVIDENCE_SCHEMA`.
EvidenceOf = Callable[[pa.Table], pa.Table]


@dataclass(frozen=True)
class ScoredBy:
    """The registered version whose answers a pre-scored file holds."""

    name: str
    version: str
    run_id: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


def prescored_root(store_root: Path) -> Path:
    return Path(store_root) / PRESCORED_DIR


def _paths(store_root: Path, source: Path, root: Path) -> tuple[Path, Path]:
    return derived_paths(store_root, source, root, ".parquet")


def _current(store_root: Path, source: Path, root: Path, scored_by: ScoredBy) -> bool:
    """Whether ``source`` has a complete pre-scored file made from it as it is now by
    ``scored_by``."""
    return is_current(
        store_root, source, root, ".parquet", FORMAT_VERSION, scored_by=scored_by.as_dict()
    )


def prescore_file(
    store_root: Path,
    source: Path,
    root: Path,
    scored_by: ScoredBy,
    evidence_of: EvidenceOf,
    columns: Sequence[str],
    guidelines: Sequence[str],
) -> int:
    """Write the pre-scored file of one store file, a row group at a time; returns its rows.

    ``columns``: the store columns ``evidence_of`` reads, the champion's features in
    its order (kept in the file's metadata). The sidecar is written last (by rename),
    so an interrupted run leaves the file stale, not wrong.
    """
    data, meta = _paths(store_root, source, root)
    data.parent.mkdir(parents=True, exist_ok=True)
    stamp = source_stamp(source)
    parquet = pq.ParquetFile(source)
    stored = parquet.schema_arrow
    kept = [*KEY_COLUMNS, *([INFO_COLUMN] if INFO_COLUMN in stored.names else [])]
    metadata = {
        **(stored.metadata or {}),
        SCORED_FEATURES_KEY: json.dumps(list(columns)),
        ANSWER_GUIDELINES_KEY: json.dumps(list(guidelines)),
    }
    writer = InfoWriter([], scored=True, guidelines=guidelines)
    # the champion's features are not the rendered ones: their own text too
    own_text = metadata_list(stored, INFO_METADATA_KEY) != list(columns)
    texts = [pa.field(SCORED_TEXT_COLUMN, pa.string())] if own_text else []
    texts.append(pa.field(ANSWER_TEXT_COLUMN, pa.string()))
    schema = pa.schema(
        [stored.field(c) for c in kept] + texts + list(EVIDENCE_SCHEMA), metadata=metadata
    )
    read = list(dict.fromkeys([*kept, *columns]))
    rows = 0
    partial = data.with_suffix(".parquet.partial")
    with pq.ParquetWriter(partial, schema, compression="zstd") as out:
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=read)
            evidence = evidence_of(table).cast(EVIDENCE_SCHEMA)
            body = table.select(kept)
            if own_text:
                text = render_info({c: table[c] for c in columns})
                body = body.append_column(SCORED_TEXT_COLUMN, text)
            answers = writer.result_texts(evidence_results(evidence))
            body = body.append_column(ANSWER_TEXT_COLUMN, answers)
            for name in EVIDENCE_COLUMNS:
                body = body.append_column(name, evidence[name])
            out.write_table(body.cast(schema), row_group_size=ROW_GROUP_ROWS)
            rows += table.num_rows
    os.replace(partial, data)
    write_sidecar(
        meta,
        {"format": FORMAT_VERSION, "source": stamp, "scored_by": scored_by.as_dict(), "rows": rows},
    )
    return rows


def evidence_results(evidence: pa.Table) -> AlleleResults:
    """The evidence columns (of :data:`EVIDENCE_SCHEMA`) as the writer reads them."""
    return AlleleResults(
        evidence["score"].to_numpy(),
        evidence["posterior"].to_numpy(),
        evidence["evidence"].to_numpy(zero_copy_only=False),
        evidence["error"].to_numpy(zero_copy_only=False),
        evidence["mis_prd"].to_numpy(),
    )


def answer_guidelines(evidence: Store) -> list[str]:
    """The guideline versions whose ``VIP_*`` text :data:`ANSWER_TEXT_COLUMN` holds."""
    return _kept_list(evidence, ANSWER_GUIDELINES_KEY)


#: Runs :func:`prescore_file` on each of the store files given, in any order, and calls
#: the function given with each once its pre-scored file is written (for progress).
FileRunner = Callable[[Sequence[Path], Callable[[Path], None]], None]


def prescore_store(
    store_root: Path,
    scored_by: ScoredBy,
    evidence_of: EvidenceOf,
    columns: Sequence[str],
    guidelines: Sequence[str],
    show_progress: bool = False,
    run_files: Callable[[int], FileRunner | None] = lambda _: None,
) -> dict[str, int]:
    """Pre-score every store file that has no current pre-scored file; drop the files of
    store files that are gone. Returns counts of files ``scored``, ``kept``, ``removed``.

    Memory stays about one row group's columns, whatever the store's size.
    ``show_progress``: a bar over the store bytes to score. ``run_files``, given the
    bytes to score, may answer with what scores the files elsewhere (worker
    processes); None scores them here, one after the other, with ``evidence_of``.
    """
    store_root = Path(store_root)
    root = prescored_root(store_root)
    sources = sorted(store_root.glob(FILES))
    todo = [s for s in sources if not _current(store_root, s, root, scored_by)]
    total = sum(s.stat().st_size for s in todo)
    with byte_progress(total, f"pre-scoring ({scored_by})", show_progress) as advance:
        done = 0

        def written(source: Path) -> None:
            nonlocal done
            done += source.stat().st_size
            advance(done)

        runner = run_files(total) if todo else None
        if runner is not None:
            runner(todo, written)
        else:
            for source in todo:
                prescore_file(store_root, source, root, scored_by, evidence_of, columns, guidelines)
                written(source)
    wanted = {p for s in sources for p in _paths(store_root, s, root)}
    removed = remove_orphans(root, wanted, ".parquet") if root.is_dir() else 0
    return {"scored": len(todo), "kept": len(sources) - len(todo), "removed": removed}


def _kept_list(evidence: Store, key: bytes) -> list[str]:
    """A list every pre-scored file keeps in its metadata (KeyError: not pre-scored)."""
    found = metadata_list(evidence.schema, key)
    if found is None:
        raise KeyError(f"{evidence.root} holds no pre-scored evidence ({key.decode()})")
    return found


def scored_features(evidence: Store) -> list[str]:
    """The features the pre-scored answers of ``evidence`` were computed from."""
    return _kept_list(evidence, SCORED_FEATURES_KEY)


def text_column(evidence: Store, columns: Sequence[str]) -> str | None:
    """The column of ``evidence`` holding the INFO text of exactly ``columns`` (None: none)."""
    if list(columns) == evidence.info_columns:
        return INFO_COLUMN
    if list(columns) == scored_features(evidence):  # not the rendered ones: their own text
        return SCORED_TEXT_COLUMN
    return None


def open_prescored(
    store_root: Path, scored_by: ScoredBy, threads: int | None = None
) -> Store | None:
    """The store's pre-scored evidence by ``scored_by``, opened as a store, or None.

    None when there is none (silently: most homes never pre-score), or when any
    store file lacks a current pre-scored file (one log line says why and how to
    remake it): evidence of another version or another store is never read.
    """
    store_root = Path(store_root)
    root = prescored_root(store_root)
    if not root.is_dir():
        return None
    sources = sorted(store_root.glob(FILES))
    stale = [s for s in sources if not _current(store_root, s, root, scored_by)]
    if not sources or stale:
        logger.warning(
            "the pre-scored evidence of the store at %s is stale for %d of its %d files "
            "(made by another version than %s, or before the file changed; e.g. %s): "
            "scoring as variants are read; %s",
            store_root, len(stale), len(sources), scored_by,
            stale[0].name if stale else "-", HOW_TO_BUILD,
        )  # fmt: skip
        return None
    return Store(root, threads)
