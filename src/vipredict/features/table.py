"""The feature table: every family joined on ``variant``, one row per annotation row.

The table is the hand-off between feature building and modelling. Its columns
are declared (:data:`FEATURE_FAMILIES`, each a tuple of
:class:`~vipredict.features.spec.FeatureSpec` with units), and the store writes
those declarations into the metadata of every file it stores the table in, so a
model can refuse rows built by a different feature version instead of silently
mis-aligning columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from vipredict.features import aachange, conservation, frequency, functional
from vipredict.features.aachange import AminoAcidChangeFeatures
from vipredict.features.base import SchemaTransformer
from vipredict.features.conservation import ConservationFeatures
from vipredict.features.frequency import (
    DEFAULT_DATASETS,
    CoveredGenes,
    FrequencyFeatures,
    frequency_source_versions,
)
from vipredict.features.functional import FunctionalFeatures
from vipredict.features.spec import FeatureSpec, refuse_comparators, spec_names
from vipredict.schema import KEY, PROVENANCE_COLUMNS, SchemaError

FEATURE_FAMILIES: dict[str, tuple[FeatureSpec, ...]] = {
    conservation.FAMILY: conservation.FEATURES,
    functional.FAMILY: functional.FEATURES,
    aachange.FAMILY: aachange.FEATURES,
    frequency.FAMILY: frequency.FEATURES,
}
#: Non-feature columns carried through so a row can be labelled, split and traced
#: (``annotation_warnings``: what a reader found missing or mismatched, for the answer).
WARNINGS = "annotation_warnings"
CARRIED_COLUMNS = ("label", "dataset", "gene", *PROVENANCE_COLUMNS, WARNINGS)


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
    # Always carried and never NA ("" = no warning), so a store built in one piece or in
    # Dask partitions has one layout and one value for a row without warnings.
    warnings = frame[WARNINGS] if WARNINGS in frame.columns else pd.Series(pd.NA, index=frame.index)
    frame = frame.assign(**{WARNINGS: warnings.astype("string").fillna("")})
    carried = [KEY, *(c for c in CARRIED_COLUMNS if c in frame.columns)]
    parts = [frame[carried]]
    parts += [t.fit(frame).transform(frame) for t in _transformers(frequencies, covered_genes)]
    table = pd.concat(parts, axis=1)
    versions = frequency_source_versions(frequencies, DEFAULT_DATASETS)
    column = pd.array([versions or None] * len(table), dtype="string")
    table.insert(len(carried), "frequency_source_versions", column)
    refuse_comparators(list(table.columns), "feature table")
    return table
