"""FunctionalFeatures: per-tool scores, directions documented, comparators refused."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from vipredict.features.functional import FEATURES, FunctionalFeatures
from vipredict.features.spec import refuse_comparators, spec_names
from vipredict.schema import COMPARATOR_SCORES, FUNCTIONAL_SCORES, SchemaError


@pytest.fixture
def annotations(make_annotations: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    rows = [
        {"variant": "GRCh37:1:1:A:G", "sift_score": 0.01, "polyphen2_score": 0.99,
         "cadd_phred": 28.0, "revel_score": 0.9, "bayesdel_noaf_score": 0.4},
        {"variant": "GRCh37:1:2:A:G", "fathmm_score": -3.1, "revel_score": 0.1},
    ]  # fmt: skip
    return make_annotations(rows)


def test_output_is_functional_scores_plus_missing_count() -> None:
    assert spec_names(FEATURES) == [*FUNCTIONAL_SCORES, "functional_n_missing"]


@pytest.mark.parametrize("column", COMPARATOR_SCORES)
def test_comparator_never_in_output(annotations: pd.DataFrame, column: str) -> None:
    assert column in annotations.columns
    out = FunctionalFeatures().fit_transform(annotations)
    assert column not in out.columns
    assert column not in FunctionalFeatures().get_feature_names_out()


@pytest.mark.parametrize("column", COMPARATOR_SCORES)
def test_refuse_comparators_raises(column: str) -> None:
    with pytest.raises(SchemaError, match=column):
        refuse_comparators(["sift_score", column], "test")


@pytest.mark.parametrize("column", ["sift_score", "fathmm_score"])
def test_lower_is_damaging_is_documented(column: str) -> None:
    spec = next(s for s in FEATURES if s.name == column)
    assert "LOWER" in spec.description


def test_values_and_missing_count(annotations: pd.DataFrame) -> None:
    out = FunctionalFeatures().fit_transform(annotations)
    assert out.loc[0, "sift_score"] == 0.01
    assert out.loc[1, "fathmm_score"] == -3.1
    assert out["functional_n_missing"].tolist() == [6.0, 8.0]


@pytest.mark.parametrize("column", FUNCTIONAL_SCORES)
def test_missing_input_column_is_named(annotations: pd.DataFrame, column: str) -> None:
    with pytest.raises(SchemaError, match=column):
        FunctionalFeatures().transform(annotations.drop(columns=[column]))


def test_works_inside_pipeline(annotations: pd.DataFrame) -> None:
    pipe = Pipeline([("functional", FunctionalFeatures())]).set_output(transform="pandas")
    assert list(pipe.fit_transform(annotations).columns) == spec_names(FEATURES)


@pytest.mark.e2e  # the real ClinGen 2019 set (seconds to read)
@pytest.mark.parametrize(
    ("column", "low", "high"),
    [("sift_score", 0.19, 0.24), ("polyphen2_score", 0.17, 0.22), ("cadd_phred", 0.0, 0.02)],
)
def test_real_clingen_2019_missing_rates(
    clingen_2019: pd.DataFrame, column: str, low: float, high: float
) -> None:
    out = FunctionalFeatures().fit_transform(clingen_2019)
    assert len(out) == 11_834
    assert low < out[column].isna().mean() < high
