"""The shared contract (features.spec, features.base): FeatureSpec serialisation and checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vipredict.features.base import count_missing, variant_keys
from vipredict.features.spec import FeatureSpec, check_output, refuse_comparators
from vipredict.schema import SchemaError

SPECS = (
    FeatureSpec("a", "float64", "fraction", "first", "test", ("x",)),
    FeatureSpec("b", "float64", "count", "second", "test", ("x", "y")),
)


def test_spec_round_trips_through_dict() -> None:
    for spec in SPECS:
        assert FeatureSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"b": [1.0], "a": [1.0]}), "declared"),
        (pd.DataFrame({"a": [1.0]}), "declared"),
        (pd.DataFrame({"a": [1.0], "b": pd.array([1], dtype="Int64")}), "b is Int64"),
    ],
    ids=["wrong-order", "missing", "wrong-dtype"],
)
def test_check_output_rejects_schema_drift(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        check_output(frame, SPECS, "test")


def test_check_output_accepts_declared_frame() -> None:
    check_output(pd.DataFrame({"a": [0.5], "b": [1.0]}), SPECS, "test")


def test_variant_keys_from_column_or_index() -> None:
    column = pd.DataFrame({"variant": ["k1", "k2"], "x": [1, 2]})
    indexed = column.set_index("variant")
    assert variant_keys(column).tolist() == variant_keys(indexed).tolist() == ["k1", "k2"]
    with pytest.raises(SchemaError, match="variant"):
        variant_keys(indexed.reset_index(drop=True))


def test_count_missing_counts_per_row() -> None:
    frame = pd.DataFrame({"x": [np.nan, 1.0, np.nan], "y": [np.nan, 2.0, 3.0]})
    assert count_missing(frame, ["x", "y"]).tolist() == [2.0, 0.0, 1.0]


def test_refuse_comparators_names_the_leaked_score() -> None:
    refuse_comparators(["gerp_rs", "sift_score"], "test")
    with pytest.raises(SchemaError, match="revel_score"):
        refuse_comparators(["gerp_rs", "revel_score"], "test")
