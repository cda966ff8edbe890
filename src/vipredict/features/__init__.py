"""Feature builders: one module per feature family, all with the same contract.

Every family declares its output schema as data (a tuple of :class:`FeatureSpec`)
and a scikit-learn transformer that produces exactly those columns. The schema is
declared up front, rather than inferred from whatever a transform happens to
return, so that a feature table written today can be validated when it is read
back by a model trained months later, and so that units travel with the numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags

from vipredict.schema import KEY, SchemaError, require_columns


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One output column: its name, dtype, unit and where its values come from.

    ``source_columns`` names the annotation (or frequency) columns the value is
    derived from, so provenance of a model feature can be traced back to a reader.
    """

    name: str
    dtype: str
    unit: str
    description: str
    family: str
    source_columns: tuple[str, ...] = ()

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
        )


def spec_names(specs: Iterable[FeatureSpec]) -> list[str]:
    """Column names of ``specs`` in declaration order."""
    return [spec.name for spec in specs]


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


__all__ = [
    "FeatureSpec",
    "SchemaTransformer",
    "check_dtypes",
    "check_output",
    "count_missing",
    "spec_names",
    "variant_keys",
]
