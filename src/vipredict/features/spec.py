"""What a feature is: its declared spec, and the check that a table holds what it declares.

Every feature family declares its output schema as data (a tuple of
:class:`FeatureSpec`) rather than letting it be inferred from whatever a transform
returns, so that a feature table written today can be validated when it is read
back by a model trained months later, and so that units travel with the numbers.
The specs ride in the metadata of every store file (:func:`schema_metadata`).

This module is light (no scikit-learn): reading the store needs it, building
features does not run there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from vipredict.schema import COMPARATOR_SCORES, KEY, SchemaError

METADATA_KEY = b"vipredict.feature_schema"
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One output column: its name, dtype, unit and where its values come from.

    ``source_columns`` names the annotation (or frequency) columns the value is
    derived from, so provenance of a model feature can be traced back to a reader.
    A per-tool score also says what it is: ``tool`` (with the version the
    training data carried, where known) and ``transcript_rule`` (which
    transcript's value it is), so a reader can map its columns to the same
    quantity and leave a different one missing.
    """

    name: str
    dtype: str
    unit: str
    description: str
    family: str
    source_columns: tuple[str, ...] = ()
    tool: str = ""
    transcript_rule: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (tuples become lists) for parquet metadata."""
        record = asdict(self)
        record["source_columns"] = list(self.source_columns)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, object]) -> FeatureSpec:
        """Inverse of :meth:`to_dict`; tolerant of lists where tuples are expected."""
        sources = record.get("source_columns", ())
        return cls(
            name=str(record["name"]),
            dtype=str(record["dtype"]),
            unit=str(record["unit"]),
            description=str(record["description"]),
            family=str(record["family"]),
            source_columns=tuple(str(s) for s in sources) if isinstance(sources, list) else (),
            tool=str(record.get("tool", "")),
            transcript_rule=str(record.get("transcript_rule", "")),
        )


def spec_names(specs: Iterable[FeatureSpec]) -> list[str]:
    """Column names of ``specs`` in declaration order."""
    return [spec.name for spec in specs]


def check_output(frame: pd.DataFrame, specs: Sequence[FeatureSpec], what: str) -> None:
    """Raise :class:`SchemaError` unless ``frame`` has exactly ``specs``' columns and dtypes.

    Checked on every transform so that a silent change (an int column turning
    into object after a bad merge) fails where it happens, not inside a model.
    """
    expected = spec_names(specs)
    if list(frame.columns) != expected:
        raise SchemaError(f"{what} produced columns {list(frame.columns)}, declared {expected}")
    check_dtypes(frame, specs, what)


def check_dtypes(frame: pd.DataFrame, specs: Iterable[FeatureSpec], what: str) -> None:
    """Raise :class:`SchemaError` naming every column whose dtype differs from its spec."""
    wrong = [
        f"{spec.name} is {frame[spec.name].dtype}, declared {spec.dtype}"
        for spec in specs
        if str(frame[spec.name].dtype) != spec.dtype
    ]
    if wrong:
        raise SchemaError(f"{what}: " + "; ".join(wrong))


def refuse_comparators(columns: list[str], what: str) -> None:
    """Raise :class:`SchemaError` if a comparator score would become a feature."""
    leaked = [c for c in columns if c in COMPARATOR_SCORES]
    if leaked:
        raise SchemaError(f"{what} would expose comparator score(s) {', '.join(leaked)}")


def schema_metadata(specs: tuple[FeatureSpec, ...]) -> bytes:
    payload = {
        "schema_version": SCHEMA_VERSION,
        "key": KEY,
        "features": [spec.to_dict() for spec in specs],
    }
    return json.dumps(payload, sort_keys=True).encode()


def read_feature_schema(path: str | Path) -> tuple[FeatureSpec, ...]:
    """Declared feature specs stored in a feature-table parquet file."""
    metadata = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in metadata:
        raise SchemaError(f"{path} carries no vipredict feature schema metadata")
    payload = json.loads(metadata[METADATA_KEY])
    if payload.get("schema_version") != SCHEMA_VERSION:
        raise SchemaError(f"{path} has feature schema version {payload.get('schema_version')}")
    return tuple(FeatureSpec.from_dict(record) for record in payload["features"])


def validate_feature_table(df: pd.DataFrame, specs: tuple[FeatureSpec, ...], what: str) -> None:
    missing = [name for name in [KEY, *spec_names(specs)] if name not in df.columns]
    if missing:
        raise SchemaError(f"{what} lacks column(s) {', '.join(missing)}")
    check_dtypes(df, specs, what)
    refuse_comparators(list(df.columns), what)
