"""Writing the store: a build's rows swapped in, streamed rows added, files never rewritten.

Rows are validated against their declared feature specs before any byte is
written, split into build/chromosome partitions, sorted by position, numbered
in build order (``source_row``) and given the evidence features' INFO text.
Every file carries :data:`~vipredict.store.partitioned.COPY_COLUMN` (null for a
row, the copied key for a copy under the other build), taken from the table when
it has one.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vipredict.config import ModelRole
from vipredict.features.sets import feature_set_for
from vipredict.features.spec import (
    METADATA_KEY,
    FeatureSpec,
    schema_metadata,
    validate_feature_table,
)
from vipredict.features.table import feature_specs
from vipredict.io.vcf import feature_info_header, render_info
from vipredict.schema import KEY, LOCUS_COLUMNS
from vipredict.store.partitioned import (
    BASE_FILES,
    BASE_TAG,
    COPY_COLUMN,
    DERIVED_COLUMNS,
    FILES,
    HEADERS_METADATA_KEY,
    INFO_COLUMN,
    INFO_METADATA_KEY,
    ORDER_COLUMN,
    PARTITIONING,
    ROW_GROUP_ROWS,
)


def _store_arrow(table: pd.DataFrame, specs: tuple[FeatureSpec, ...], first_row: int) -> pa.Table:
    """``table`` plus locus, order, copy and INFO text columns, sorted by locus; schema kept.

    Keys are split and rows sorted by Arrow (a streamed chunk of 10^5 rows spends
    milliseconds here, not seconds); columns, order and pandas metadata are as
    they have always been.
    """
    locus = _locus(table)
    rest = table.drop(columns=[c for c in (*DERIVED_COLUMNS, COPY_COLUMN) if c in table.columns])
    order = pd.Series(np.arange(first_row, first_row + len(table)), index=table.index)
    copy_of = (
        table[COPY_COLUMN].astype("object")
        if COPY_COLUMN in table.columns
        else pd.Series(None, index=table.index, dtype="object")
    )
    frame = pd.concat(
        [locus, rest, order.rename(ORDER_COLUMN), copy_of.rename(COPY_COLUMN)], axis=1
    )
    if "label" in frame.columns:  # unlabelled chunks hold only NA: keep every file's type double
        label = frame["label"]
        frame["label"] = (
            np.full(len(frame), np.nan)  # what to_numeric gives, without its pass over objects
            if label.isna().all()
            else pd.to_numeric(label, errors="coerce").astype("float64")
        )
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    position = arrow.schema.get_field_index(COPY_COLUMN)  # one type in every file, nulls or not
    arrow = arrow.set_column(position, COPY_COLUMN, arrow[COPY_COLUMN].cast(pa.string()))
    if not _sorted_by_locus(arrow):  # a streamed chunk is sorted already
        arrow = arrow.take(pc.sort_indices(arrow, [(c, "ascending") for c in _LOCUS_ORDER]))
    metadata = dict(arrow.schema.metadata or {})
    metadata[METADATA_KEY] = schema_metadata(specs)
    return _with_info_text(arrow, metadata, specs).replace_schema_metadata(metadata)


#: The columns rows are sorted by, in order.
_LOCUS_ORDER = ("build", "chrom", "pos")


def _sorted_by_locus(arrow: pa.Table) -> bool:
    """Whether ``arrow``'s rows are in :data:`_LOCUS_ORDER` already (a null: not known so).

    A comparison of each row with the next, a few milliseconds for 10^5 rows where
    sorting them (to find the order unchanged) took about ten.
    """
    n = arrow.num_rows
    if n < 2:
        return True
    ordered = None  # rows i, i+1 in order on the columns compared so far, ties decided later
    for name in reversed(_LOCUS_ORDER):
        column = arrow[name]
        this, after = column.slice(0, n - 1), column.slice(1)
        if ordered is None:
            ordered = pc.less_equal(this, after)
        else:
            ordered = pc.or_(pc.less(this, after), pc.and_(pc.equal(this, after), ordered))
    return bool(pc.all(pc.fill_null(ordered, False)).as_py())


def _locus(table: pd.DataFrame) -> pd.DataFrame:
    """``build, chrom, pos, ref, alt`` of each key (:func:`vipredict.variants.split_keys`)."""
    parts = pc.split_pattern(pa.array(table[KEY].astype("string").array), ":")
    columns = {
        name: pd.array(pc.list_element(parts, i), dtype=pd.StringDtype("pyarrow"))
        for i, name in enumerate(LOCUS_COLUMNS)
    }
    columns["pos"] = pc.cast(pc.list_element(parts, 2), pa.int64()).to_numpy()
    return pd.DataFrame(columns, index=table.index)


def _with_info_text(
    arrow: pa.Table, metadata: dict[bytes, bytes], specs: tuple[FeatureSpec, ...]
) -> pa.Table:
    """``arrow`` plus :data:`INFO_COLUMN` for the evidence features, when it has them all."""
    headers = {spec.name: feature_info_header(spec) for spec in specs}
    metadata[HEADERS_METADATA_KEY] = json.dumps(headers).encode()
    columns = feature_set_for(ModelRole.EVIDENCE).feature_names
    if not set(columns) <= set(arrow.column_names):
        return arrow
    metadata[INFO_METADATA_KEY] = json.dumps(columns).encode()
    return arrow.append_column(INFO_COLUMN, render_info({c: arrow[c] for c in columns}))


def append_rows(
    table: pd.DataFrame,
    root: Path,
    tag: str | None = None,
    specs: tuple[FeatureSpec, ...] | None = None,
    first_row: int = 0,
) -> int:
    """Validate ``table`` like a feature table and add it to the store as new files.

    Files already there are never rewritten, so appending a chunk costs only that
    chunk. ``first_row`` numbers the rows' :data:`ORDER_COLUMN`. Returns the rows written.
    """
    declared = feature_specs() if specs is None else specs
    validate_feature_table(table, declared, f"store rows for {root}")
    return _write_files(table, root, tag, declared, first_row)


def _write_files(
    table: pd.DataFrame,
    root: Path,
    tag: str | None,
    declared: tuple[FeatureSpec, ...],
    first_row: int = 0,
) -> int:
    """Write already validated rows as new files under ``root``; the rows written."""
    if table.empty:
        return 0
    write_partitions(_store_arrow(table, declared, first_row), root, tag or uuid.uuid4().hex[:12])
    return len(table)


def store_arrow(
    table: pd.DataFrame, specs: tuple[FeatureSpec, ...] | None = None, first_row: int = 0
) -> pa.Table:
    """Validated ``table`` as the Arrow rows :func:`write_partitions` stores (sorted by locus).

    Split from :func:`append_rows` so that a streamed chunk can be made ready in a
    worker process and written by the one process that numbers and commits chunks.
    """
    declared = feature_specs() if specs is None else specs
    validate_feature_table(table, declared, "store rows")
    return _store_arrow(table, declared, first_row)


def write_partitions(arrow: pa.Table, root: Path, tag: str) -> list[Path]:
    """One parquet file per build/chromosome of ``arrow`` (sorted by them), named ``part-TAG-0``.

    The layout ``ds.write_dataset`` gave (hive folders, partition columns left out
    of the file, row groups of :data:`ROW_GROUP_ROWS`, zstd), written one partition
    at a time with ``pq.write_table``: no dataset machinery per chunk. Each file is
    written under a hidden name and renamed into place, so a reader (or a parallel
    ingest on another chromosome) never sees half a file.
    """
    if not arrow.num_rows:
        return []
    names = [c for c in arrow.column_names if c not in PARTITIONING.schema.names]
    keys = [arrow[c].combine_chunks() for c in PARTITIONING.schema.names]
    n = arrow.num_rows
    change = np.zeros(max(n - 1, 0), dtype=bool)
    for key in keys:
        change |= pc.not_equal(key.slice(1), key.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = [0, *(np.flatnonzero(change) + 1).tolist(), n]
    body = arrow.select(names)
    written = []
    parts = PARTITIONING.schema.names
    for start, stop in itertools.pairwise(starts):
        where = (f"{name}={key[start].as_py()}" for name, key in zip(parts, keys, strict=True))
        folder = Path(root).joinpath(*where)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{tag}-0.parquet"
        staging = folder / f".{path.name}.{uuid.uuid4().hex[:8]}"
        pq.write_table(
            body.slice(start, stop - start),
            staging,
            row_group_size=ROW_GROUP_ROWS,
            compression="zstd",
        )
        os.replace(staging, path)
        written.append(path)
    return written


def write_rows(
    table: pd.DataFrame, root: Path, specs: tuple[FeatureSpec, ...] | None = None
) -> Path:
    """Replace the store at ``root`` with ``table`` (written beside it, then swapped in).

    An invalid table is refused before anything is written, and a failed write
    leaves no staging folder behind.
    """
    root = Path(root)
    declared = feature_specs() if specs is None else specs
    validate_feature_table(table, declared, f"store rows for {root}")
    return _swap_in(table, root, declared)


def _swap_in(table: pd.DataFrame, root: Path, declared: tuple[FeatureSpec, ...]) -> Path:
    """Write validated rows beside ``root``, then swap them in (nothing left on failure)."""
    staging = root.with_name(f".{root.name}.staging-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        _write_files(table, staging, BASE_TAG, declared)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if root.exists():
        retired = root.with_name(f".{root.name}.old-{uuid.uuid4().hex[:8]}")
        root.rename(retired)
        staging.rename(root)
        shutil.rmtree(retired)
    else:
        staging.rename(root)
    return root


def replace_base(table: pd.DataFrame, root: Path) -> None:
    """Swap the store's ``base`` files (a build) for ``table``; streamed files stay.

    A rebuild, and hence every ``vipredict train``, must keep the rows that
    ``vipredict add-dbnsfp`` streamed in, which can take hours to stream again.
    """
    root = Path(root)
    declared = feature_specs()
    validate_feature_table(table, declared, f"store rows for {root}")
    if not root.exists():
        _swap_in(table, root, declared)
        return
    staging = _swap_in(table, root.with_name(f".{root.name}.base-{uuid.uuid4().hex[:8]}"), declared)
    for old in root.glob(BASE_FILES):
        old.unlink()
    for new in staging.glob(FILES):
        target = root / new.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        new.replace(target)
    shutil.rmtree(staging)
