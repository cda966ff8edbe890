"""ConservationFeatures: pass-through with NaN kept, missing count, schema at the boundary."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline, make_union

from vipredict.features.conservation import FEATURES, ConservationFeatures
from vipredict.features.spec import spec_names
from vipredict.schema import CONSERVATION_SCORES, SchemaError

ROWS = [
    {"variant": "GRCh37:1:1:A:G", "gerp_rs": 5.1, "phylop100way": 7.2, "phastcons100way": 1.0,
     "siphy_29way": 15.3},
    {"variant": "GRCh37:1:2:A:G", "gerp_rs": -2.3, "phylop100way": None, "phastcons100way": None,
     "siphy_29way": 3.0},
    {"variant": "GRCh37:1:3:A:G"},
]  # fmt: skip
EXPECTED_MISSING = [0.0, 2.0, 4.0]


@pytest.fixture
def annotations(make_annotations: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    return make_annotations(ROWS)


def test_output_columns_are_declared() -> None:
    names = ConservationFeatures().get_feature_names_out().tolist()
    assert names == spec_names(FEATURES) == [*CONSERVATION_SCORES, "conservation_n_missing"]


@pytest.mark.parametrize("row", range(len(ROWS)))
def test_values_pass_through_and_missing_is_counted(annotations: pd.DataFrame, row: int) -> None:
    out = ConservationFeatures().fit(annotations).transform(annotations)
    for column in CONSERVATION_SCORES:
        given = ROWS[row].get(column)
        value = out.loc[row, column]
        assert math.isnan(value) if given is None else value == given
    assert out.loc[row, "conservation_n_missing"] == EXPECTED_MISSING[row]


@pytest.mark.parametrize("column", CONSERVATION_SCORES)
def test_missing_input_column_is_named(annotations: pd.DataFrame, column: str) -> None:
    with pytest.raises(SchemaError, match=column):
        ConservationFeatures().fit(annotations.drop(columns=[column]))


def test_works_inside_pipeline_with_pandas_output(annotations: pd.DataFrame) -> None:
    pipe = Pipeline([("conservation", ConservationFeatures())]).set_output(transform="pandas")
    out = pipe.fit_transform(annotations)
    assert list(out.columns) == spec_names(FEATURES)
    union = make_union(ConservationFeatures()).set_output(transform="pandas")
    assert union.fit_transform(annotations).shape == (len(ROWS), len(FEATURES))


@pytest.mark.e2e  # the real ClinGen 2019 set (seconds to read)
def test_real_clingen_2019(clingen_2019: pd.DataFrame) -> None:
    out = ConservationFeatures().fit_transform(clingen_2019)
    assert len(out) == 11_834
    assert 0.01 < out["gerp_rs"].isna().mean() < 0.05
    assert out["gerp_rs"].max() <= 6.2
    pd.testing.assert_index_equal(out.index, clingen_2019.index)
