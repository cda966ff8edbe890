"""VRS identifiers computed offline equal the ones GA4GH tools published.

Every expected identifier below is copied from a public repository's test fixture or
documentation (repository, path and commit named beside it), where it was computed by
vrs-python from the reference sequence. vipredict computes them without the sequence,
from the refget accessions in ``data/refget.toml``; equality checks the accessions,
the coordinates (VCF 1-based position -> interbase ``[pos - 1, pos)``) and the
ga4gh.vrs models together.
"""

from __future__ import annotations

import re

import pytest
from ga4gh.core import ga4gh_identify
from ga4gh.vrs import models

from vipredict import vrs
from vipredict.variants import CANONICAL_CONTIGS, VariantError, parse_variant_key

ANYVAR = "biocommons/anyvar@d0036716e72f61015263b0d91608755afc173e1c"
VRS_PYTHON = "ga4gh/vrs-python@a47b3d92ede02bc4597aba1f48cf5ec810a0bea0"

#: (vipredict key, published VRS 2.0 identifier, where it is published).
PUBLISHED: list[tuple[str, str, str]] = [
    # anyvar's fixture of registered variations; the key is the "definition" it was registered
    # from (HGVS or gnomAD-style), or the HGVS its comment gives.
    (
        "GRCh38:10:87894077:C:T",
        "ga4gh:VA.K7akyz9PHB0wg8wBNVlWAAdvMbJUJJfU",
        f"{ANYVAR} tests/data/variations.json, NC_000010.11:g.87894077C>T "
        "(also docs/source/usage/rest_api.rst)",
    ),
    (
        "GRCh37:10:89653834:C:T",
        "ga4gh:VA.rQBlRht2jfsSp6TpX3xhraxtmgXNKvQf",
        f"{ANYVAR} tests/data/variations.json, NC_000010.10:g.89653834C>T",
    ),
    (
        "GRCh37:1:35227334:G:A",
        "ga4gh:VA.lHm5O2TRaxF1tYvxutOofpC40WTjGHea",
        f"{ANYVAR} tests/data/variations.json, gnomAD 1-35227334-G-A on GRCh37",
    ),
    (
        "GRCh38:1:35227334:G:A",
        "ga4gh:VA.aqLIhSpwt8_SFJ7_9RKK8XVuc-UuzE_h",
        f"{ANYVAR} tests/data/variations.json, gnomAD 1-35227334-G-A on GRCh38",
    ),
    (
        "GRCh38:11:68032291:C:T",
        "ga4gh:VA.EEk-kGY1YF1QgGShZ040hl3V5HWXsL4q",
        f"{ANYVAR} tests/data/variations.json, NC_000011.10:g.68032291C>T (ClinGen CA321211)",
    ),
    (
        "GRCh38:7:140753336:A:T",
        "ga4gh:VA.Otc5ovrw906Ack087o1fhegB4jDRqCAe",
        f"{ANYVAR} tests/data/variations.json, BRAF V600E on GRCh38 "
        "(NC_000007.14:g.140753336A>T in docs/source/usage/python.rst)",
    ),
    (
        "GRCh37:7:140453136:A:T",
        "ga4gh:VA.nmp-bzYpO00NYIqr3CaVF0ZH2ZpSj1ly",
        f"{ANYVAR} tests/data/variations.json, BRAF V600E on GRCh37 (NC_000007.13:g.140453136A>T)",
    ),
    (
        "GRCh38:7:55174015:G:C",
        "ga4gh:VA.jm5N6PIwuQ8H0rBZCqxOVMlZN7lGvCrX",
        f"{ANYVAR} tests/data/variations.json, NM_005228.5(EGFR):c.2156G>C (VCV000045225.8)",
    ),
    # vrs-python's own test of the digest (test_vr asserts ga4gh_identify of this allele);
    # the REF is that of the same allele's HGVS in its cassette
    # tests/extras/cassettes/test_hgvs[NC_000007.14:g.55181320A>T-expected1].yaml.
    (
        "GRCh38:7:55181320:A:T",
        "ga4gh:VA.Hy2XU_-rp4IMh6I_1NXNecBo8Qx8n0oE",
        f"{VRS_PYTHON} tests/test_vrs.py (test_vr)",
    ),
    # vrs-python's VCF annotator expected output (GRCh38, Genome in a Bottle HG001 records):
    # the second VRS_Allele_IDs entry of each record is the ALT allele.
    (
        "GRCh38:19:82664:C:T",
        "ga4gh:VA.b9AIUegs1SOYO7nKY8l01yllkyUns-u4",
        f"{VRS_PYTHON} tests/extras/data/test_vcf_expected_output.vcf, chr19 82664 C>T",
    ),
    (
        "GRCh38:19:28946400:T:C",
        "ga4gh:VA.uV5O4M9zpiwk6sftOd-EDvtw_pkSAvdf",
        f"{VRS_PYTHON} tests/extras/data/test_vcf_expected_output.vcf, chr19 28946400 T>C",
    ),
    (
        "GRCh38:19:54220024:G:A",
        "ga4gh:VA.I7J3i1B36BACEUINcTwEh7uMv3I-PXT1",
        f"{VRS_PYTHON} tests/extras/data/test_vcf_expected_output.vcf, chr19 54220024 G>A",
    ),
    (
        "GRCh38:19:54221654:T:A",
        "ga4gh:VA.Zzlc24htmBV1HZZzWYgPD2_GfMInkrZu",
        f"{VRS_PYTHON} tests/extras/data/test_vcf_expected_output.vcf, chr19 54221654 T>A",
    ),
]


@pytest.mark.parametrize(("key", "published", "source"), PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_identifier_equals_the_published_one(key, published, source):
    assert vrs.vrs_id(key) == published, source


def test_published_examples_span_both_builds():
    """The matches check GRCh37 accessions as well as GRCh38 ones (not one table only)."""
    builds = {parse_variant_key(key).build for key, _, _ in PUBLISHED}
    assert builds == {"GRCh37", "GRCh38"}
    assert len(PUBLISHED) >= 5


# vrs-python's translator output (identify=False) for ClinVar 17848 and for the mitochondrial
# variant ClinVar 693259 ("MT-10083-A-G", NC_012920.1:m.10083A>G):
# ga4gh/vrs-python@a47b3d92 tests/extras/test_allele_translator.py, snv_output and mito_output.
TRANSLATOR_OUTPUTS = [
    (
        "GRCh38:19:44908822:C:T",
        {
            "location": {
                "end": 44908822,
                "start": 44908821,
                "sequenceReference": {
                    "refgetAccession": "SQ.IIB53T8CNeJJdUqzn9V_JnRtQadwWCbl",
                    "type": "SequenceReference",
                },
                "type": "SequenceLocation",
            },
            "state": {"sequence": "T", "type": "LiteralSequenceExpression"},
            "type": "Allele",
        },
    ),
    (
        "GRCh38:MT:10083:A:G",
        {
            "location": {
                "start": 10082,
                "end": 10083,
                "sequenceReference": {
                    "refgetAccession": "SQ.k3grVkjY-hoWcCUojHw6VU6GE3MZ8Sct",
                    "type": "SequenceReference",
                },
                "type": "SequenceLocation",
            },
            "state": {"sequence": "G", "type": "LiteralSequenceExpression"},
            "type": "Allele",
        },
    ),
]


@pytest.mark.parametrize(("key", "published"), TRANSLATOR_OUTPUTS, ids=["snv", "mito"])
def test_allele_equals_the_translator_output(key, published):
    """Same location and state as vrs-python's sequence-backed translator, so the same id."""
    allele = vrs.vrs_allele(key)
    assert allele.id == ga4gh_identify(models.Allele(**published))
    assert (
        allele.location.sequenceReference.refgetAccession
        == (published["location"]["sequenceReference"]["refgetAccession"])
    )
    assert (allele.location.start, allele.location.end) == (
        published["location"]["start"],
        published["location"]["end"],
    )


def test_mitochondrial_alleles_are_the_same_in_both_builds():
    """MT is the rCRS (NC_012920.1) in GRCh37 and GRCh38, so one MT variant has one id."""
    assert vrs.vrs_id("GRCh37:MT:10083:A:G") == vrs.vrs_id("GRCh38:MT:10083:A:G")
    assert vrs.vrs_id("GRCh37:1:35227334:G:A") != vrs.vrs_id("GRCh38:1:35227334:G:A")


def test_allele_carries_refseq_names_that_do_not_change_the_id():
    allele = vrs.vrs_allele("hg19:chr7:140453136:A:T")
    assert allele.location.sequenceReference.id == "refseq:NC_000007.13"
    assert {(e.syntax, e.value) for e in allele.expressions} == {
        ("hgvs.g", "NC_000007.13:g.140453136A>T"),
        ("spdi", "NC_000007.13:140453135:A:T"),
    }
    bare = models.Allele(
        location=models.SequenceLocation(
            sequenceReference=models.SequenceReference(
                refgetAccession=allele.location.sequenceReference.refgetAccession
            ),
            start=allele.location.start,
            end=allele.location.end,
        ),
        state=models.LiteralSequenceExpression(sequence="T"),
    )
    assert ga4gh_identify(bare) == allele.id == "ga4gh:VA.nmp-bzYpO00NYIqr3CaVF0ZH2ZpSj1ly"
    assert allele.digest == allele.id.removeprefix("ga4gh:VA.")
    mito = vrs.vrs_allele("GRCh38:chrM:10083:A:G")
    assert mito.expressions[0].syntax == "hgvs.m"
    assert mito.expressions[0].value == "NC_012920.1:m.10083A>G"


def test_the_ref_base_is_not_part_of_the_identifier():
    """No sequence offline: the id is the ALT at the position, whatever REF the key claims."""
    assert vrs.vrs_id("GRCh38:7:140753336:A:T") == vrs.vrs_id("GRCh38:7:140753336:C:T")


@pytest.mark.parametrize(
    "key",
    ["GRCh38:7:55181320:AT:A", "GRCh38:7:55181320:A:AT", "GRCh38:7:55181320:AC:GT"],
    ids=["deletion", "insertion", "mnv"],
)
def test_non_snv_is_refused_by_name(key):
    with pytest.raises(VariantError) as error:
        vrs.vrs_allele(key)
    assert error.value.reason == "not_snv"


def test_unknown_contig_is_refused_by_name():
    with pytest.raises(VariantError) as error:
        vrs.vrs_id("GRCh38:chrUn_KI270742v1:10:A:T")
    assert error.value.reason == "unknown_contig"


def test_a_chromosome_without_a_published_accession_mints_nothing(monkeypatch):
    """Were an accession missing from the data file, its chromosome is refused, not guessed."""
    table = {build: dict(chroms) for build, chroms in vrs._accession_table().items()}
    del table["GRCh38"]["Y"]
    monkeypatch.setattr(vrs, "_accession_table", lambda: table)
    with pytest.raises(VariantError) as error:
        vrs.vrs_id("GRCh38:Y:2781760:C:T")
    assert error.value.reason == "unknown_contig"
    assert vrs.vrs_id("GRCh38:X:1000000:C:T").startswith("ga4gh:VA.")


@pytest.mark.parametrize("build", ["GRCh37", "GRCh38"])
def test_every_primary_chromosome_has_accessions(build):
    refgets = []
    for chrom in CANONICAL_CONTIGS:
        accessions = vrs.chromosome_accessions(build, chrom)
        assert re.fullmatch(r"SQ\.[0-9A-Za-z_-]{32}", accessions.refget)
        assert re.fullmatch(r"NC_0+\d+\.\d+", accessions.refseq)
        refgets.append(accessions.refget)
    assert len(set(refgets)) == len(CANONICAL_CONTIGS)  # no chromosome copied onto another


def test_accessions_are_the_builds_own():
    """Spot checks against the RefSeq names of the GRC reports (contigs.toml's sources)."""
    assert vrs.chromosome_accessions("GRCh38", "1").refseq == "NC_000001.11"
    assert vrs.chromosome_accessions("GRCh37", "1").refseq == "NC_000001.10"
    assert vrs.chromosome_accessions("GRCh37", "X").refseq == "NC_000023.10"
    assert vrs.chromosome_accessions("GRCh37", "Y").refseq == "NC_000024.9"
    assert vrs.chromosome_accessions("GRCh38", "MT") == vrs.chromosome_accessions("GRCh37", "MT")
    # Ensembl's GRCh37 Y (PAR N-padded) is another sequence; the GRC's NC_000024.9 is meant.
    assert vrs.chromosome_accessions("GRCh37", "Y").refget != "SQ.fbS5kAwZUB5-1xVpa7xZ4s_lyDpLPVUo"
    grch37 = {vrs.chromosome_accessions("GRCh37", c).refget for c in CANONICAL_CONTIGS[:24]}
    grch38 = {vrs.chromosome_accessions("GRCh38", c).refget for c in CANONICAL_CONTIGS[:24]}
    assert not grch37 & grch38
