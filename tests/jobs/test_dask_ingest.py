"""``add-dbnsfp --dask``: per-chromosome files ingested in parallel equal a serial ingest.

Real rows: the dbNSFP v2.3 extract in the mirror (1,999 lines on each chromosome),
split into per-chromosome files as dbNSFP ships them (chromosome 1 in two files that
share a few lines, so two files start on the same chromosome and share a task). A two-worker
``LocalCluster`` (threads, to keep the test fast) ingests them; the serial runs of
the same files, in the same order, are the oracle, file for file.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster
from typer.testing import CliRunner

from vipredict.cli import app
from vipredict.io.sources import resolve
from vipredict.jobs.dask import ingest_groups, ingest_on_dask
from vipredict.store.build import Frequencies, load_frequencies
from vipredict.store.ingest import CHECKPOINT_DIR, stream_dbnsfp
from vipredict.store.partitioned import FILES, Store

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHUNK = 700
CHROMOSOMES = ("1", "2", "X")


@pytest.fixture(scope="module")
def frequencies() -> Frequencies:
    return load_frequencies()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        ) as local,
        Client(local) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def per_chromosome(tmp_path_factory) -> list[Path]:
    """The real extract's lines of a few chromosomes, one file each (chromosome 1 in two)."""
    folder = tmp_path_factory.mktemp("per-chromosome")
    with gzip.open(resolve("dbnsfp_v23_test"), "rt") as handle:
        header, *lines = handle.readlines()
    paths = []
    for chrom in CHROMOSOMES:
        mine = [line for line in lines if line.split("\t", 1)[0] == chrom]
        # chromosome 1 in two files that share 5 lines: the first file wins them
        pieces = [mine[:1200], mine[1195:]] if chrom == "1" else [mine]
        for i, piece in enumerate(pieces):
            path = folder / f"dbNSFP2.3_variant.chr{chrom}.{i}.txt"
            path.write_text(header + "".join(piece))
            paths.append(path)
    return paths


def _files(root: Path) -> dict[str, Path]:
    """Store files by name, each run's random tag replaced by its run id (the same both ways)."""
    runs = {}
    for checkpoint in (root / CHECKPOINT_DIR).glob("*.json"):
        runs[json.loads(checkpoint.read_text())["tag"]] = checkpoint.stem
    named = {}
    for path in root.glob(FILES):
        tag = re.match(r"part-([0-9a-f]+)-", path.name)
        assert tag, path
        name = path.name.replace(tag.group(1), runs[tag.group(1)], 1)
        named[str(path.parent.relative_to(root) / name)] = path
    return named


def test_parallel_ingest_equals_a_serial_one(tmp_path, per_chromosome, cluster, frequencies):
    assert [len(g) for g in ingest_groups(per_chromosome)] == [2, 1, 1]
    serial_root, dask_root = tmp_path / "serial", tmp_path / "dask"
    serial = [
        stream_dbnsfp(path, serial_root, chunk_rows=CHUNK, frequencies=frequencies)
        for path in per_chromosome
    ]
    parallel = ingest_on_dask(cluster, per_chromosome, dask_root, chunk_rows=CHUNK)
    assert [r.written for r in parallel] == [r.written for r in serial]
    assert serial[1].already_stored > 0  # the shared lines: stored by the first file only
    assert sum(r.written for r in serial) > 5_000 and all(r.chunks > 1 for r in serial[1:])
    expected, got = _files(serial_root), _files(dask_root)
    assert sorted(got) == sorted(expected)
    for name, path in expected.items():
        want, have = pq.read_table(path), pq.read_table(got[name])
        assert have.schema.equals(want.schema, check_metadata=True), name
        assert have.equals(want), name
    assert Store(dask_root).read_all()["variant"].is_unique
    # every file ran with its own checkpoint: resuming the finished ingest adds nothing
    again = ingest_on_dask(cluster, per_chromosome, dask_root, chunk_rows=CHUNK, resume=True)
    assert all(r.resumed for r in again) and sorted(_files(dask_root)) == sorted(expected)


def test_a_failed_file_is_named_and_the_others_are_ingested(tmp_path, per_chromosome, cluster):
    broken = tmp_path / "dbNSFP_variant.chrY.txt"
    broken.write_text("#chr\tpos(1-coor)\nY\tnot-a-position\n")
    root = tmp_path / "store"
    with pytest.raises(RuntimeError, match=r"ingest failed for: dbNSFP_variant\.chrY\.txt"):
        ingest_on_dask(cluster, [per_chromosome[-1], broken], root, chunk_rows=CHUNK)
    assert {p.parent.name for p in root.glob(FILES)} == {"chrom=X"}


def test_add_dbnsfp_runs_on_the_named_scheduler(tmp_path, per_chromosome, cluster, frequencies):
    """``vipredict add-dbnsfp FILES --scheduler ADDRESS``: the command users run, on Dask."""
    root = tmp_path / "store"
    files = [str(p) for p in per_chromosome[2:]]
    command = ["add-dbnsfp", *files, "--store", str(root), "--chunk-rows", str(CHUNK)]
    result = CliRunner().invoke(app, [*command, "--scheduler", cluster.scheduler.address])
    assert result.exit_code == 0, result.output
    assert "2 file(s) as 2 task(s)" in result.output
    serial = [stream_dbnsfp(Path(f), tmp_path / "serial", frequencies=frequencies) for f in files]
    assert len(Store(root)) == sum(r.written for r in serial) > 3_000
