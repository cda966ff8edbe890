"""Fixtures of the jobs tests: the SYNTHETIC tiny home's store and scorer, VCFs of its loci."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from vcf_cases import Locus, TinyLoci, TinyVcf, other_base, vcf_line, write_vcf

from vipredict.model.scorer import Scorer
from vipredict.store.partitioned import Store


@pytest.fixture(scope="session")
def tiny_scorer(tiny_scorer: Scorer) -> Scorer:
    """The session's tiny scorer as ``vipredict annotate`` loads it: no priority model.

    (It overrides the suite's ``tiny_scorer`` for these tests and is made from it,
    so the champions are loaded once per session.)
    """
    return replace(tiny_scorer, priority_model=None)


@pytest.fixture(scope="session")
def tiny_store(tiny_scorer: Scorer) -> Store:
    assert tiny_scorer.store is not None
    return tiny_scorer.store


@pytest.fixture(scope="session")
def tiny_loci(tiny_store: Store, tiny_scorer: Scorer) -> TinyLoci:
    rows = tiny_store.read_all().astype({"chrom": str})
    rows = rows.sort_values(["chrom", "pos"], ignore_index=True)
    scored = tiny_scorer.score_features(rows)
    loci = [Locus(*t) for t in rows[["chrom", "pos", "ref", "alt"]].itertuples(index=False)]

    def where(mask: pd.Series) -> list[Locus]:
        return [locus for locus, hit in zip(loci, mask, strict=True) if hit]

    error, evidence = scored["error"], scored["evidence"]
    return TinyLoci(
        rows,
        evidence=where((error == "") & (evidence != "none")),
        thin=where(error == "insufficient_annotation"),
        blank=where(error == "no_features"),
    )


@pytest.fixture(scope="session")
def tiny_vcf(tiny_loci: TinyLoci, tmp_path_factory: pytest.TempPathFactory) -> TinyVcf:
    """Every store locus (its own DP field kept), a wrong-REF copy and an absent neighbour of
    every 50th, in coordinate order."""
    rows = tiny_loci.rows
    thin = {locus.key for locus in tiny_loci.thin}
    blank = {locus.key for locus in tiny_loci.blank}
    lines, errors = [], []
    for i, (chrom, pos, ref, alt) in enumerate(
        rows[["chrom", "pos", "ref", "alt"]].itertuples(index=False)
    ):
        key = Locus(chrom, pos, ref, alt).key
        lines.append(vcf_line(chrom, pos, ref, alt, f"DP={i}"))
        errors.append(
            "no_features" if key in blank else "insufficient_annotation" if key in thin else ""
        )
        if i % 50 == 0:
            lines.append(vcf_line(chrom, pos, other_base(ref, alt), alt))
            errors.append("ref_mismatch")
            lines.append(vcf_line(chrom, pos + 1, "A", "G", "DP=1"))
            errors.append("no_features")
    path = write_vcf(tmp_path_factory.mktemp("tiny-vcf") / "tiny.vcf", lines)
    return TinyVcf(path, errors)
