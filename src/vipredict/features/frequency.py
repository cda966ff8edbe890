"""Population-frequency family: allele frequency by genetic-ancestry group.

Input is the LONG table written by :mod:`vipredict.io.readers.popfreq` (one row per
variant x dataset x group; columns ``variant, dataset, group, ac, an, hom``)
plus the annotation table (``variant, gene, af_global``). Output is one wide row
per annotation row.

Three states are kept apart, because they mean different things to a
classifier and to ACMG BA1/BS1:

* observed — the variant is in the export: counts as given (``observed`` = 1,
  or 0 if every group has AC 0);
* not observed — the variant's gene is covered by the export but the variant is
  absent: AC 0, AF 0, FAF 0, AN unknown (NaN), ``observed`` = 0;
* unknown — the gene is not covered: every value NaN.

The filtering allele frequency (FAF95) follows gnomAD: the lower one-sided 95%
Poisson bound on AF, ``chi2.ppf(0.05, 2 AC) / (2 AN)`` (0 when AC = 0). Group-max
AF/FAF skip the bottlenecked or catch-all groups (asj, fin, oth/remaining, ami,
mid) as gnomAD does, because founder effects there inflate AF of variants that
are rare in every outbred population. All AFs are fractions, not percentages.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from vipredict.features.base import SchemaTransformer
from vipredict.features.spec import FeatureSpec
from vipredict.schema import SchemaError, require_columns

FAMILY = "frequency"
FREQUENCY_COLUMNS = ("variant", "dataset", "group", "ac", "an")
DEFAULT_DATASETS = ("gnomad_2017_browser", "exac_browser")
DEFAULT_GROUPS = ("afr", "amr", "asj", "eas", "fin", "nfe", "sas", "oth")
ACCEPTED_GROUPS = frozenset((*DEFAULT_GROUPS, "ami", "mid", "remaining"))
#: Excluded from group-max (gnomAD: bottlenecked or heterogeneous catch-all groups).
GRPMAX_EXCLUDED = frozenset(("asj", "fin", "oth", "ami", "mid", "remaining"))
FAF_CONFIDENCE = 0.95

CoveredGenes = Mapping[str, Collection[str]] | Callable[[str, pd.DataFrame], pd.Series]

_GROUP_NAMES = {
    "afr": "African/African American",
    "amr": "Latino/Admixed American",
    "asj": "Ashkenazi Jewish",
    "eas": "East Asian",
    "fin": "Finnish",
    "nfe": "non-Finnish European",
    "sas": "South Asian",
    "oth": "Other",
    "ami": "Amish",
    "mid": "Middle Eastern",
    "remaining": "Remaining",
}


def faf95(ac: np.ndarray, an: np.ndarray) -> np.ndarray:
    """gnomAD filtering AF: lower one-sided 95% Poisson bound of AC / AN, as a fraction.

    The largest AF at which observing >= AC alleles among AN has probability
    <= 5% equals ``chi2.ppf(0.05, 2 AC) / (2 AN)``. AC = 0 gives 0; AN <= 0 or
    missing gives NaN.
    """
    ac = np.asarray(ac, dtype="float64")
    an = np.asarray(an, dtype="float64")
    out = np.full(np.broadcast(ac, an).shape, np.nan)
    valid = (an > 0) & (ac >= 0)
    positive = valid & (ac > 0)
    out[valid & (ac == 0)] = 0.0
    bound = chi2.ppf(1.0 - FAF_CONFIDENCE, 2.0 * ac[positive]) / (2.0 * an[positive])
    out[positive] = bound
    return out


def allele_frequency(ac: np.ndarray, an: np.ndarray) -> np.ndarray:
    """AC / AN where AN > 0, else NaN (no called alleles means no estimate)."""
    ac = np.asarray(ac, dtype="float64")
    an = np.asarray(an, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(an > 0, ac / an, np.nan)


def dataset_prefix(dataset: str) -> str:
    """Short column prefix: ``gnomad_2017_browser`` -> ``gnomad``, ``exac_browser`` -> ``exac``."""
    return dataset.split("_", 1)[0]


def frequency_specs(
    datasets: tuple[str, ...] = DEFAULT_DATASETS, groups: tuple[str, ...] = DEFAULT_GROUPS
) -> tuple[FeatureSpec, ...]:
    """Declared output schema for the given datasets and groups (plus ``af_global``)."""
    specs: list[FeatureSpec] = []
    for dataset in datasets:
        specs.extend(_dataset_specs(dataset, groups))
    specs.append(
        FeatureSpec(
            "af_global", "float64", "fraction", "Global AF carried by the annotation source.",
            FAMILY, ("af_global",),
        )
    )
    return tuple(specs)


def _dataset_specs(dataset: str, groups: tuple[str, ...]) -> list[FeatureSpec]:
    d = dataset_prefix(dataset)
    sources = ("ac", "an")
    specs: list[FeatureSpec] = []
    for g in groups:
        who = f"{_GROUP_NAMES[g]} ({dataset})"
        specs += [
            FeatureSpec(f"{d}_{g}_ac", "float64", "alleles", f"Allele count, {who}.", FAMILY,
                        ("ac",)),
            FeatureSpec(f"{d}_{g}_an", "float64", "alleles", f"Allele number, {who}.", FAMILY,
                        ("an",)),
            FeatureSpec(f"{d}_{g}_af", "float64", "fraction", f"AC/AN, {who}.", FAMILY, sources),
            FeatureSpec(f"{d}_{g}_faf95", "float64", "fraction",
                        f"Filtering AF (lower 95% Poisson bound), {who}.", FAMILY, sources),
        ]
    excluded = "excluding asj/fin/oth/ami/mid/remaining"
    specs += [
        FeatureSpec(f"{d}_grpmax_af", "float64", "fraction",
                    f"Max group AF with AN > 0, {excluded} ({dataset}).", FAMILY, sources),
        FeatureSpec(f"{d}_grpmax_faf95", "float64", "fraction",
                    f"Max group FAF95 with AN > 0, {excluded} ({dataset}).", FAMILY, sources),
        FeatureSpec(f"{d}_n_groups_observed", "float64", "count",
                    f"Groups with AC > 0 ({dataset}); NaN if unknown.", FAMILY, ("ac",)),
        FeatureSpec(f"{d}_observed", "float64", "flag (0/1)",
                    f"1 observed, 0 not observed in a covered gene, NaN unknown ({dataset}).",
                    FAMILY, ("ac",)),
    ]
    return specs


FEATURES: tuple[FeatureSpec, ...] = frequency_specs()


def validate_frequencies(frequencies: pd.DataFrame) -> None:
    """Boundary check of the long table: columns, group vocabulary, one row per key."""
    require_columns(frequencies, FREQUENCY_COLUMNS, "frequency table")
    unknown = sorted(set(frequencies["group"].dropna().astype(str)) - ACCEPTED_GROUPS)
    if unknown:
        raise SchemaError(f"frequency table has unknown group(s) {', '.join(unknown)}")
    duplicated = frequencies.duplicated(["variant", "dataset", "group"])
    if duplicated.any():
        first = frequencies.loc[duplicated, ["variant", "dataset", "group"]].iloc[0].tolist()
        raise SchemaError(f"frequency table repeats variant/dataset/group {first}")


def _covered_mask(
    covered: CoveredGenes | None, dataset: str, annotations: pd.DataFrame
) -> np.ndarray:
    """Whether each annotation row lies where ``dataset`` would have reported the variant."""
    if covered is None:
        return np.zeros(len(annotations), dtype=bool)
    if callable(covered):
        mask = pd.Series(covered(dataset, annotations))
        return mask.fillna(False).astype(bool).to_numpy()
    genes = set(covered.get(dataset, ()))
    return annotations["gene"].astype("string").isin(genes).fillna(False).to_numpy(dtype=bool)


def _group_matrix(
    subset: pd.DataFrame, value: str, keys: pd.Series, groups: tuple[str, ...]
) -> np.ndarray:
    """``keys`` x ``groups`` float matrix of one count column (NaN where absent)."""
    wide = subset.pivot(index="variant", columns="group", values=value)
    wide = wide.reindex(index=pd.Index(keys.astype(object)), columns=list(groups))
    return np.array(wide.astype("float64").to_numpy(na_value=np.nan), dtype="float64", copy=True)


def _nanmax_rows(values: np.ndarray) -> np.ndarray:
    """Row-wise max ignoring NaN; NaN where a row has no value (no warnings)."""
    has_any = ~np.isnan(values).all(axis=1)
    out = np.full(values.shape[0], np.nan)
    out[has_any] = np.nanmax(values[has_any], axis=1)
    return out


class FrequencyFeatures(SchemaTransformer):
    """Wide per-group AC/AN/AF/FAF95 and group-max summaries from the long frequency table.

    ``frequencies`` is the long table (``None`` means no export was supplied, so
    every value is unknown); ``covered_genes`` maps a dataset to the genes its
    export covers, or is a callable ``(dataset, annotations) -> bool Series``.
    """

    def __init__(
        self,
        frequencies: pd.DataFrame | None = None,
        datasets: tuple[str, ...] = DEFAULT_DATASETS,
        groups: tuple[str, ...] = DEFAULT_GROUPS,
        covered_genes: CoveredGenes | None = None,
    ) -> None:
        self.frequencies = frequencies
        self.datasets = datasets
        self.groups = groups
        self.covered_genes = covered_genes

    def required_columns(self) -> tuple[str, ...]:
        """The key, the gene (for coverage) and the source's global AF."""
        return ("variant", "gene", "af_global")

    def feature_specs(self) -> tuple[FeatureSpec, ...]:
        """Schema for this instance's datasets and groups."""
        return frequency_specs(tuple(self.datasets), tuple(self.groups))

    def _validate_input(self, X: object) -> None:
        super()._validate_input(X)
        prefixes = [dataset_prefix(d) for d in self.datasets]
        if len(set(prefixes)) != len(prefixes):
            raise SchemaError(f"datasets {self.datasets} share a column prefix")
        bad = sorted(set(self.groups) - ACCEPTED_GROUPS)
        if bad:
            raise SchemaError(f"unknown group(s) {', '.join(bad)}")
        if self.frequencies is not None:
            validate_frequencies(self.frequencies)

    def _compute(self, X: pd.DataFrame) -> pd.DataFrame:
        keys = X["variant"].astype("string")
        blocks: list[dict[str, Any]] = []
        for dataset in self.datasets:
            covered = (
                _covered_mask(self.covered_genes, dataset, X)
                if self.frequencies is not None
                else np.zeros(len(X), dtype=bool)
            )
            blocks.append(self._dataset_block(dataset, keys, covered))
        columns: dict[str, Any] = {k: v for block in blocks for k, v in block.items()}
        columns["af_global"] = pd.to_numeric(X["af_global"], errors="coerce").astype("float64")
        out = pd.DataFrame(columns, index=X.index)
        return out.astype("float64")

    def _dataset_rows(self, dataset: str) -> pd.DataFrame:
        if self.frequencies is None:
            return pd.DataFrame(columns=list(FREQUENCY_COLUMNS))
        frame = self.frequencies
        return frame[frame["dataset"].astype("string") == dataset]

    def _dataset_block(self, dataset: str, keys: pd.Series, covered: np.ndarray) -> dict[str, Any]:
        rows = self._dataset_rows(dataset)
        groups = tuple(self.groups)
        in_groups = rows[rows["group"].isin(groups)]
        present = keys.isin(set(rows["variant"].astype(str))).fillna(False).to_numpy(dtype=bool)
        absent_covered = covered & ~present
        ac = _group_matrix(in_groups, "ac", keys, groups)
        an = _group_matrix(in_groups, "an", keys, groups)
        ac[absent_covered] = 0.0
        af, faf = allele_frequency(ac, an), faf95(ac, an)
        af[absent_covered], faf[absent_covered] = 0.0, 0.0
        return self._assemble(dataset_prefix(dataset), groups, ac, an, af, faf, absent_covered)

    @staticmethod
    def _assemble(
        d: str,
        groups: tuple[str, ...],
        ac: np.ndarray,
        an: np.ndarray,
        af: np.ndarray,
        faf: np.ndarray,
        absent_covered: np.ndarray,
    ) -> dict[str, Any]:
        """Lay out per-group columns then the dataset-level summaries."""
        columns: dict[str, Any] = {}
        for j, g in enumerate(groups):
            for stat, matrix in (("ac", ac), ("an", an), ("af", af), ("faf95", faf)):
                columns[f"{d}_{g}_{stat}"] = matrix[:, j]
        eligible = np.array([g not in GRPMAX_EXCLUDED for g in groups], dtype=bool)
        called = an[:, eligible] > 0
        grpmax_af = _nanmax_rows(np.where(called, af[:, eligible], np.nan))
        grpmax_faf = _nanmax_rows(np.where(called, faf[:, eligible], np.nan))
        grpmax_af[absent_covered] = grpmax_faf[absent_covered] = 0.0
        known = ~np.isnan(ac)
        any_known = known.any(axis=1)
        n_observed = np.where(any_known, (np.nan_to_num(ac) > 0).sum(axis=1), np.nan)
        columns[f"{d}_grpmax_af"] = grpmax_af
        columns[f"{d}_grpmax_faf95"] = grpmax_faf
        columns[f"{d}_n_groups_observed"] = n_observed
        columns[f"{d}_observed"] = np.where(any_known, (n_observed > 0).astype(float), np.nan)
        return columns


def frequency_source_versions(frequencies: pd.DataFrame | None, datasets: tuple[str, ...]) -> str:
    """``dataset=version;...`` for the datasets used, for the feature table's provenance.

    Uses the long table's ``source_version`` column when the reader supplied one;
    a dataset without versions is listed as ``dataset=unknown`` so its use is
    still recorded.
    """
    if frequencies is None:
        return ""
    parts = []
    for dataset in datasets:
        rows = frequencies[frequencies["dataset"].astype("string") == dataset]
        versions: list[str] = []
        if "source_version" in rows.columns:
            versions = sorted(rows["source_version"].dropna().astype(str).unique())
        parts.append(f"{dataset}={'|'.join(versions) or 'unknown'}")
    return ";".join(parts)


def _labelled_max(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, list[str | None]]:
    """Row-wise max over ``columns`` (NaN when all missing) and its ``dataset:group`` label.

    The label is None where the max is 0 (not observed anywhere): no group decided.
    """
    if not columns:
        return np.full(len(frame), np.nan), [None] * len(frame)
    values = frame[columns].to_numpy(dtype=float)
    known = ~np.isnan(values).all(axis=1)
    filled = np.where(np.isnan(values), -np.inf, values)
    best = filled.argmax(axis=1)
    top = np.where(known, filled[np.arange(len(frame)), best], np.nan)
    labels = [c.rsplit("_", 1)[0].replace("_", ":", 1) for c in columns]
    groups = [
        labels[b] if ok and top[i] > 0 else None
        for i, (b, ok) in enumerate(zip(best, known, strict=True))
    ]
    return top, groups


def group_maxima(
    features: pd.DataFrame, datasets: tuple[str, ...] = DEFAULT_DATASETS
) -> tuple[np.ndarray, list[str | None], np.ndarray, list[str | None]]:
    """Per row: group-max FAF95 and its group, and the largest group AF and its group.

    The FAF95 maximum skips the bottlenecked groups (:data:`GRPMAX_EXCLUDED`), as
    gnomAD's group-max does; the AF maximum takes every group, bottlenecked ones
    included. Both span all ``datasets``. What BA1/BS1/PM2 make of them is
    :func:`vipredict.acmg.frequency_criteria`'s.
    """
    prefixes = [dataset_prefix(d) for d in datasets]
    eligible = [g for g in DEFAULT_GROUPS if g not in GRPMAX_EXCLUDED]
    faf_cols = [c for p in prefixes for g in eligible if (c := f"{p}_{g}_faf95") in features]
    af_cols = [c for p in prefixes for g in DEFAULT_GROUPS if (c := f"{p}_{g}_af") in features]
    faf, faf_group = _labelled_max(features, faf_cols)
    af, af_group = _labelled_max(features, af_cols)
    return faf, faf_group, af, af_group
