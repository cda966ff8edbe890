"""The faster ingest writes the files round 1's ingest wrote: two oracles kept verbatim here.

* The writer: round 1 wrote a chunk with ``ds.write_dataset``; now each partition
  is one ``pq.write_table``. Same rows, same names, schema and metadata, same row groups.
* The pipeline: round 1 parsed, looked up, numbered and wrote a chunk as pandas
  frames in one process; now workers lay chunks out as Arrow and the writer
  filters and renumbers them. Run over a store already holding part of the file
  (so rows are skipped and the rest renumbered), both give the same files.

Real rows: the dbNSFP v2.3 extract in the mirror (all 24 chromosomes).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from vipredict.features.frequency import DEFAULT_DATASETS, frequency_source_versions
from vipredict.features.table import build_feature_table
from vipredict.io.readers.dbnsfp import dbnsfp_annotations
from vipredict.io.sources import resolve
from vipredict.schema import KEY
from vipredict.store import ingest
from vipredict.store.build import Frequencies, load_frequencies, unlabelled
from vipredict.store.partitioned import FILES, PARTITIONING, ROW_GROUP_ROWS, Store
from vipredict.store.write import append_rows, store_arrow, write_partitions

pytestmark = pytest.mark.e2e  # the real extract and the gnomAD/ExAC exports (cached)

CHUNK = 4_000


@pytest.fixture(scope="module")
def frequencies() -> Frequencies:
    return load_frequencies()


def _files(root: Path, tags: dict[str, str]) -> dict[str, Path]:
    """Files by partition and name, each tag replaced by its name in ``tags`` (else "run")."""
    named = {}
    for path in root.glob(FILES):
        _, tag, rest = path.name.split("-", 2)
        named[f"{path.parent.parent.name}/{path.parent.name}/{tags.get(tag, 'run')}-{rest}"] = path
    return named


def _assert_same_files(got: dict[str, Path], expected: dict[str, Path]) -> None:
    assert sorted(got) == sorted(expected)
    for name, path in expected.items():
        want, have = pq.ParquetFile(path), pq.ParquetFile(got[name])
        assert have.schema_arrow.equals(want.schema_arrow, check_metadata=True), name
        assert have.read().equals(want.read()), name
        groups = [have.metadata.row_group(i).num_rows for i in range(have.num_row_groups)]
        assert groups == [want.metadata.row_group(i).num_rows for i in range(want.num_row_groups)]


def test_partition_files_equal_what_write_dataset_wrote(tmp_path, frequencies):
    streamed = tmp_path / "streamed"
    ingest.stream_dbnsfp(resolve("dbnsfp_v23_test"), streamed, frequencies=frequencies)
    rows = (
        Store(streamed)
        .read_all()
        .drop(columns=["build", "chrom", "pos", "ref", "alt", "source_row", "info_text"])
    )
    arrow = store_arrow(rows, first_row=7)
    write_partitions(arrow, tmp_path / "new", "t")
    ds.write_dataset(  # round 1's writer, verbatim
        arrow,
        tmp_path / "old",
        format="parquet",
        partitioning=PARTITIONING,
        basename_template="part-t-{i}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        preserve_order=True,
        min_rows_per_group=ROW_GROUP_ROWS,
        max_rows_per_group=ROW_GROUP_ROWS,
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
    )
    expected = _files(tmp_path / "old", {"t": "t"})
    assert len(expected) == 24
    _assert_same_files(_files(tmp_path / "new", {"t": "t"}), expected)


def _round_one(path: Path, root: Path, frequencies: Frequencies, tag: str) -> None:
    """Round 1's chunk loop as pandas frames in one process (its look-up: variants stored)."""
    long, covered = frequencies
    provenance = frequency_source_versions(long, DEFAULT_DATASETS)
    by_variant = long.set_index(long["variant"].astype(str))
    known = pd.Index(by_variant.index.unique())
    stored = set(Store(root).read_all()[KEY])
    first_row = 0
    with ingest._batches(path, 0) as (batches, _):
        for number, raw in enumerate(ingest._chunks(batches, CHUNK)):
            annotations = dbnsfp_annotations(raw, "GRCh37", f"dbNSFP {path.name}")
            hits = known.get_indexer(annotations[KEY].astype(str)) >= 0
            local = by_variant.loc[annotations[KEY][hits].astype(str).unique()]
            table = build_feature_table(unlabelled(annotations, path.name), local, covered)
            table["frequency_source_versions"] = provenance
            rows = ingest._with_copies(table, annotations)
            fresh = rows[~rows[KEY].isin(stored)]
            append_rows(fresh, root, f"{tag}-{number:06d}", first_row=first_row)
            first_row += len(fresh)


def test_the_pipeline_writes_round_ones_files(tmp_path, frequencies):
    path = resolve("dbnsfp_v23_test")
    before = tmp_path / "before"
    ingest.stream_dbnsfp(path, before, chunk_rows=3 * CHUNK, frequencies=frequencies, stop_after=2)
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(before, old)
    shutil.copytree(before, new)
    pre = next(before.glob(FILES)).name.split("-")[1]
    _round_one(path, old, frequencies, "oracle")
    report = ingest.stream_dbnsfp(path, new, chunk_rows=CHUNK, frequencies=frequencies, workers=2)
    assert report.already_stored > 20_000 and report.written > 20_000
    expected = _files(old, {pre: "pre", "oracle": "run"})
    assert len(expected) > 24
    _assert_same_files(_files(new, {pre: "pre"}), expected)
