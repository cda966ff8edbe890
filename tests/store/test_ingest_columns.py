"""A streamed ingest does not read the per-population frequency columns, and the store is the same.

The dbNSFP reader returns 1000 Genomes and ESP per-population frequencies beside
its canonical columns (``tgp1_afr_af``, ``esp_aa_af``, ...), but no feature reads
them and the store keeps none. ``add-dbnsfp`` leaves their columns
(:data:`POPULATION_COLUMNS`) unread. These tests check, on the real dbNSFP
extracts of the manifest, that the rows it stores are the same either way, and
that the reader it streams from skips exactly those columns.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from vipredict.features.table import build_feature_table
from vipredict.io.readers.dbnsfp import (
    DBNSFP_SOURCES,
    EXTRA_COLUMNS,
    POPULATION_COLUMNS,
    USED_COLUMNS,
    dbnsfp_annotations,
)
from vipredict.io.sources import get_source, resolve
from vipredict.store.build import unlabelled
from vipredict.store.ingest import _batches
from vipredict.store.write import store_arrow


def _stored(raw: pd.DataFrame, build: str) -> pa.Table:
    annotations = dbnsfp_annotations(raw, build, "test")
    return store_arrow(build_feature_table(unlabelled(annotations, "d"), None, None))


@pytest.mark.parametrize("name", DBNSFP_SOURCES)
def test_rows_stored_without_the_population_columns_are_the_same(name: str) -> None:
    raw = pd.read_csv(resolve(name), sep="\t", dtype=str, keep_default_na=False)
    population = [c for c in raw.columns if c in POPULATION_COLUMNS]
    assert population, f"{name} has no per-population column to leave out"
    annotations = dbnsfp_annotations(raw, get_source(name).build, "test")
    assert {EXTRA_COLUMNS[c] for c in population} <= set(annotations.columns)
    with_them = _stored(raw, get_source(name).build)
    without = _stored(raw.drop(columns=population), get_source(name).build)
    assert without.equals(with_them, check_metadata=True)


def test_the_stream_reads_every_used_column_but_the_population_ones(tmp_path: Path) -> None:
    header = ["#chr", "pos(1-coor)", *sorted(USED_COLUMNS - {"#chr", "pos(1-coor)"}), "unused"]
    path = tmp_path / "dbNSFP_columns.tsv"
    path.write_text("\t".join(header) + "\n" + "\t".join(["1", "5"] + ["."] * (len(header) - 2)))
    with _batches(path, 0) as (batches, _):
        read = set(next(iter(batches)).column_names)
    assert read == set(USED_COLUMNS) - POPULATION_COLUMNS
    assert POPULATION_COLUMNS <= USED_COLUMNS
