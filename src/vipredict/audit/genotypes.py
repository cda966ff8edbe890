"""The healthy-individual view: how many PP3 variants would a person from 1000 Genomes get?

1000 Genomes people are not patients, so a PP3 on a variant they carry is, for
most of them, evidence pointing the wrong way; if that count differs by
super-population, PP3 burdens some ancestries more than others. Only variants
the feature store holds can be judged, so the counts are per person over those
variants only (the report says how many), not genome-wide rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pysam

from vipredict.audit.metrics import bootstrap
from vipredict.audit.sets import split_of
from vipredict.io.readers._common import keyed_alleles, readable_vcf
from vipredict.io.sources import get_source, resolve
from vipredict.model.scorer import Scorer

UNLABELLED = "unknown"
#: Sample-sheet column spellings: phase 3 panel, then the IGSR sample table.
_SAMPLE_COLUMNS = ("sample", "Sample name")
_SUPER_COLUMNS = ("super_pop", "Superpopulation code")


@dataclass(frozen=True)
class GenotypeSource:
    """A genotype VCF of the manifest and the sample sheet giving its super-populations."""

    vcf: str
    samples: str
    region: str


GENOTYPE_SOURCES: tuple[GenotypeSource, ...] = (
    GenotypeSource("tgp_brca_vcf", "tgp_phase3_panel", "BRCA1/2, phase 3, GRCh37"),
    GenotypeSource("tgp_chr22_vcf", "tgp_igsr_samples", "chr22:50.0-50.8 Mb, GRCh38"),
)


def read_super_populations(name: str) -> pd.Series:
    """sample -> super-population code (AFR, AMR, EAS, EUR, SAS) from a declared sample sheet."""
    sheet = pd.read_csv(resolve(name), sep="\t", dtype=str, keep_default_na=False)
    sample = next((c for c in _SAMPLE_COLUMNS if c in sheet.columns), None)
    superpop = next((c for c in _SUPER_COLUMNS if c in sheet.columns), None)
    if sample is None or superpop is None:
        raise ValueError(f"{name}: no sample / super-population columns in {list(sheet.columns)}")
    return sheet.drop_duplicates(sample).set_index(sample)[superpop]


def allele_keys(source: GenotypeSource) -> list[str]:
    """Keys of every ALT allele of a genotype VCF (no genotype is parsed)."""
    build = get_source(source.vcf).build
    with readable_vcf(resolve(source.vcf)) as usable, pysam.VariantFile(str(usable)) as vcf:
        vcf.subset_samples([])
        return [key for record in vcf for _, key in keyed_alleles(record, build)]


def carriers(source: GenotypeSource, wanted: set[str]) -> tuple[list[str], pd.DataFrame]:
    """Samples, and a (variant x sample) boolean frame: who carries each wanted ALT allele.

    Genotypes are read only for records holding a wanted variant, so a large VCF
    costs one pass of parsing, not a genotype matrix in memory.
    """
    build = get_source(source.vcf).build
    found: dict[str, np.ndarray] = {}
    with readable_vcf(resolve(source.vcf)) as usable, pysam.VariantFile(str(usable)) as vcf:
        samples = list(vcf.header.samples)
        for record in vcf:
            hits = [(i, key) for i, key in keyed_alleles(record, build) if key in wanted]
            if not hits:
                continue
            calls = [call.allele_indices for call in record.samples.values()]
            for index, key in hits:
                found[key] = np.array([index in call for call in calls], dtype=bool)
    matrix = np.vstack(list(found.values())) if found else np.zeros((0, len(samples)), bool)
    return samples, pd.DataFrame(matrix, index=list(found), columns=samples)


@dataclass
class HealthyView:
    """Per-person counts, the per-super-population summary, and the variants behind them."""

    people: pd.DataFrame
    summary: pd.DataFrame
    variants: pd.DataFrame


def _variant_table(
    scorer: Scorer, source: GenotypeSource, carried: pd.DataFrame, superpop: pd.Series
) -> pd.DataFrame:
    """Evidence of each genotyped variant with features, and its carriers by super-population."""
    assert scorer.store is not None
    rows = scorer.store.lookup(list(carried.index)).reset_index(drop=True)
    scored = scorer.score_features(rows)
    table = pd.DataFrame(
        {
            "region": source.region,
            "variant": rows["variant"].astype(str).to_numpy(),
            "gene": rows["gene"].astype("string").to_numpy(),
            "label": rows["label"].to_numpy(),
            "split": split_of(rows["dataset"]).to_numpy(),
            "score": scored["score"].to_numpy(),
            "evidence": scored["evidence"].to_numpy(),
            "error": scored["error"].to_numpy(),
        }
    )
    groups = superpop.reindex(carried.columns).fillna(UNLABELLED).to_numpy()
    counts = carried.loc[table["variant"]].T.groupby(groups).sum().T
    table["carriers"] = counts.sum(axis=1).to_numpy()
    for group in counts.columns:
        table[f"carriers_{group}"] = counts[group].to_numpy()
    return table


def _people(
    source: GenotypeSource, carried: pd.DataFrame, variants: pd.DataFrame, superpop: pd.Series
) -> pd.DataFrame:
    """Per person: variants with features carried, and how many get PP3 / BP4."""
    evidence = variants.set_index("variant")["evidence"].reindex(carried.index).astype(str)
    pp3 = evidence.str.startswith("PP3").to_numpy()
    bp4 = evidence.str.startswith("BP4").to_numpy()
    matrix = carried.to_numpy()
    return pd.DataFrame(
        {
            "sample": carried.columns,
            "super_pop": superpop.reindex(carried.columns).fillna(UNLABELLED).to_numpy(),
            "region": source.region,
            "n_carried": matrix.sum(axis=0),
            "n_pp3": matrix[pp3].sum(axis=0),
            "n_bp4": matrix[bp4].sum(axis=0),
        }
    )


def summarise(people: pd.DataFrame, n_bootstrap: int, seed: int) -> pd.DataFrame:
    """Per super-population: people, mean PP3 variants per person and share with >= 1 (95% CI)."""
    rows = []
    rng = np.random.default_rng(seed)
    for group, members in people.groupby("super_pop", sort=True):
        values = np.column_stack([members["n_pp3"], members["n_pp3"] > 0]).astype("float64")

        def statistic(weights: np.ndarray, values: np.ndarray = values) -> np.ndarray:
            return (weights @ values) / weights.sum(axis=1, keepdims=True)

        point, bounds = bootstrap(statistic, len(members), n_bootstrap, rng)
        rows.append(
            {
                "super_pop": group,
                "n_people": len(members),
                "mean_carried": float(members["n_carried"].mean()),
                "mean_pp3": point[0],
                "mean_pp3_ci": bounds[0].tolist(),
                "share_with_pp3": point[1],
                "share_with_pp3_ci": bounds[1].tolist(),
                "max_pp3": int(members["n_pp3"].max()),
                "mean_bp4": float(members["n_bp4"].mean()),
            }
        )
    return pd.DataFrame(rows)


def combine_regions(people: pd.DataFrame) -> pd.DataFrame:
    """One row per person genotyped in every region: counts summed over regions."""
    n_regions = people["region"].nunique()
    per_sample = people.groupby("sample").agg(
        super_pop=("super_pop", "first"),
        regions=("region", "nunique"),
        n_carried=("n_carried", "sum"),
        n_pp3=("n_pp3", "sum"),
        n_bp4=("n_bp4", "sum"),
    )
    complete = per_sample[per_sample["regions"] == n_regions].drop(columns="regions")
    return complete.reset_index().assign(region="all regions")


def healthy_view(
    scorer: Scorer,
    n_bootstrap: int,
    seed: int,
    sources: tuple[GenotypeSource, ...] = GENOTYPE_SOURCES,
) -> HealthyView:
    """PP3 per person by super-population over the genotyped variants the store holds."""
    store = scorer.store
    assert store is not None
    people, variants = [], []
    for source in sources:
        superpop = read_super_populations(source.samples)
        wanted = set(store.lookup(allele_keys(source), ["variant"])["variant"].astype(str))
        _, carried = carriers(source, wanted)
        table = _variant_table(scorer, source, carried, superpop)
        variants.append(table)
        people.append(_people(source, carried, table, superpop))
    everyone = pd.concat(people, ignore_index=True)
    combined = combine_regions(everyone)
    summary = summarise(combined, n_bootstrap, seed)
    return HealthyView(
        pd.concat([everyone, combined], ignore_index=True),
        summary,
        pd.concat(variants, ignore_index=True),
    )
