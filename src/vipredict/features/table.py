"""The feature table: every family joined on ``variant``, written with its schema.

The table is the hand-off between feature building and modelling, so it carries
its own contract: the declared :class:`~vipredict.features.FeatureSpec` of every
feature (with units) is stored in the parquet key-value metadata, and reading
checks the file against it. A model can then refuse a table built by a
different feature version instead of silently mis-aligning columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vipredict.features import (
    FeatureSpec,
    SchemaTransformer,
    aachange,
    check_dtypes,
    conservation,
    frequency,
    functional,
    spec_names,
)
from vipredict.features.aachange import AminoAcidChangeFeatures
from vipredict.features.conservation import ConservationFeatures
from vipredict.features.frequency import (
    DEFAULT_DATASETS,
    CoveredGenes,
    FrequencyFeatures,
    frequency_source_versions,
)
from vipredict.features.functional import FunctionalFeatures, refuse_comparators
from vipredict.schema import KEY, PROVENANCE_COLUMNS, SchemaError

FEATURE_FAMILIES: dict[str, tuple[FeatureSpec, ...]] = {
    conservation.FAMILY: conservation.FEATURES,
    functional.FAMILY: functional.FEATURES,
    aachange.FAMILY: aachange.FEATURES,
    frequency.FAMILY: frequency.FEATURES,
}
#: Non-feature columns carried through so a row can be labelled, split and traced.
CARRIED_COLUMNS = ("label", "dataset", "gene", *PROVENANCE_COLUMNS)
METADATA_KEY = b"vipredict.feature_schema"
SCHEMA_VERSION = 1


def feature_names(families: Iterable[str] | None = None) -> list[str]:
    """Declared feature names of ``families`` (all, in registry order, by default)."""
    chosen = list(FEATURE_FAMILIES) if families is None else list(families)
    unknown = [f for f in chosen if f not in FEATURE_FAMILIES]
    if unknown:
        raise KeyError(f"unknown feature famil(ies) {unknown}; known: {list(FEATURE_FAMILIES)}")
    return [name for family in chosen for name in spec_names(FEATURE_FAMILIES[family])]


def feature_specs(families: Iterable[str] | None = None) -> tuple[FeatureSpec, ...]:
    """Declared specs of ``families`` (all by default), in registry order."""
    chosen = list(FEATURE_FAMILIES) if families is None else list(families)
    return tuple(spec for family in chosen for spec in FEATURE_FAMILIES[family])


def _keyed(annotations: pd.DataFrame) -> pd.DataFrame:
    """Annotations with ``variant`` as a column and a fresh positional index.

    Keys are not required to be unique: the ClinGen sets list a few variants
    once per transcript (92 variants on 2-3 rows in 2019), and collapsing them
    is a modelling decision, not a feature-building one. Every family is
    computed row-aligned on this frame, so the join is exact even with repeats.
    """
    frame = annotations.reset_index() if KEY not in annotations.columns else annotations
    if KEY not in frame.columns:
        raise SchemaError(f"annotations lack column(s) {KEY}")
    return frame.reset_index(drop=True)


def _transformers(
    frequencies: pd.DataFrame | None, covered_genes: CoveredGenes | None
) -> list[SchemaTransformer]:
    return [
        ConservationFeatures(),
        FunctionalFeatures(),
        AminoAcidChangeFeatures(),
        FrequencyFeatures(frequencies, DEFAULT_DATASETS, covered_genes=covered_genes),
    ]


def build_feature_table(
    annotations: pd.DataFrame,
    frequencies: pd.DataFrame | None,
    covered_genes: CoveredGenes | None,
) -> pd.DataFrame:
    """Join every family's features on ``variant`` with labels and provenance.

    Output columns: ``variant``, the carried columns present in ``annotations``
    (label, dataset, gene, source, source_version), ``frequency_source_versions``,
    then all declared features in :data:`FEATURE_FAMILIES` order.
    """
    frame = _keyed(annotations)
    carried = [KEY, *(c for c in CARRIED_COLUMNS if c in frame.columns)]
    parts = [frame[carried]]
    parts += [t.fit(frame).transform(frame) for t in _transformers(frequencies, covered_genes)]
    table = pd.concat(parts, axis=1)
    versions = frequency_source_versions(frequencies, DEFAULT_DATASETS)
    column = pd.array([versions or None] * len(table), dtype="string")
    table.insert(len(carried), "frequency_source_versions", column)
    refuse_comparators(list(table.columns), "feature table")
    return table


def _schema_metadata(specs: tuple[FeatureSpec, ...]) -> bytes:
    payload = {
        "schema_version": SCHEMA_VERSION,
        "key": KEY,
        "features": [spec.to_dict() for spec in specs],
    }
    return json.dumps(payload, sort_keys=True).encode()


def write_feature_table(
    df: pd.DataFrame, path: str | Path, specs: tuple[FeatureSpec, ...] | None = None
) -> None:
    """Write ``df`` as parquet with the declared schema (and units) in its metadata.

    ``specs`` defaults to every registered family. The frame is validated
    against them first so an invalid table is never written.
    """
    declared = feature_specs() if specs is None else specs
    _validate(df, declared, f"feature table for {path}")
    table = pa.Table.from_pandas(df, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[METADATA_KEY] = _schema_metadata(declared)
    pq.write_table(table.replace_schema_metadata(metadata), path)


def read_feature_schema(path: str | Path) -> tuple[FeatureSpec, ...]:
    """Declared feature specs stored in a feature-table parquet file."""
    metadata = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in metadata:
        raise SchemaError(f"{path} carries no vipredict feature schema metadata")
    payload = json.loads(metadata[METADATA_KEY])
    if payload.get("schema_version") != SCHEMA_VERSION:
        raise SchemaError(f"{path} has feature schema version {payload.get('schema_version')}")
    return tuple(FeatureSpec.from_dict(record) for record in payload["features"])


def read_feature_table(
    path: str | Path, expected: tuple[FeatureSpec, ...] | None = None
) -> pd.DataFrame:
    """Read a feature table, checking it against its stored schema and ``expected``.

    Every feature declared in the file must be present with its dtype; if
    ``expected`` is given (e.g. the specs a model was trained on), each of
    those must also be declared by the file with the same unit.
    """
    stored = read_feature_schema(path)
    if expected is not None:
        _check_expected(stored, expected, str(path))
    df = pd.read_parquet(path)
    _validate(df, stored, f"feature table {path}")
    return df


def _check_expected(
    stored: tuple[FeatureSpec, ...], expected: tuple[FeatureSpec, ...], what: str
) -> None:
    by_name = {spec.name: spec for spec in stored}
    missing = [spec.name for spec in expected if spec.name not in by_name]
    if missing:
        raise SchemaError(f"{what} does not declare column(s) {', '.join(missing)}")
    changed = [s.name for s in expected if by_name[s.name].unit != s.unit]
    if changed:
        raise SchemaError(f"{what} declares other units for {', '.join(changed)}")


def _validate(df: pd.DataFrame, specs: tuple[FeatureSpec, ...], what: str) -> None:
    missing = [name for name in [KEY, *spec_names(specs)] if name not in df.columns]
    if missing:
        raise SchemaError(f"{what} lacks column(s) {', '.join(missing)}")
    check_dtypes(df, specs, what)
    refuse_comparators(list(df.columns), what)
