"""1000 Genomes carriers and super-populations, read from the real genotype files (no home)."""

from __future__ import annotations

import math

import pysam
import pytest

from vipredict.audit.genotypes import GENOTYPE_SOURCES, carriers, read_super_populations
from vipredict.io.readers._common import readable_vcf
from vipredict.io.sources import resolve
from vipredict.variants import make_variant


def test_sample_sheets_give_the_five_super_populations():
    panel = read_super_populations("tgp_phase3_panel")
    igsr = read_super_populations("tgp_igsr_samples")
    assert len(panel) == 2535  # the phase 3 panel also lists related samples
    assert set(panel) == {"AFR", "AMR", "EAS", "EUR", "SAS"}
    assert panel["HG00096"] == igsr["HG00096"] == "EUR"


@pytest.mark.e2e  # reads the real genotype VCF: seconds
def test_carriers_match_the_allele_count_of_the_record():
    source = GENOTYPE_SOURCES[0]
    with readable_vcf(resolve(source.vcf)) as usable, pysam.VariantFile(str(usable)) as vcf:
        records = [r for r in vcf if r.info["AC"][0] >= 3][:5]
    wanted = {make_variant("GRCh37", r.chrom, r.pos, r.ref, r.alts[0]).key: r for r in records}
    samples, carried = carriers(source, set(wanted))
    assert len(samples) == 2504 and set(carried.index) == set(wanted)
    assert set(samples) <= set(read_super_populations(source.samples).index)
    for key, record in wanted.items():
        alleles = record.info["AC"][0]
        assert math.ceil(alleles / 2) <= carried.loc[key].sum() <= alleles
