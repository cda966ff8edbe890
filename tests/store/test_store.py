"""The one feature store (``vipredict.store``): layout, DuckDB look-ups, builds and streams.

Two tiers. The logic (layout, round trip, look-ups, build order, sampling, scans,
the INFO text, keeping streamed files) is tested on the SYNTHETIC tiny home's
store, copied before anything writes to it. Streaming real dbNSFP files, and a
rebuild or a stream on the real trained home's store, are end-to-end.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from synthetic import DATASET, TinyHome

from vipredict.config import ModelRole, Settings
from vipredict.features.sets import feature_set_for
from vipredict.features.table import feature_specs
from vipredict.io.readers.dbnsfp import read_dbnsfp_source
from vipredict.io.sources import resolve
from vipredict.io.vcf import feature_info_header, render_info
from vipredict.store.build import (
    Frequencies,
    features_of,
    load_frequencies,
    unlabelled,
    write_store,
)
from vipredict.store.ingest import stream_dbnsfp
from vipredict.store.liftover import with_copies
from vipredict.store.partitioned import (
    INFO_COLUMN,
    ORDER_COLUMN,
    Store,
    StoreMissingError,
    labelled_rows,
    locus_queries,
)
from vipredict.store.write import append_rows, replace_base, write_rows


def _by_variant(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows in key order; ``label`` (all-NA for unlabelled sources) compared as float."""
    frame = frame.assign(label=pd.to_numeric(frame["label"]).astype("float64"))
    return frame[columns].sort_values("variant").reset_index(drop=True)


def _assert_same_rows(found: pd.DataFrame, expected: pd.DataFrame) -> None:
    columns = list(expected.columns)
    pd.testing.assert_frame_equal(
        _by_variant(found, columns), _by_variant(expected, columns), check_dtype=False
    )


def _in_order(found: pd.DataFrame, expected: pd.DataFrame) -> None:
    """``found`` holds ``expected``'s rows in ``expected``'s order (values, not dtypes)."""
    columns = list(expected.columns)

    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[columns].reset_index(drop=True)
        return frame.assign(label=pd.to_numeric(frame["label"]).astype("float64"))

    pd.testing.assert_frame_equal(plain(found), plain(expected), check_dtype=False)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in Store(root).all_files())


# =========================================================================== fast: synthetic


@pytest.fixture(scope="module")
def table(tiny: TinyHome) -> pd.DataFrame:
    """The SYNTHETIC feature table the tiny home's store was written from."""
    return features_of(tiny.annotations, tiny.frequencies)


@pytest.fixture(scope="module")
def store(tiny: TinyHome) -> Store:
    """The SYNTHETIC tiny home's store, read only."""
    return Store.open(tiny.settings)


@pytest.fixture
def store_copy(tiny: TinyHome, tmp_path: Path) -> Path:
    """A copy of the SYNTHETIC store to write to (the session home stays as built)."""
    return Path(shutil.copytree(tiny.settings.store_dir, tmp_path / "store"))


@pytest.fixture(scope="module")
def shuffled(table: pd.DataFrame) -> pd.DataFrame:
    """SYNTHETIC rows in a build order unlike position order: two datasets, some unlabelled."""
    order = np.random.default_rng(5).permutation(len(table))
    rows = table.iloc[order].reset_index(drop=True)
    rows["dataset"] = np.where(np.arange(len(rows)) % 3 == 0, "other", DATASET)
    rows["label"] = rows["label"].astype("Float64").mask(np.arange(len(rows)) % 4 == 0)
    return rows


@pytest.fixture(scope="module")
def shuffled_root(shuffled: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rows(shuffled, tmp_path_factory.mktemp("shuffled") / "store")


def test_files_are_partitioned_by_build_and_chromosome_and_sorted_by_position(store):
    """SYNTHETIC store: one partition per build and chromosome, rows sorted by position."""
    files = list(store.all_files())
    assert {(f.parent.parent.name, f.parent.name) for f in files} == {
        ("build=GRCh37", "chrom=1"), ("build=GRCh37", "chrom=2"),
    }  # fmt: skip
    for path in files:
        assert path.name.startswith("part-base-"), path  # a build's files
        chrom = path.parent.name.removeprefix("chrom=")
        frame = pq.read_table(path, columns=["variant", "pos", ORDER_COLUMN]).to_pandas()
        assert frame["variant"].str.split(":").str[1].eq(chrom).all(), path
        assert frame["pos"].is_monotonic_increasing, path
        assert frame["pos"].tolist() == frame["variant"].str.split(":").str[2].astype(int).tolist()


def test_every_row_round_trips_through_the_partitions(store, table):
    """SYNTHETIC rows: what was written is what every scan reads back."""
    back = store.read_all()
    assert len(back) == len(store) == len(table) == 600
    assert store.columns == list(table.columns)
    _assert_same_rows(back, table)


def test_the_store_declares_its_specs_and_headers(store):
    """SYNTHETIC store: specs and ``##INFO`` lines travel in the files' metadata."""
    assert store.specs == feature_specs()
    assert store.info_headers == {spec.name: feature_info_header(spec) for spec in feature_specs()}
    assert store.info_columns == feature_set_for(ModelRole.EVIDENCE).feature_names
    assert INFO_COLUMN not in store.columns and ORDER_COLUMN not in store.columns


def test_lookup_answers_in_request_order_with_repeats_and_bad_keys(store, table):
    """SYNTHETIC store: found keys in request order (repeats kept), the others left out."""
    keys = table["variant"].sample(80, random_state=7).astype(str).tolist()
    first = keys[0].split(":")
    other_ref = "A" if first[3] != "A" else "C"
    wrong_ref = ":".join([*first[:3], other_ref, first[4]])
    asked = [*keys, wrong_ref, "not a key", "GRCh37:1:1:A:G", "GRCh38:3:5:A:G", keys[0], keys[5]]
    found = store.lookup(asked)
    expected = table.set_index("variant", drop=False).loc[[*keys, keys[0], keys[5]]]
    assert found["variant"].tolist() == [*keys, keys[0], keys[5]]  # 80 found + two repeats
    _in_order(found, expected)
    assert store.lookup(asked, ["variant", "gerp_rs"]).columns.tolist() == ["variant", "gerp_rs"]


def test_lookup_of_nothing_and_of_unknown_columns(store):
    """SYNTHETIC store: no keys is an empty table with the columns; an unknown one is refused."""
    empty = store.lookup(["not a key"], ["variant", "gerp_rs"])
    assert empty.empty and empty.columns.tolist() == ["variant", "gerp_rs"]
    with pytest.raises(KeyError, match="no column"):
        store.lookup(["GRCh37:1:1000000:A:G"], ["variant", "revel_score"])


def test_match_names_the_stored_ref_of_a_locus_it_lacks(store, table):
    """SYNTHETIC store: a wrong REF is told apart from a variant the store does not hold."""
    stored = [str(k).split(":") for k in table["variant"].iloc[[3, 400]]]
    bases = "ACGT"
    wrong_ref = [*stored[0][:3], next(b for b in bases if b not in stored[0][3:]), stored[0][4]]
    other_alt = [*stored[1][:4], next(b for b in bases if b not in stored[1][3:])]
    keys = [
        ":".join(wrong_ref),  # row 0: the locus is stored with another REF
        ":".join(stored[1]),  # row 1: stored
        ":".join(other_alt),  # row 2: same REF, another ALT (no features, not a REF error)
        "GRCh37:1:1:A:G",  # row 3: nothing stored at the locus
        "junk",  # row 4: no query at all
    ]
    match = store.match(locus_queries(keys), ["variant"])
    assert match.found.to_pylist() == [{"row": 1, "variant": keys[1]}]
    assert match.stored_refs() == {0: stored[0][3], 2: stored[1][3]}


def test_locus_queries_keep_the_request_row_of_keys_that_parse():
    queries = locus_queries(["GRCh37:chr1:5:a:g", None, "junk", "hg38:X:7:C:T"])
    assert queries.to_pylist() == [
        {"row": 0, "build": "GRCh37", "chrom": "1", "pos": 5, "ref": "A", "alt": "G"},
        {"row": 3, "build": "GRCh38", "chrom": "X", "pos": 7, "ref": "C", "alt": "T"},
    ]


def test_dataset_rows_come_in_build_order(shuffled_root, shuffled):
    """SYNTHETIC rows written shuffled: a dataset reads back in the order it was built in."""
    store = Store(shuffled_root)
    for dataset in (DATASET, "other"):
        rows = store.dataset_rows(dataset)
        expected = shuffled[shuffled["dataset"] == dataset]
        assert rows["variant"].tolist() == expected["variant"].tolist()
        _in_order(rows, expected)
    labelled = store.dataset_rows(DATASET, ["variant", "label"], labelled=True)
    expected = shuffled[(shuffled["dataset"] == DATASET) & shuffled["label"].notna()]
    assert labelled["variant"].tolist() == expected["variant"].tolist()
    assert labelled.columns.tolist() == ["variant", "label"]
    assert labelled_rows(store, "2019").empty  # no ClinGen set in a synthetic store


def test_dataset_sample_is_repeatable_whatever_the_thread_count(shuffled_root, shuffled):
    """SYNTHETIC rows: a limited read is a hash-ordered sample, the same on 1 or 4 threads."""
    one, four = Store(shuffled_root, threads=1), Store(shuffled_root, threads=4)
    sample = one.dataset_rows(DATASET, ["variant"], limit=60, seed=3)["variant"].tolist()
    assert sample == four.dataset_rows(DATASET, ["variant"], limit=60, seed=3)["variant"].tolist()
    assert sample == one.dataset_rows(DATASET, ["variant"], limit=60, seed=3)["variant"].tolist()
    assert len(sample) == len(set(sample)) == 60 and sample == sorted(sample)
    members = shuffled.loc[shuffled["dataset"] == DATASET, "variant"].tolist()
    assert set(sample) <= set(members)
    assert set(sample) != set(members[:60])  # a sample, not the first rows built
    other_seed = one.dataset_rows(DATASET, ["variant"], limit=60, seed=4)["variant"].tolist()
    assert other_seed != sample


def test_iter_rows_covers_every_row_once(store, table):
    """SYNTHETIC store: chunked scans see each row exactly once, chunks bounded."""
    chunks = list(store.iter_rows(["variant", "gerp_rs"], chunk_rows=37))
    assert max(len(c) for c in chunks) <= 37 and len(chunks) >= 600 // 37
    seen = pd.concat(chunks, ignore_index=True)
    assert seen["variant"].is_unique
    assert sorted(seen["variant"].astype(str)) == sorted(table["variant"].astype(str))
    with pytest.raises(KeyError, match="no column"):
        next(store.iter_rows(["nonsense"]))


def test_info_text_is_render_info_of_the_info_columns(store, table):
    """SYNTHETIC store: the stored INFO text is what rendering the features gives."""
    keys = table["variant"].astype(str).tolist()
    rows = store.lookup(keys, [*store.info_columns, INFO_COLUMN])
    rendered = render_info({c: pa.array(rows[c], pa.float64()) for c in store.info_columns})
    assert rows[INFO_COLUMN].tolist() == rendered.to_pylist()
    assert rows[INFO_COLUMN].str.startswith("VIP_").all()  # every row has a feature count at least


def test_replace_base_keeps_streamed_files(store_copy, table):
    """SYNTHETIC store: a rebuild swaps the build's files and keeps what was streamed in."""
    streamed = table.head(5).assign(
        variant=[f"GRCh37:2:{9_000_000 + i}:A:G" for i in range(5)], dataset="streamed"
    )
    assert append_rows(streamed, store_copy, tag="stream-1") == 5
    assert "build=GRCh37/chrom=2/part-stream-1-0.parquet" in _files(store_copy)
    chr1 = table[table["variant"].str.startswith("GRCh37:1:")].head(100)
    replace_base(chr1, store_copy)
    assert _files(store_copy) == [
        "build=GRCh37/chrom=1/part-base-0.parquet", "build=GRCh37/chrom=2/part-stream-1-0.parquet",
    ]  # fmt: skip
    rebuilt = Store(store_copy)
    assert len(rebuilt) == 105
    assert rebuilt.dataset_rows("streamed", ["variant"])["variant"].tolist() == (
        streamed["variant"].tolist()
    )
    _in_order(rebuilt.dataset_rows(DATASET), chr1)
    assert not list(store_copy.parent.glob(".store.*"))  # no staging folder left behind


def test_write_rows_replaces_everything(store_copy, table):
    """SYNTHETIC store: ``write_rows`` is a whole new store (streamed files go too)."""
    append_rows(table.head(3).assign(variant=["GRCh37:2:9:A:G", "GRCh37:2:8:A:G",
                "GRCh37:2:7:A:G"]), store_copy, tag="stream-1")  # fmt: skip
    write_rows(table.tail(10), store_copy)
    assert len(Store(store_copy)) == 10
    assert all("part-base-" in name for name in _files(store_copy))


@pytest.mark.parametrize("make", [False, True], ids=["missing-dir", "empty-dir"])
def test_a_store_path_without_files_is_a_clear_error(tmp_path: Path, make: bool) -> None:
    root = tmp_path / "store"
    if make:
        (root / "build=GRCh37" / "chrom=1").mkdir(parents=True)
    with pytest.raises(StoreMissingError, match=r"no feature store at .*vipredict features"):
        Store(root)
    assert issubclass(StoreMissingError, FileNotFoundError)


# =========================================================================== e2e: real data


@pytest.fixture(scope="module")
def real_store(trained_home: Settings) -> Store:
    """The store ``vipredict features`` built from the real sources (trained home)."""
    return Store.open(trained_home)


@pytest.fixture(scope="module")
def frequencies() -> Frequencies:
    return load_frequencies()


def test_real_store_lookup_and_stored_refs(real_store):
    """The real GRCh37 chr1:955563 G>C (mixed_records.vcf) and its INFO text."""
    found = real_store.lookup(["GRCh37:1:955563:A:C", "not a key", "GRCh37:1:955563:G:C"])
    assert found["variant"].tolist() == ["GRCh37:1:955563:G:C"]
    match = real_store.match(locus_queries(["GRCh37:1:955563:A:C", "GRCh37:1:1:A:G"]), [])
    assert match.stored_refs() == {0: "G"}
    rows = real_store.lookup(["GRCh37:1:955563:G:C"], [*real_store.info_columns, INFO_COLUMN])
    rendered = render_info({c: pa.array(rows[c], pa.float64()) for c in real_store.info_columns})
    assert rows[INFO_COLUMN].tolist() == rendered.to_pylist()
    assert rendered[0].as_py().startswith("VIP_gerp_rs=-2.29;VIP_phylop100way=-1.405;")
    builds = {f.parent.parent.name for f in real_store.all_files()}
    assert builds == {"build=GRCh37", "build=GRCh38"}


@pytest.mark.e2e
def test_streamed_dbnsfp_equals_the_in_memory_build(tmp_path, frequencies):
    """Small chunks cut the real v2.4 extract in five; the rows must not notice."""
    root = tmp_path / "store"
    report = stream_dbnsfp(
        resolve("dbnsfp_v24_head"),
        root,
        chunk_rows=20,
        source_name="dbnsfp_v24_head",
        frequencies=frequencies,
    )
    annotations = unlabelled(read_dbnsfp_source("dbnsfp_v24_head"), "dbnsfp_v24_head")
    expected, lifts = with_copies(features_of(annotations, frequencies))
    assert lifts.empty  # dbNSFP v2 gives GRCh37 and hg18 only: nothing under GRCh38
    assert report.chunks == 5 and report.written == len(expected) == len(Store(root))
    _assert_same_rows(Store(root).read_all(), expected)
    again = stream_dbnsfp(resolve("dbnsfp_v24_head"), root, chunk_rows=50, frequencies=frequencies)
    assert again.written == 0 and again.already_stored == len(expected)


def test_streaming_into_a_built_store_keeps_the_first_source(
    trained_home, tmp_path, frequencies
):
    root = Path(shutil.copytree(trained_home.store_dir, tmp_path / "store"))
    before = len(Store(root))
    report = stream_dbnsfp(resolve("dbnsfp_v24_chr4"), root, frequencies=frequencies)
    # every chr4 slice variant is already in the store (built from the same extract)
    assert report.rows_read == 232 and report.written == 0 and report.already_stored == 232
    assert len(Store(root)) == before and _files(root) == _files(trained_home.store_dir)


def test_rebuilding_the_store_keeps_streamed_rows(real_store, trained_home, tmp_path, frequencies):
    """``vipredict features`` (and so every ``train``) must not drop what add-dbnsfp streamed."""
    home = replace(trained_home, home=tmp_path / "home")
    table = real_store.read_all().sort_values(ORDER_COLUMN, kind="stable")
    without_chr4 = table[table["dataset"] != "dbnsfp_v24_chr4"]
    write_store(without_chr4, home)
    streamed = stream_dbnsfp(
        resolve("dbnsfp_v24_chr4"), home.store_dir, dataset="streamed", frequencies=frequencies
    )
    assert streamed.written == 232
    write_store(without_chr4, home)  # the rebuild
    rebuilt = Store.open(home)
    assert len(rebuilt) == len(without_chr4) + 232
    assert len(rebuilt.dataset_rows("streamed", ["variant"])) == 232


def test_add_dbnsfp_command_streams_into_a_store(trained_home, tmp_path):
    from typer.testing import CliRunner

    from vipredict.cli import app

    root = tmp_path / "cli-store"
    args = ["add-dbnsfp", str(resolve("dbnsfp_v24_chr4")), "--store", str(root)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "232 rows read, 232 variants added" in result.output
    assert len(Store(root)) == 232
    assert set(Store(root).read_all()["dataset"]) == {"dbNSFP2.4.chr4_55946200_55946300.txt.gz"}
