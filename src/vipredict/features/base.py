"""The face every feature family shares: a stateless scikit-learn transformer with a schema."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags

from vipredict.features.spec import FeatureSpec, check_output, spec_names
from vipredict.schema import KEY, SchemaError, require_columns


def variant_keys(frame: pd.DataFrame) -> pd.Series:
    """The ``variant`` key of each row, from the column if present, else from the index.

    Tables arrive both ways (readers emit a column; joined tables are often
    indexed by the key), so families accept either instead of forcing a reset.
    """
    if KEY in frame.columns:
        return frame[KEY].astype("string")
    if frame.index.name == KEY:
        return pd.Series(frame.index, index=frame.index, dtype="string")
    raise SchemaError(f"table lacks column(s) {KEY} (neither a column nor the index name)")


def count_missing(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Number of missing values per row across ``columns``, as float64.

    Missingness itself is informative (tools skip poorly annotated transcripts),
    so each family exposes it as a feature rather than imputing it away.
    """
    return frame[list(columns)].isna().sum(axis=1).astype("float64")


class SchemaTransformer(TransformerMixin, BaseEstimator):
    """Base for the feature families: boundary validation + declared-schema output.

    Subclasses set :meth:`required_columns`, :meth:`feature_specs` and
    :meth:`_compute`. The families are stateless (a published table or a
    pass-through needs nothing learnt from training data), so ``fit`` only
    validates and records the input names, and ``transform`` does not require it.
    """

    def required_columns(self) -> tuple[str, ...]:
        """Input columns the family reads; validated before any computation."""
        raise NotImplementedError

    def feature_specs(self) -> tuple[FeatureSpec, ...]:
        """Declared output schema, in output order."""
        raise NotImplementedError

    def _compute(self, X: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def fit(self, X: pd.DataFrame, y: object = None) -> SchemaTransformer:
        """Validate ``X`` and remember its column names; nothing is learnt."""
        self._validate_input(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Compute the family's features for ``X``; index is preserved for joins."""
        self._validate_input(X)
        out = self._compute(X)
        check_output(out, self.feature_specs(), type(self).__name__)
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Declared output names (input names are irrelevant: outputs are fixed)."""
        return np.asarray(spec_names(self.feature_specs()), dtype=object)

    def _validate_input(self, X: object) -> None:
        if not isinstance(X, pd.DataFrame):
            raise SchemaError(f"{type(self).__name__} needs a pandas DataFrame, got {type(X)}")
        require_columns(X, self.required_columns(), f"{type(self).__name__} input")

    def __sklearn_tags__(self) -> Tags:
        """Declare statelessness and string-bearing input so sklearn does not demand fit."""
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags
