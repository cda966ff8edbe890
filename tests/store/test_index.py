"""The serving index finds exactly what the DuckDB look-up finds, and says when it is stale.

On a copy of the SYNTHETIC tiny home's store (made-up variants through the real
builders): no figure comes from here, only whether the index answers as the
store does, key by key, including the named errors of keys it lacks.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vipredict.cli import app
from vipredict.config import Settings
from vipredict.model.scorer import Scorer
from vipredict.store import index as store_index
from vipredict.store.index import INDEX_DIR, build_index, open_index
from vipredict.store.partitioned import Store


@pytest.fixture()
def store_copy(tiny_home: Settings, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(tiny_home.store_dir, root)
    return root


def _variations(keys: list[str]) -> list[str]:
    """Keys the store lacks: wrong REF, another ALT at a stored locus, an absent locus,
    and a key that does not parse."""
    out = []
    for key in keys:
        build, chrom, pos, ref, alt = key.split(":")
        other = next(b for b in "ACGT" if b not in (ref, alt))
        out += [
            f"{build}:{chrom}:{pos}:{other}:{alt}",
            f"{build}:{chrom}:{pos}:{ref}:{other}",
            f"{build}:{chrom}:{int(pos) + 1_000_000_000}:{ref}:{alt}",
        ]
    return [*out, "GRCh37:1:not-a-position:A:C"]


def _assert_same(root: Path, keys: list[str], scorer: Scorer) -> None:
    """The index's rows and named misses are the DuckDB look-up's (``Scorer.lookup``)."""
    index = open_index(root)
    assert index is not None
    match = index.match(keys)
    expected, missing = replace(scorer, store=Store(root)).lookup(list(dict.fromkeys(keys)))
    found = match.frame()
    expected = expected.set_index(expected["variant"].astype(str)).loc[found["variant"]]
    shared = [c for c in found.columns if c in expected.columns]
    assert len(shared) > 50  # every feature, the gene and the warnings
    pd.testing.assert_frame_equal(
        found[shared], expected[shared].reset_index(drop=True), check_dtype=False
    )
    loci = found["variant"].str.split(":", expand=True)  # the locus the index adds
    assert (loci[2].astype(int) == found["pos"]).all()
    assert (loci[3] == found["ref"]).all() and (loci[4] == found["alt"]).all()
    assert match.missing == missing


def test_index_answers_as_the_store(store_copy: Path, tiny_scorer: Scorer):
    """Every stored key (some at loci with several ALTs), in request order, with the same
    values; and every kind of miss named as the DuckDB look-up names it."""
    counts = build_index(store_copy)
    assert counts == {"built": len(list(Store(store_copy).all_files())), "kept": 0, "removed": 0}
    keys = Store(store_copy).read_all()["variant"].astype(str).tolist()
    rng = np.random.default_rng(0)
    picked = [keys[i] for i in rng.permutation(len(keys))]
    wanted = [*picked[:300], *_variations(picked[:40]), picked[0]]
    _assert_same(store_copy, wanted, tiny_scorer)
    errors = {reason for reason, _ in open_index(store_copy).match(wanted).missing.values()}
    assert errors == {"ref_mismatch", "no_features"}


def test_batch_boundaries_and_unsorted_files(
    store_copy: Path, monkeypatch: pytest.MonkeyPatch, tiny_scorer: Scorer
):
    """Batches of 3 rows, loci with up to three ALTs (so they straddle batches) and a store
    file whose rows are not in position order: every key found as the store finds it.
    The extra ALTs are SYNTHETIC: copies of stored rows under another ALT."""
    monkeypatch.setattr(store_index, "BATCH_ROWS", 3)
    biggest = max(Store(store_copy).all_files(), key=lambda p: pq.ParquetFile(p).metadata.num_rows)
    table = pq.read_table(biggest)
    copies = []
    for alt in "GT":
        rows = table.slice(0, 40).to_pandas()
        rows = rows[(rows["ref"] != alt) & (rows["alt"] != alt)]
        rows["variant"] = rows["variant"].str.rsplit(":", n=1).str[0] + f":{alt}"
        rows["alt"] = alt
        copies.append(pa.Table.from_pandas(rows, schema=table.schema, preserve_index=False))
    table = pa.concat_tables([table, *copies])
    order = np.random.default_rng(1).permutation(table.num_rows)
    pq.write_table(table.take(order), biggest)
    build_index(store_copy)
    keys = table["variant"].to_pylist()
    positions = table["pos"].to_numpy()
    assert len(np.unique(positions)) <= len(positions) - 30  # many loci hold several ALTs
    _assert_same(store_copy, [*keys, *_variations(keys[:30])], tiny_scorer)


def test_stale_index_is_refused_and_rebuilt(store_copy: Path, caplog: pytest.LogCaptureFixture):
    """A store file added after the build makes the index stale (one log line saying how to
    build it); a rebuild indexes that file only; a removed file's index goes too."""
    assert open_index(store_copy) is None  # never built
    build_index(store_copy)
    assert open_index(store_copy) is not None
    first = next(Store(store_copy).all_files())
    extra = first.with_name("part-extra-0.parquet")
    shutil.copy(first, extra)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vipredict.store.index"):
        assert open_index(store_copy) is None
    assert "vipredict store-index" in caplog.text and "1 store file(s) unindexed" in caplog.text
    n_files = len(list(Store(store_copy).all_files()))
    assert build_index(store_copy) == {"built": 1, "kept": n_files - 1, "removed": 0}
    assert open_index(store_copy) is not None
    extra.unlink()
    assert build_index(store_copy) == {"built": 0, "kept": n_files - 1, "removed": 1}
    assert not list((store_copy / INDEX_DIR).rglob("part-extra-0.*"))
    # A store file rewritten in place (new size/time) is stale again.
    pq.write_table(pq.read_table(first).slice(0, 5), first)
    assert open_index(store_copy) is None


def test_store_index_command(store_copy: Path):
    """``vipredict store-index --store DIR`` builds the index the service then opens."""
    result = CliRunner().invoke(app, ["store-index", "--store", str(store_copy)])
    assert result.exit_code == 0, result.output
    files = len(list(Store(store_copy).all_files()))
    assert f"{files} file(s) indexed, 0 up to date" in " ".join(result.output.split())
    assert open_index(store_copy) is not None
    again = CliRunner().invoke(app, ["store-index", "--store", str(store_copy)])
    assert f"0 file(s) indexed, {files} up to date" in " ".join(again.output.split())


def test_add_dbnsfp_keeps_an_existing_index_current(store_copy: Path, tiny_home: Settings):
    """Streaming real dbNSFP rows into an indexed store re-indexes the new file, so the
    service keeps its fast look-ups instead of falling back to DuckDB as stale."""
    from vipredict.io.sources import resolve

    assert CliRunner().invoke(app, ["store-index", "--store", str(store_copy)]).exit_code == 0
    args = ["add-dbnsfp", str(resolve("dbnsfp_v24_chr4")), "--store", str(store_copy)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "1 file(s) indexed" in " ".join(result.output.split())
    index = open_index(store_copy)
    assert index is not None
    added = Store(store_copy).read_all()
    added = added[added["dataset"] == "dbNSFP2.4.chr4_55946200_55946300.txt.gz"]
    assert len(added) == 232
    assert set(index.match(added["variant"].astype(str).tolist()).frame()["variant"]) == set(
        added["variant"].astype(str)
    )
