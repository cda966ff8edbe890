"""Writing the store: a build's rows swapped in, streamed rows added, files never rewritten.

Rows are validated against their declared feature specs before any byte is
written, split into build/chromosome partitions, sorted by position, numbered
in build order (``source_row``) and given the evidence features' INFO text.
Every file carries :data:`~vipredict.store.partitioned.COPY_COLUMN` (null for a
row, the copied key for a copy under the other build), taken from the table when
it has one.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

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
from vipredict.schema import KEY
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
from vipredict.variants import split_keys


def _store_arrow(table: pd.DataFrame, specs: tuple[FeatureSpec, ...], first_row: int) -> pa.Table:
    """``table`` plus locus, order, copy and INFO text columns, sorted by locus; schema kept."""
    locus = split_keys(table[KEY]).set_index(table.index)
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
    frame = frame.sort_values(["build", "chrom", "pos"], kind="stable")
    if "label" in frame.columns:  # unlabelled chunks hold only NA: keep every file's type double
        frame["label"] = pd.to_numeric(frame["label"], errors="coerce").astype("float64")
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    position = arrow.schema.get_field_index(COPY_COLUMN)  # one type in every file, nulls or not
    arrow = arrow.set_column(position, COPY_COLUMN, arrow[COPY_COLUMN].cast(pa.string()))
    metadata = dict(arrow.schema.metadata or {})
    metadata[METADATA_KEY] = schema_metadata(specs)
    return _with_info_text(arrow, metadata, specs).replace_schema_metadata(metadata)


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
    ds.write_dataset(
        _store_arrow(table, declared, first_row),
        root,
        format="parquet",
        partitioning=PARTITIONING,
        basename_template=f"part-{tag or uuid.uuid4().hex[:12]}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        preserve_order=True,
        min_rows_per_group=ROW_GROUP_ROWS,
        max_rows_per_group=ROW_GROUP_ROWS,
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
    )
    return len(table)


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
