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

Frequencies that come with a user's input (a VEP CSQ's gnomAD fields, a gnomAD
sites VCF: :mod:`vipredict.io.readers.sites`) use the same long table with an
optional ``af`` column, for sources that give a group's AF without its AC/AN.
Such a group gets its AF and no FAF95 (it cannot be computed without counts).
:func:`frequency_summary` reduces the store's wide columns and an input's long
table alike to what BA1/BS1/PM2 need (:data:`SUMMARY_COLUMNS`), naming the
``dataset:group`` behind each value and the datasets used; :func:`with_input_frequencies`
adds that summary to a feature table, and lends the input's gnomAD/ExAC groups to
the priority model's ``gnomad_*``/``exac_*`` columns where the store has none
(labelled in ``frequency_source``: a different release from the one it was trained on).
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
#: Optional column of the long table: a group's AF where the source gives no AC/AN.
AF_COLUMN = "af"
#: Group of a long table's overall (all samples) value; never a feature group.
ALL_GROUP = "all"
DEFAULT_DATASETS = ("gnomad_2017_browser", "exac_browser")
DEFAULT_GROUPS = ("afr", "amr", "asj", "eas", "fin", "nfe", "sas", "oth")
#: Every group a source may report, in a fixed order (ties in a maximum go to the first).
GROUP_ORDER = (*DEFAULT_GROUPS, "ami", "mid", "remaining")
ACCEPTED_GROUPS = frozenset(GROUP_ORDER)
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
    accepted = ACCEPTED_GROUPS | {ALL_GROUP}
    unknown = sorted(set(frequencies["group"].dropna().astype(str)) - accepted)
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


def _group_matrices(
    subset: pd.DataFrame, values: tuple[str, ...], keys: pd.Index, groups: tuple[str, ...]
) -> list[np.ndarray]:
    """``keys`` x ``groups`` float matrices of the count columns ``values`` (NaN where absent).

    What ``subset.pivot(index="variant", columns="group")`` reindexed on ``keys``
    gives, with the keys looked up once for every column: a streamed chunk asks
    this for 10^5 keys a dataset, of which few have frequency rows.
    """
    variants = subset["variant"].astype(object)
    wide = pd.Index(variants.unique())
    row, column = wide.get_indexer(variants), pd.Index(groups).get_indexer(subset["group"])
    at = wide.get_indexer(keys)  # -1 (absent): the last row, all NaN
    out = []
    for value in values:
        small = np.full((len(wide) + 1, len(groups)), np.nan)
        small[row, column] = subset[value].astype("float64").to_numpy(na_value=np.nan)
        out.append(small[at])
    return out


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
        keys = pd.Index(X["variant"].astype("string").astype(object))
        names = [spec.name for spec in self.feature_specs()]
        # One float block, NaN (unknown) but where a dataset says something: a frame of
        # 73 separate arrays cost a streamed chunk more than computing them.
        values = np.full((len(X), len(names)), np.nan, order="F")
        filled: list[str] = []
        for dataset in self.datasets:
            covered = (
                _covered_mask(self.covered_genes, dataset, X)
                if self.frequencies is not None
                else np.zeros(len(X), dtype=bool)
            )
            rows, block = self._dataset_block(dataset, keys, covered)
            for i, column in enumerate(block.values(), start=len(filled)):
                values[rows, i] = column
            filled += block
        af_global = pd.to_numeric(X["af_global"], errors="coerce").astype("float64")
        values[:, len(filled)] = af_global.to_numpy(dtype="float64", na_value=np.nan)
        filled.append("af_global")
        if filled != names:
            raise SchemaError(f"frequency columns {filled} differ from the declared {names}")
        return pd.DataFrame(values, index=X.index, columns=names, copy=False)

    def _dataset_rows(self, dataset: str) -> pd.DataFrame:
        if self.frequencies is None:
            return pd.DataFrame(columns=list(FREQUENCY_COLUMNS))
        frame = self.frequencies
        return frame[frame["dataset"].astype("string") == dataset]

    def _dataset_block(
        self, dataset: str, keys: pd.Index, covered: np.ndarray
    ) -> tuple[np.ndarray | slice, dict[str, Any]]:
        """(rows, their columns of ``dataset``); every other row is NaN in every column.

        A row neither in the export nor in a covered gene is unknown, NaN throughout,
        which is what :meth:`_dataset_values` gives it. Most rows of a genome-wide
        file are such rows, so only the others are computed.
        """
        rows = self._dataset_rows(dataset)
        present = pd.Index(rows["variant"].astype(str).unique()).get_indexer(keys) >= 0
        absent_covered = covered & ~present
        computed = np.flatnonzero(present | covered)
        if len(computed) == len(keys):
            return slice(None), self._dataset_values(dataset, rows, keys, absent_covered)
        subset = keys[computed], absent_covered[computed]
        return computed, self._dataset_values(dataset, rows, *subset)

    def _dataset_values(
        self, dataset: str, rows: pd.DataFrame, keys: pd.Index, absent_covered: np.ndarray
    ) -> dict[str, Any]:
        """The block of ``keys``, of which ``absent_covered`` lie in a covered gene but are
        absent from the dataset's ``rows``."""
        groups = tuple(self.groups)
        in_groups = rows[rows["group"].isin(groups)]
        given = AF_COLUMN in rows.columns  # a group given as an AF only: its AF, no FAF95
        counts = ("ac", "an", AF_COLUMN) if given else ("ac", "an")
        ac, an, *af_given = _group_matrices(in_groups, counts, keys, groups)
        ac[absent_covered] = 0.0
        af, faf = allele_frequency(ac, an), faf95(ac, an)
        if given:
            af = np.where(np.isnan(af), af_given[0], af)
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
        # AF is NaN where AN is 0 and no AF was given; FAF95 where AC/AN are not both known.
        grpmax_af = _nanmax_rows(af[:, eligible])
        grpmax_faf = _nanmax_rows(faf[:, eligible])
        grpmax_af[absent_covered] = grpmax_faf[absent_covered] = 0.0
        known = ~np.isnan(ac) | ~np.isnan(af)
        any_known = known.any(axis=1)
        seen = np.where(np.isnan(ac), np.nan_to_num(af) > 0, np.nan_to_num(ac) > 0)
        n_observed = np.where(any_known, seen.sum(axis=1), np.nan)
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
        versions: list[str] = []
        if "source_version" in frequencies.columns:  # that one column of the dataset's rows
            rows = frequencies["dataset"].astype("string") == dataset
            given = frequencies.loc[rows.to_numpy(dtype=bool, na_value=False), "source_version"]
            versions = sorted(given.dropna().astype(str).unique())
        parts.append(f"{dataset}={'|'.join(versions) or 'unknown'}")
    return ";".join(parts)


# --------------------------------------------------------------------------- BA1/BS1/PM2 summary

#: Per row, what the frequency criteria need, from every source the row has (store and input).
SUMMARY_COLUMNS = (
    "freq_grpmax_faf95",  # largest FAF95 of a non-bottlenecked group with AC and AN
    "freq_grpmax_faf95_group",  # its dataset:group
    "freq_faf95_bound",  # largest FAF95, or AF where only an AF is given: FAF95 cannot exceed it
    "freq_faf95_bound_group",
    "freq_max_af",  # largest AF of any group (bottlenecked ones included)
    "freq_max_af_group",
    "freq_pooled_af",  # overall AF (group "all"), largest over datasets
    "freq_pooled_af_group",
    "freq_groups_observed",  # groups with AC > 0 (or AF > 0 where no AC), comma-joined
    "frequency_source",  # datasets that said anything about the row; input ones marked
)
_SUMMARY_VALUES = (
    ("freq_grpmax_faf95", "faf"),
    ("freq_faf95_bound", "bound"),
    ("freq_max_af", "af"),
    ("freq_pooled_af", "pooled"),
)
#: Marks a dataset that came with the user's input rather than the feature store.
INPUT_MARK = " (input)"
#: Which model columns an input dataset may stand in for, by the start of its name.
PRIORITY_PREFIXES = {"gnomad": "gnomad", "exac": "exac"}
_STATS_COLUMNS = ("row", "label", "source", "group", "af", "faf", "seen")


def _wide_stats(features: pd.DataFrame, datasets: tuple[str, ...]) -> pd.DataFrame:
    """Per (row, dataset group): AF, FAF95 and whether seen, from the store's wide columns."""
    pieces = []
    rows = np.arange(len(features))
    for dataset in datasets:
        prefix = dataset_prefix(dataset)
        for group in GROUP_ORDER:
            af_column, faf_column = f"{prefix}_{group}_af", f"{prefix}_{group}_faf95"
            if af_column not in features.columns and faf_column not in features.columns:
                continue
            af = _float_column(features, af_column)
            faf = _float_column(features, faf_column)
            ac = _float_column(features, f"{prefix}_{group}_ac")
            seen = np.where(np.isnan(ac), np.nan_to_num(af) > 0, np.nan_to_num(ac) > 0)
            piece = pd.DataFrame(
                {"row": rows, "label": f"{prefix}:{group}", "source": dataset, "group": group,
                 "af": af, "faf": faf, "seen": seen}
            )  # fmt: skip
            pieces.append(piece[~(np.isnan(af) & np.isnan(faf))])
    return _stats_frame(pieces)


def _float_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _stats_frame(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    if not pieces:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _STATS_COLUMNS})
    return pd.concat(pieces, ignore_index=True)


def _long_stats(variants: pd.Series, frequencies: pd.DataFrame) -> pd.DataFrame:
    """Per (row, dataset group) of an input's long table: AF (AC/AN, else the given AF), FAF95."""
    validate_frequencies(frequencies)
    rows = pd.DataFrame(
        {"variant": variants.astype(str).to_numpy(), "row": np.arange(len(variants))}
    )
    long = frequencies.assign(variant=frequencies["variant"].astype(str))
    joined = rows.merge(long, on="variant", how="inner")
    ac = pd.to_numeric(joined["ac"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    an = pd.to_numeric(joined["an"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    given = (
        pd.to_numeric(joined[AF_COLUMN], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if AF_COLUMN in joined.columns
        else np.full(len(joined), np.nan)
    )
    counted = allele_frequency(ac, an)
    af = np.where(np.isnan(counted), given, counted)
    faf = faf95(np.where(np.isnan(an), np.nan, ac), an)
    faf = np.where(np.isnan(ac), np.nan, faf)
    seen = np.where(np.isnan(ac), np.nan_to_num(af) > 0, np.nan_to_num(ac) > 0)
    dataset = joined["dataset"].astype(str)
    stats = pd.DataFrame(
        {"row": joined["row"].to_numpy(), "label": dataset + ":" + joined["group"].astype(str),
         "source": dataset + INPUT_MARK, "group": joined["group"].astype(str).to_numpy(),
         "af": af, "faf": faf, "seen": seen}
    )  # fmt: skip
    return stats[~(np.isnan(af) & np.isnan(faf))]


def _largest(stats: pd.DataFrame, value: str, n_rows: int) -> tuple[np.ndarray, list[str | None]]:
    """Per row, the largest ``value`` and the label of its group (None where it is 0)."""
    out = np.full(n_rows, np.nan)
    labels: list[str | None] = [None] * n_rows
    chosen = stats[stats[value].notna()].sort_values(value, ascending=False, kind="stable")
    chosen = chosen.drop_duplicates("row")
    for row, number, label in zip(chosen["row"], chosen[value], chosen["label"], strict=True):
        out[int(row)] = float(number)
        labels[int(row)] = str(label) if number > 0 else None
    return out, labels


def _summarise(stats: pd.DataFrame, n_rows: int) -> pd.DataFrame:
    """:data:`SUMMARY_COLUMNS` of ``n_rows`` rows from their per-group statistics."""
    stats = stats.assign(
        bound=pd.to_numeric(stats["faf"]).fillna(pd.to_numeric(stats["af"])),
        pooled=stats["af"],
    )
    groups = stats["group"].astype(str)
    eligible = ~groups.isin(GRPMAX_EXCLUDED | {ALL_GROUP})
    per_group = stats[groups != ALL_GROUP]
    chosen = {
        "faf": stats[eligible],
        "bound": stats[eligible],
        "af": per_group,
        "pooled": stats[groups == ALL_GROUP],
    }
    out: dict[str, Any] = {}
    for column, value in _SUMMARY_VALUES:
        out[column], out[f"{column}_group"] = _largest(chosen[value], value, n_rows)
    observed = per_group[per_group["seen"].astype(bool)]
    named = observed.groupby("row")["group"].agg(lambda g: ",".join(sorted(set(g))))
    sources = stats.groupby("row")["source"].agg(lambda s: ";".join(sorted(set(s))))
    out["freq_groups_observed"] = named.reindex(range(n_rows)).fillna("").to_numpy(dtype=object)
    out["frequency_source"] = sources.reindex(range(n_rows)).fillna("").to_numpy(dtype=object)
    numbers = {c for c, _ in _SUMMARY_VALUES}
    # Object columns built from object arrays, so a missing label stays None (not NaN).
    return pd.DataFrame(
        {
            c: pd.Series(out[c], dtype="float64")
            if c in numbers
            else pd.Series(np.array(out[c], dtype=object), dtype=object)
            for c in SUMMARY_COLUMNS
        }
    )


def frequency_summary(
    features: pd.DataFrame,
    frequencies: pd.DataFrame | None = None,
    datasets: tuple[str, ...] = DEFAULT_DATASETS,
) -> pd.DataFrame:
    """:data:`SUMMARY_COLUMNS` per row of ``features`` (same positions, fresh index).

    Rows that already carry the summary (a feature table that went through
    :func:`with_input_frequencies`) keep it; otherwise it is computed from the
    wide columns of ``datasets`` and, when given, an input's long ``frequencies``
    (keyed by ``variant``), pooled: a criterion sees every group of every source.
    """
    if frequencies is None and set(SUMMARY_COLUMNS) <= set(features.columns):
        return features[list(SUMMARY_COLUMNS)].reset_index(drop=True)
    pieces = [_wide_stats(features, datasets)]
    if frequencies is not None and len(frequencies) and "variant" in features.columns:
        pieces.append(_long_stats(features["variant"], first_of_each(frequencies)))
    stats = _stats_frame([p for p in pieces if len(p)])
    return _summarise(stats, len(features))


def _priority_blocks(
    features: pd.DataFrame, frequencies: pd.DataFrame, prefix: str
) -> list[tuple[str, pd.DataFrame]]:
    """(dataset, wide columns renamed to ``prefix``) of each input dataset that may fill it.

    Datasets with AC/AN come before AF-only ones, then by name, so the fill is repeatable.
    """
    names = sorted({str(d) for d in frequencies["dataset"].dropna().unique()})
    mine = [d for d in names if d.lower().startswith(prefix)]
    counted = {
        d: int(frequencies.loc[frequencies["dataset"] == d, ["ac", "an"]].notna().all(axis=1).sum())
        for d in mine
    }
    blocks = []
    for dataset in sorted(mine, key=lambda d: (-counted[d], d)):
        rows = frequencies[frequencies["dataset"] == dataset]
        builder = FrequencyFeatures(rows, datasets=(dataset,), groups=DEFAULT_GROUPS)
        base = features[["variant"]].assign(gene=pd.NA, af_global=np.nan).reset_index(drop=True)
        wide = builder.fit(base).transform(base).drop(columns="af_global")
        old = f"{dataset_prefix(dataset)}_"
        renamed = {c: f"{prefix}_{c[len(old) :]}" for c in wide.columns if c.startswith(old)}
        blocks.append((dataset, wide.rename(columns=renamed)))
    return blocks


def lend_input_frequencies(
    features: pd.DataFrame, frequencies: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """Fill the store's empty ``gnomad_*``/``exac_*`` columns from an input's datasets.

    For the priority model only (never evidence). A row whose store columns of a
    prefix are all unknown takes the first input dataset of that family (name
    starting gnomAD / ExAC) that has anything for it. Returns the filled copy and,
    per row, what was lent (``""`` where nothing), for the answer to say so: the
    priority model was trained on the 2017 gnomAD browser and ExAC exports, a
    different release (and group set) from what a user brings.
    """
    out = features.reset_index(drop=True).copy()
    notes: list[list[str]] = [[] for _ in range(len(out))]
    for family, prefix in PRIORITY_PREFIXES.items():
        observed = f"{prefix}_observed"
        if observed not in out.columns:
            continue
        empty = out[[c for c in out.columns if c.startswith(f"{prefix}_")]].isna().all(axis=1)
        for dataset, block in _priority_blocks(out, frequencies, family):
            take = (empty & block[observed].notna()).to_numpy()
            if not take.any():
                continue
            columns = [c for c in block.columns if c in out.columns and c != "variant"]
            out.loc[take, columns] = block.loc[take, columns].to_numpy()
            for row in np.flatnonzero(take):
                notes[row].append(f"{prefix}_* from {dataset}{INPUT_MARK}")
            empty &= ~take
    return out, ["; ".join(n) for n in notes]


def first_of_each(frequencies: pd.DataFrame) -> pd.DataFrame:
    """One row per variant x dataset x group (a file listing a variant twice keeps its first)."""
    return frequencies.drop_duplicates(["variant", "dataset", "group"])


def with_input_frequencies(
    features: pd.DataFrame, frequencies: pd.DataFrame | None
) -> pd.DataFrame:
    """The feature table with :data:`SUMMARY_COLUMNS` from the store and the input together.

    When the input carries frequencies, the priority model's empty ``gnomad_*`` /
    ``exac_*`` columns are filled from them (:func:`lend_input_frequencies`) and
    ``frequency_source`` says so. The summary is computed before that fill, so the
    frequency criteria name the dataset a value really came from.
    """
    frequencies = None if frequencies is None else first_of_each(frequencies)
    summary = frequency_summary(features, frequencies)
    out = features.reset_index(drop=True)
    if frequencies is not None and len(frequencies):
        out, lent = lend_input_frequencies(out, frequencies)
        lent_text = pd.Series(lent, dtype=object)
        source = summary["frequency_source"].astype(str)
        summary["frequency_source"] = np.where(
            lent_text != "",
            np.where(source != "", source + "; priority model: " + lent_text,
                     "priority model: " + lent_text),
            source,
        )  # fmt: skip
    out = out.drop(columns=[c for c in SUMMARY_COLUMNS if c in out.columns])
    return pd.concat([out, summary], axis=1)
