"""The partitioned feature store on real rows: layout, DuckDB look-ups, streamed dbNSFP input."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vipredict.config import Settings
from vipredict.features.table import build_feature_table
from vipredict.featurestore import (
    INFO_COLUMN,
    FeatureStore,
    PartitionedStore,
    _unlabelled,
    load_frequencies,
    load_store,
    locus_queries,
    partitioned_root,
    stream_dbnsfp,
    write_partitioned,
    write_store,
)
from vipredict.readers.dbnsfp import read_dbnsfp_source
from vipredict.sources import resolve


@pytest.fixture(scope="module")
def table(trained_home: Settings) -> pd.DataFrame:
    return load_store(trained_home)


@pytest.fixture(scope="module")
def store(trained_home: Settings) -> PartitionedStore:
    """The store ``vipredict features`` wrote beside ``features.parquet`` (real sources)."""
    return PartitionedStore.open(trained_home)


def _by_variant(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows in key order; an all-NA ``label`` (unlabelled sources) compared as float NaN."""
    frame = frame.assign(label=pd.to_numeric(frame["label"]).astype("float64"))
    return frame[columns].sort_values("variant").reset_index(drop=True)


def test_every_row_round_trips_through_the_partitions(store, table):
    back = store.read_all()
    assert len(back) == len(store) == len(table)
    columns = list(table.columns)
    pd.testing.assert_frame_equal(
        _by_variant(back, columns), _by_variant(table, columns), check_dtype=False
    )


def test_files_are_partitioned_by_build_and_chromosome_and_sorted_by_position(store):
    files = list(store.all_files())
    assert {f.parent.parent.name for f in files} == {"build=GRCh37", "build=GRCh38"}
    for path in files:
        chrom = path.parent.name.removeprefix("chrom=")
        frame = pq.read_table(path, columns=["variant", "pos"]).to_pandas()
        assert frame["variant"].str.split(":").str[1].eq(chrom).all(), path
        assert frame["pos"].is_monotonic_increasing, path


def test_duckdb_lookup_equals_the_in_memory_lookup(store, table):
    keys = table["variant"].sample(800, random_state=7).tolist()
    keys += ["GRCh37:1:955563:A:C", "not a key", "GRCh37:1:1:A:G", keys[0]]
    expected = FeatureStore(table).lookup(keys).reset_index(drop=True)
    found = store.lookup(keys)
    assert len(found) == len(expected) == 801  # 800 real keys + one repeat, in request order
    pd.testing.assert_frame_equal(found[expected.columns], expected, check_dtype=False)


def test_references_name_the_stored_ref_of_a_locus(store):
    asked = locus_queries(["GRCh37:1:955563:A:C", "GRCh37:1:1:A:G"])
    refs = store.references(asked).to_pylist()
    assert refs == [{"row": 0, "ref": "G"}]


def test_info_text_is_rendered_for_the_evidence_features(store):
    from vipredict.annotate import render_info

    assert store.info_columns and INFO_COLUMN not in store.columns
    rows = store.lookup(["GRCh37:1:955563:G:C"], [*store.info_columns, INFO_COLUMN])
    rendered = render_info({c: pa.array(rows[c]) for c in store.info_columns})
    assert rows[INFO_COLUMN].tolist() == rendered.to_pylist()
    assert rendered[0].as_py().startswith("VIP_gerp_rs=-2.29;VIP_phylop100way=-1.405;")


def test_open_rewrites_a_store_older_than_the_feature_table(trained_home, tmp_path):
    home = Settings(home=tmp_path / "home", data_mirror=trained_home.data_mirror)
    home.features_dir.mkdir(parents=True)
    home.feature_table.write_bytes(trained_home.feature_table.read_bytes())
    assert not partitioned_root(home).exists()
    assert len(PartitionedStore.open(home)) == len(load_store(trained_home))


@pytest.fixture(scope="module")
def frequencies():
    return load_frequencies()


def test_streamed_dbnsfp_equals_the_in_memory_build(tmp_path, frequencies):
    """Small chunks cut the real v2.4 extract in six; the rows must not notice."""
    root = tmp_path / "store"
    report = stream_dbnsfp(
        resolve("dbnsfp_v24_head"),
        root,
        chunk_rows=20,
        source_name="dbnsfp_v24_head",
        frequencies=frequencies,
    )
    annotations = _unlabelled(read_dbnsfp_source("dbnsfp_v24_head"), "dbnsfp_v24_head")
    expected = build_feature_table(annotations, *frequencies)
    assert report.chunks == 6 and report.written == len(expected) == len(PartitionedStore(root))
    columns = list(expected.columns)
    pd.testing.assert_frame_equal(
        _by_variant(PartitionedStore(root).read_all(), columns),
        _by_variant(expected, columns),
        check_dtype=False,
    )
    again = stream_dbnsfp(resolve("dbnsfp_v24_head"), root, chunk_rows=50, frequencies=frequencies)
    assert again.written == 0 and again.already_stored == len(expected)


def test_streaming_into_a_built_store_keeps_the_first_source(table, tmp_path, frequencies):
    root = write_partitioned(table, tmp_path / "s")
    before = len(PartitionedStore(root))
    report = stream_dbnsfp(resolve("dbnsfp_v24_chr4"), root, frequencies=frequencies)
    # every chr4 slice variant is already in the store (built from the same extract)
    assert report.rows_read == 232 and report.written == 0 and report.already_stored == 232
    assert len(PartitionedStore(root)) == before


def test_rebuilding_the_feature_table_keeps_streamed_rows(
    table, trained_home, tmp_path, frequencies
):
    """``vipredict features`` (and so every ``train``) must not drop what add-dbnsfp streamed."""
    home = replace(trained_home, home=tmp_path / "home")
    without_chr4 = table[table["dataset"] != "dbnsfp_v24_chr4"]
    write_store(without_chr4, home)
    root = partitioned_root(home)
    streamed = stream_dbnsfp(resolve("dbnsfp_v24_chr4"), root, frequencies=frequencies)
    assert streamed.written == 232
    write_store(without_chr4, home)  # the rebuild
    assert len(PartitionedStore(root)) == len(without_chr4) + 232


def test_a_store_path_without_files_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no partitioned feature store"):
        PartitionedStore(tmp_path)


def test_add_dbnsfp_command_streams_into_a_store(trained_home, tmp_path):
    from typer.testing import CliRunner

    from vipredict.cli import app

    root = tmp_path / "cli-store"
    args = ["add-dbnsfp", str(resolve("dbnsfp_v24_chr4")), "--store", str(root)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "232 rows read, 232 variants added" in result.output
    assert len(PartitionedStore(root)) == 232
