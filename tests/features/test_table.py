"""The joined feature table, and its declared schema round trip through a store file.

The specs (units, sources) ride in the metadata of every store file
(``schema_metadata``, written by ``vipredict.store.write``); reading them back
(``read_feature_schema``) and checking a frame against them
(``validate_feature_table``) is how rows built by another feature version are refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vipredict.features.spec import (
    METADATA_KEY,
    SCHEMA_VERSION,
    FeatureSpec,
    read_feature_schema,
    schema_metadata,
    spec_names,
    validate_feature_table,
)
from vipredict.features.table import (
    FEATURE_FAMILIES,
    build_feature_table,
    feature_names,
    feature_specs,
)
from vipredict.schema import COMPARATOR_SCORES, SchemaError
from vipredict.store.partitioned import FILES
from vipredict.store.write import write_rows

GNOMAD = "gnomad_2017_browser"
LEADING = ["variant", "label", "dataset", "gene", "source", "source_version",
           "annotation_warnings", "frequency_source_versions"]  # fmt: skip


@pytest.fixture(scope="module")
def annotations(make_annotations: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    base = {"source": "hand", "source_version": "v1", "dataset": "hand_set", "gene": "BRCA2",
            "af_global": 2e-4, "revel_score": 0.7, "bayesdel_noaf_score": 0.2}  # fmt: skip
    rows = [
        base | {"variant": "GRCh37:13:1:A:G", "aa_ref": "R", "aa_alt": "W", "sift_score": 0.0,
                "gerp_rs": 5.0, "label": 1},
        base | {"variant": "GRCh37:13:2:C:T", "aa_ref": "V", "aa_alt": "I", "label": 0},
        base | {"variant": "GRCh37:13:2:C:T", "aa_ref": "V", "aa_alt": "I", "label": 0},
    ]  # fmt: skip
    frame = make_annotations(rows)
    frame["label"] = frame["label"].astype("Int8")
    return frame


@pytest.fixture(scope="module")
def frequencies() -> pd.DataFrame:
    frame = pd.DataFrame({
        "variant": ["GRCh37:13:1:A:G", "GRCh37:13:1:A:G"], "dataset": [GNOMAD, GNOMAD],
        "group": ["nfe", "afr"], "ac": pd.array([3, 0], dtype="Int64"),
        "an": pd.array([60_000, 8_000], dtype="Int64"), "hom": pd.array([0, 0], dtype="Int64"),
        "source_version": ["jamesdiao/clinvaR@e06759c"] * 2,
    })  # fmt: skip
    return frame


@pytest.fixture(scope="module")
def table(annotations: pd.DataFrame, frequencies: pd.DataFrame) -> pd.DataFrame:
    return build_feature_table(annotations, frequencies, {GNOMAD: {"BRCA2"}})


def test_columns_are_carried_then_declared_features(table: pd.DataFrame) -> None:
    assert list(table.columns) == [*LEADING, *feature_names()]
    assert not set(COMPARATOR_SCORES) & set(table.columns)
    assert table["label"].tolist() == [1, 0, 0]
    assert len(table) == 3  # repeated keys (one per transcript) are kept, not collapsed


def test_families_joined_row_aligned(table: pd.DataFrame) -> None:
    first, second = table.iloc[0], table.iloc[1]
    assert first["gerp_rs"] == 5.0 and first["sift_score"] == 0.0
    assert first["grantham"] == 101.0 and second["grantham"] == 29.0
    assert first["gnomad_nfe_af"] == pytest.approx(5e-5) and first["gnomad_observed"] == 1
    assert second["gnomad_observed"] == 0 and pd.isna(second["exac_observed"])
    assert first["frequency_source_versions"] == (
        "gnomad_2017_browser=jamesdiao/clinvaR@e06759c;exac_browser=unknown"
    )


def test_variant_may_be_the_index(annotations: pd.DataFrame, table: pd.DataFrame) -> None:
    indexed = build_feature_table(
        annotations.set_index("variant"), None, None
    )
    assert indexed["variant"].tolist() == table["variant"].tolist()
    assert indexed["frequency_source_versions"].isna().all()


@pytest.mark.parametrize(
    ("families", "count"),
    [(["conservation"], 5), (["functional"], 10), (["aachange"], 11), (["frequency"], 73),
     (None, 99)],
)  # fmt: skip
def test_feature_names_by_family(families: list[str] | None, count: int) -> None:
    assert len(feature_names(families)) == count


def test_unknown_family_is_refused() -> None:
    with pytest.raises(KeyError, match="nonsense"):
        feature_names(["nonsense"])


def test_registry_never_declares_comparators() -> None:
    names = {spec.name for specs in FEATURE_FAMILIES.values() for spec in specs}
    assert not names & set(COMPARATOR_SCORES)


def _written(table: pd.DataFrame, root: Path, specs: tuple[FeatureSpec, ...] | None = None) -> Path:
    """Write ``table`` as a store at ``root``; its one file (all rows share a partition)."""
    write_rows(table, root, specs)
    files = sorted(root.glob(FILES))
    assert len(files) == 1, files
    return files[0]


def test_round_trip_keeps_values_and_metadata(table: pd.DataFrame, tmp_path: Path) -> None:
    path = _written(table, tmp_path / "store")
    back = pq.read_table(path).to_pandas()
    assert read_feature_schema(path) == feature_specs()
    validate_feature_table(back, read_feature_schema(path), "read back")  # dtypes survive
    # the store stores label as float (unlabelled chunks are all-NA); values are kept
    expected = table.assign(label=table["label"].astype("float64"))
    pd.testing.assert_frame_equal(back[list(table.columns)], expected)
    stored = json.loads(pq.read_schema(path).metadata[METADATA_KEY])
    assert stored["schema_version"] == SCHEMA_VERSION and stored["key"] == "variant"
    units = {record["name"]: record["unit"] for record in stored["features"]}
    assert units["gnomad_nfe_af"] == "fraction" and units["volume_delta"] == "Å^3"


def test_schema_metadata_is_what_read_feature_schema_reads(tmp_path: Path) -> None:
    specs = feature_specs(["aachange"])
    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"x": [1]}).replace_schema_metadata(
        {METADATA_KEY: schema_metadata(specs)}
    ), path)  # fmt: skip
    assert read_feature_schema(path) == specs


def test_validate_refuses_missing_declared_column(table: pd.DataFrame, tmp_path: Path) -> None:
    path = _written(table, tmp_path / "store")
    arrow = pq.read_table(path)
    pq.write_table(arrow.drop_columns(["grantham"]), path)  # metadata kept, column gone
    with pytest.raises(SchemaError, match="grantham"):
        validate_feature_table(pq.read_table(path).to_pandas(), read_feature_schema(path), "x")


def test_read_refuses_table_without_metadata(table: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    table.to_parquet(path)
    with pytest.raises(SchemaError, match="metadata"):
        read_feature_schema(path)


def test_read_refuses_another_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "future.parquet"
    payload = json.loads(schema_metadata(feature_specs(["aachange"])))
    payload["schema_version"] = SCHEMA_VERSION + 1
    metadata = {METADATA_KEY: json.dumps(payload).encode()}
    pq.write_table(pa.table({"x": [1]}).replace_schema_metadata(metadata), path)
    with pytest.raises(SchemaError, match="schema version"):
        read_feature_schema(path)


def test_a_file_declares_only_the_specs_it_was_written_with(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    subset = tuple(s for s in feature_specs() if s.family == "aachange")
    path = _written(table, tmp_path / "store", specs=subset)
    declared = read_feature_schema(path)
    assert spec_names(declared) == spec_names(subset)
    assert not set(spec_names(declared)) & {"gerp_rs", *feature_names(["conservation"])}
    frame = pq.read_table(path).to_pandas().drop(columns=["gerp_rs"])
    validate_feature_table(frame, declared, "subset")  # gerp_rs was not declared: not needed
    with pytest.raises(SchemaError, match="gerp_rs"):
        validate_feature_table(frame, feature_specs(["conservation"]), "conservation")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.drop(columns=["blosum62"]), "blosum62"),
        (lambda t: t.assign(grantham=t["grantham"].astype("float32")), "grantham is float32"),
        (lambda t: t.assign(revel_score=0.5), "revel_score"),
        (lambda t: t.drop(columns=["variant"]), "variant"),
    ],
    ids=["missing", "dtype", "comparator", "no-key"],
)
def test_write_refuses_invalid_table(
    table: pd.DataFrame, tmp_path: Path, mutate: Callable[[pd.DataFrame], pd.DataFrame],
    message: str,
) -> None:
    with pytest.raises(SchemaError, match=message):
        validate_feature_table(mutate(table), feature_specs(), "table")
    root = tmp_path / "bad"
    with pytest.raises(SchemaError, match=message):
        write_rows(mutate(table), root)
    assert list(tmp_path.iterdir()) == []  # nothing written, no staging folder left


@pytest.mark.e2e
def test_real_clingen_2019_table(clingen_2019: pd.DataFrame, tmp_path: Path) -> None:
    table = build_feature_table(clingen_2019, None, None)
    assert len(table) == 11_834
    write_rows(table, tmp_path / "store")
    files = sorted((tmp_path / "store").glob(FILES))
    back = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    assert len(back) == len(table)
    assert set(table.columns) <= set(back.columns)
    for path in files:
        validate_feature_table(pq.read_table(path).to_pandas(), read_feature_schema(path), "real")
    assert back["source_version"].iloc[0] == clingen_2019["source_version"].iloc[0]
