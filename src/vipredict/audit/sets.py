"""The labelled sets the audit reads: every labelled variant set with per-ancestry frequencies.

Each set is a frequency source joined to labels, restricted to variants the
feature store holds (the evidence model can only judge those). Labels come from
the ClinGen sets where a variant is in them (curated, and what training used),
otherwise from the set's own ClinVar file. Every row carries its ``split``:

* ``train_2019``: in the ClinGen 2019 set the model was fitted on (in-sample,
  optimistic: never read its AUROC as performance);
* ``validation_2020``: in the ClinGen 2020 validation set (it has informed design decisions);
* ``other``: in neither.

The frequency columns are made by :class:`~vipredict.features.frequency.FrequencyFeatures`
from the set's long population table, exactly as the feature store makes them,
so a full gnomAD sites VCF in place of the 69-gene exports changes nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vipredict.features.frequency import FrequencyFeatures, dataset_prefix, frequency_specs
from vipredict.io.readers.clinvar import read_clinvar_source
from vipredict.io.readers.popfreq import read_popfreq_source
from vipredict.io.readers.sites import read_sites_vcf
from vipredict.store.partitioned import Store, labelled_rows

SPLITS = {"clingen_2019": "train_2019", "clingen_2020": "validation_2020"}
#: What the audit reads of each scored variant.
SCORE_COLUMNS = ("score", "posterior", "likelihood_ratio", "evidence", "error")
OTHER_SPLIT = "other"
SPLIT_TEXT = {
    "train_2019": "ClinGen 2019 training set (in-sample: the model was fitted on these)",
    "validation_2020": "ClinGen 2020 validation set (has informed design decisions)",
    OTHER_SPLIT: "in neither ClinGen set",
}


@dataclass(frozen=True)
class LabelledSetSpec:
    """One labelled set: where its frequencies and (non-ClinGen) labels come from.

    ``frequency_source`` None means the feature store's own frequency columns of
    ``dataset`` (the ClinGen rows); ``covered_genes`` are genes in which a variant
    absent from the frequency source counts as not observed rather than unknown.
    """

    name: str
    description: str
    dataset: str
    frequency_source: str | None = None
    label_source: str | None = None
    covered_genes: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        return dataset_prefix(self.dataset)


LABELLED_SETS: tuple[LabelledSetSpec, ...] = (
    LabelledSetSpec(
        "clingen_x_gnomad_exports",
        "ClinGen 2019 + 2020 sets joined to the gnomAD (2017) browser exports of the 69 ACMG "
        "secondary-findings genes; outside those genes the ancestry is unknown",
        "gnomad_2017_browser",
    ),
    LabelledSetSpec(
        "clingen_x_exac_exports",
        "ClinGen 2019 + 2020 sets joined to the ExAC browser exports of the same 69 genes",
        "exac_browser",
    ),
    LabelledSetSpec(
        "macarthur_clinvar_x_gnomad_exomes",
        "macarthur-lab's 749 ClinVar alleles (chr1) joined to gnomAD exomes",
        "gnomad_exomes",
        frequency_source="clinvar_750_gnomad_exomes_tsv",
        label_source="clinvar_750_b37_vcf",
    ),
    LabelledSetSpec(
        "brca12_exac",
        "ExAC per-population counts over BRCA1/2 (3,738 alleles); labels from ClinGen, "
        "else ClinVar 2015 BRCA1/2",
        "exac_vcf",
        frequency_source="exac_brca12_vcf",
        label_source="clinvar_2015_brca_vcf",
        covered_genes=("BRCA1", "BRCA2"),
    ),
)


@dataclass
class AuditRows:
    """A loaded set: store rows with label and split, and their frequency columns (aligned)."""

    spec: LabelledSetSpec
    rows: pd.DataFrame
    freq: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def frequency_columns(dataset: str) -> list[str]:
    """The wide frequency columns of one dataset, as declared by the frequency family."""
    return [spec.name for spec in frequency_specs((dataset,)) if spec.name != "af_global"]


def split_of(dataset: pd.Series) -> pd.Series:
    """Which split each store row belongs to, from its ``dataset`` column."""
    return dataset.astype("string").map(SPLITS).fillna(OTHER_SPLIT)


def _with_split(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.reset_index(drop=True).copy()
    out["split"] = split_of(out["dataset"])
    out["label"] = out["label"].astype("int64")
    return out


def _clingen(store: Store) -> pd.DataFrame:
    """Labelled ClinGen 2019 and 2020 rows of the store, with their split."""
    years = [dataset.removeprefix("clingen_") for dataset in SPLITS]
    return _with_split(pd.concat([labelled_rows(store, year) for year in years]))


def _counts(n_set: int, n_features: int, n_labelled: int) -> dict[str, int]:
    return {"in_set": n_set, "with_features": n_features, "labelled": n_labelled}


def clingen_rows(store: Store, spec: LabelledSetSpec) -> AuditRows:
    """ClinGen rows of the store, with the store's own frequency columns of ``spec.dataset``."""
    rows = _clingen(store)
    freq = rows[frequency_columns(spec.dataset)].reset_index(drop=True)
    return AuditRows(spec, rows, freq, _counts(len(rows), len(rows), len(rows)))


def _labels_of(source: str | None) -> pd.Series:
    """variant -> 0/1 from a ClinVar source (first labelled row of each variant)."""
    if source is None:
        return pd.Series(dtype="float64")
    frame = read_clinvar_source(source)
    labelled = frame[frame["label"].notna()].drop_duplicates("variant")
    return labelled.set_index("variant")["label"].astype("float64")


def frequency_frame(
    rows: pd.DataFrame, long: pd.DataFrame, dataset: str, covered_genes: tuple[str, ...]
) -> pd.DataFrame:
    """Wide frequency columns of ``rows`` from a long population table (the store's builder)."""
    covered = {dataset: set(covered_genes)} if covered_genes else None
    builder = FrequencyFeatures(long, datasets=(dataset,), covered_genes=covered)
    wide = builder.fit(rows).transform(rows)
    return wide[frequency_columns(dataset)].reset_index(drop=True)


def rows_from_long(
    store: Store, spec: LabelledSetSpec, long: pd.DataFrame, labels: pd.Series
) -> AuditRows:
    """Variants of a long population table (and of its label file) that the store can judge."""
    keys = list(dict.fromkeys([*long["variant"].astype(str), *labels.index.astype(str)]))
    found = store.lookup(keys).reset_index(drop=True)
    label = found["label"].astype("float64").fillna(found["variant"].map(labels))
    labelled = found.assign(label=label)[label.notna()]
    rows = _with_split(labelled)
    freq = frequency_frame(rows, long, spec.dataset, spec.covered_genes)
    return AuditRows(spec, rows, freq, _counts(len(keys), len(found), len(rows)))


def load_set(store: Store, spec: LabelledSetSpec) -> AuditRows:
    """One declared set, read through the manifest (checksums verified)."""
    if spec.frequency_source is None:
        return clingen_rows(store, spec)
    long = read_popfreq_source(spec.frequency_source)
    return rows_from_long(store, spec, long, _labels_of(spec.label_source))


def clingen_with_frequency_vcf(store: Store, path: Path, build: str) -> AuditRows:
    """The ClinGen rows against a user's gnomAD/ExAC sites VCF (e.g. full gnomAD).

    Read by :func:`vipredict.io.readers.sites.read_sites_vcf` (gnomAD v2/v3/v4 and
    ExAC INFO naming; sites failing the VCF's QC are skipped). Variants absent from
    the VCF are ``unknown``: a subset VCF says nothing about what it does not cover.
    """
    spec = LabelledSetSpec(
        f"clingen_x_{Path(path).name.split('.')[0]}",
        f"ClinGen 2019 + 2020 sets joined to {Path(path).name}",
        "user_vcf",
    )
    rows = _clingen(store)
    long = read_sites_vcf(Path(path), build, spec.dataset, wanted=set(rows["variant"]))
    freq = frequency_frame(rows, long, spec.dataset, ())
    return AuditRows(spec, rows, freq, _counts(len(rows), len(rows), len(rows)))
