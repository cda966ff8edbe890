"""``add-dbnsfp`` streaming: resumable after an interruption, the same store either way.

Real rows: the dbNSFP v2.3 extract in the mirror (47,976 lines), cut into small
chunks; an interruption is simulated by stopping after a number of chunks with a
half-written chunk left behind, as a killed run leaves it.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vipredict.io.files import open_text
from vipredict.io.sources import resolve
from vipredict.store.build import Frequencies, load_frequencies
from vipredict.store.ingest import CHECKPOINT_DIR, stream_dbnsfp
from vipredict.store.partitioned import FILES, ORDER_COLUMN, Store
from vipredict.store.write import append_rows

pytestmark = pytest.mark.e2e  # the real extract and the gnomAD/ExAC exports (cached)

CHUNK = 4_000


@pytest.fixture(scope="module")
def frequencies() -> Frequencies:
    return load_frequencies()


def _rows(root) -> pd.DataFrame:
    table = Store(root).read_all()
    return table.sort_values(ORDER_COLUMN, ignore_index=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, frequencies) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("whole") / "store"
    report = stream_dbnsfp(
        resolve("dbnsfp_v23_test"), root, chunk_rows=CHUNK, frequencies=frequencies
    )
    assert report.chunks > 5 and report.written == 46_904
    return _rows(root)


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, frequencies, uninterrupted):
    root = tmp_path / "store"
    path = resolve("dbnsfp_v23_test")
    first = stream_dbnsfp(path, root, chunk_rows=CHUNK, frequencies=frequencies, stop_after=3)
    assert first.chunks == 3 and 0 < first.written < 46_904
    # a killed run leaves the chunk it was writing half done: files, no checkpoint
    tag = next(root.glob("build=*/chrom=*/part-*.parquet")).name.split("-")[1]
    half = uninterrupted.iloc[first.written : first.written + 10].drop(
        columns=["build", "chrom", "pos", "ref", "alt", ORDER_COLUMN, "info_text"]
    )
    append_rows(half, root, f"{tag}-{first.chunks:06d}", first_row=first.written)
    written = next(root.glob(f"build=*/chrom=*/part-{tag}-{first.chunks:06d}-0.parquet"))
    staging = written.with_name(f".{written.name}.0a1b2c3d")  # a worker stopped mid-write
    staging.write_bytes(written.read_bytes()[:100])
    resumed = stream_dbnsfp(path, root, chunk_rows=CHUNK, frequencies=frequencies, resume=True)
    assert resumed.resumed and resumed.written == 46_904 and resumed.already_stored == 0
    assert not staging.exists()
    stored = _rows(root)
    assert stored["variant"].is_unique
    pd.testing.assert_frame_equal(stored, uninterrupted)
    # a finished run's checkpoint makes --resume a no-op
    again = stream_dbnsfp(path, root, chunk_rows=CHUNK, frequencies=frequencies, resume=True)
    assert again.written == 46_904 and len(Store(root)) == 46_904
    assert list((root / CHECKPOINT_DIR).glob("*.json"))


def test_without_resume_a_second_run_adds_nothing(tmp_path, frequencies):
    root = tmp_path / "store"
    path = resolve("dbnsfp_v24_head")
    stream_dbnsfp(path, root, chunk_rows=30, frequencies=frequencies, stop_after=2)
    again = stream_dbnsfp(path, root, chunk_rows=30, frequencies=frequencies)
    assert again.written + again.already_stored == 99
    assert len(Store(root)) == 99 and Store(root).read_all()["variant"].is_unique


def test_cached_frequencies_equal_the_exports(frequencies, tmp_path, monkeypatch):
    """The second load reads the home's cache; it must be the table the exports give."""
    again = load_frequencies()
    pd.testing.assert_frame_equal(again[0], frequencies[0])
    assert again[1] == frequencies[1]


def _tables(root) -> dict[str, pa.Table]:
    """Each store file's table (schema metadata included), by partition and chunk number."""
    tables = {}
    for path in root.glob(FILES):
        chunk = path.name.split("-")[2]
        tables[f"{path.parent.parent.name}/{path.parent.name}/{chunk}"] = pq.read_table(path)
    return tables


def test_worker_processes_write_the_files_one_process_writes(tmp_path, frequencies):
    """Chunks parsed, numbered and written by two worker processes: the same files."""
    path = resolve("dbnsfp_v23_test")
    one, two = tmp_path / "one", tmp_path / "two"
    serial = stream_dbnsfp(path, one, chunk_rows=CHUNK, frequencies=frequencies, workers=1)
    pooled = stream_dbnsfp(path, two, chunk_rows=CHUNK, frequencies=frequencies, workers=2)
    assert pooled == serial and serial.chunks > 5
    expected, got = _tables(one), _tables(two)
    assert sorted(got) == sorted(expected) and len(expected) > 24
    for name, table in expected.items():
        assert got[name].schema.equals(table.schema, check_metadata=True), name
        assert got[name].equals(table), name


def _unsorted(path, folder):
    """The extract with its second half first, then its first half, then 500 of its lines
    again: later chunks go back over positions written, and meet variants stored."""
    with open_text(path) as handle:
        header, *body = handle.read().splitlines()
    half = len(body) // 2
    while body[half].split("\t")[:2] == body[half - 1].split("\t")[:2]:  # a locus stays whole
        half += 1
    out = folder / "unsorted.tsv"
    out.write_text("\n".join([header, *body[half:], *body[:half], *body[1000:1500]]) + "\n")
    return out


def test_an_unsorted_file_is_stored_the_same_by_workers(tmp_path, frequencies, uninterrupted):
    """Chunks that go back over positions the run wrote look in its files (after every
    earlier chunk is written): repeats are skipped, with two workers as with one."""
    path = _unsorted(resolve("dbnsfp_v23_test"), tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    serial = stream_dbnsfp(path, one, chunk_rows=CHUNK, frequencies=frequencies, workers=1)
    pooled = stream_dbnsfp(path, two, chunk_rows=CHUNK, frequencies=frequencies, workers=2)
    assert pooled == serial
    assert serial.written == 46_904 and serial.already_stored == 500
    expected, got = _tables(one), _tables(two)
    assert sorted(got) == sorted(expected)
    for name, table in expected.items():
        assert got[name].equals(table), name
    stored = _rows(two)
    assert stored["variant"].is_unique and stored[ORDER_COLUMN].tolist() == list(range(46_904))
    assert set(stored["variant"]) == set(uninterrupted["variant"])


def test_rows_a_store_already_holds_are_skipped_and_the_rest_numbered_in_build_order(
    tmp_path, frequencies, uninterrupted
):
    """A second run over a store holding part of the file writes only the rest, numbered
    0, 1, ... in the order one run builds them (numbering after the look-up, as it was)."""
    path = resolve("dbnsfp_v23_test")
    root = tmp_path / "store"
    first = stream_dbnsfp(path, root, chunk_rows=CHUNK, frequencies=frequencies, stop_after=2)
    tag = next(root.glob(FILES)).name.split("-")[1]
    second = stream_dbnsfp(path, root, chunk_rows=CHUNK, frequencies=frequencies, workers=2)
    assert second.already_stored == first.written and second.written == 46_904 - first.written
    mine = [p for p in root.glob(FILES) if tag not in p.name]
    new = pa.concat_tables([pq.read_table(p, columns=["variant", ORDER_COLUMN]) for p in mine])
    numbered = new.to_pandas().sort_values(ORDER_COLUMN, ignore_index=True)
    assert numbered[ORDER_COLUMN].tolist() == list(range(second.written))
    built = uninterrupted["variant"]  # in the order one run numbered them
    assert numbered["variant"].tolist() == built[built.isin(numbered["variant"])].tolist()
    assert len(Store(root)) == 46_904 and Store(root).read_all()["variant"].is_unique


def test_a_command_over_several_files_groups_the_frequencies_once(
    tmp_path, frequencies, monkeypatch, tiny_home
):
    """``add-dbnsfp A B``: the frequency rows are loaded and grouped once for both files
    (dbNSFP ships one per chromosome), and the store is what one command per file makes.
    Resumed once both are stored, the command loads nothing."""
    from typer.testing import CliRunner

    import vipredict.store.ingest as ingest
    from vipredict.cli import app

    loads = []
    monkeypatch.setattr(ingest, "load_frequencies", lambda: loads.append(1) or frequencies)
    files = [str(resolve("dbnsfp_v24_head")), str(resolve("dbnsfp_v24_chr4"))]
    options = ["--chunk-rows", "20", "--workers", "1", "--dataset", "d"]

    def add(paths: list[str], root, *more: str) -> None:
        args = ["add-dbnsfp", *paths, "--store", str(root), *options, *more]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output

    add(files, tmp_path / "together")
    assert len(loads) == 1
    add(files, tmp_path / "together", "--resume")
    assert len(loads) == 1
    for path in files:
        add([path], tmp_path / "apart")
    assert len(loads) == 3
    together, apart = _rows(tmp_path / "together"), _rows(tmp_path / "apart")
    assert len(together) > 232  # both files' rows
    pd.testing.assert_frame_equal(together, apart)
