"""GA4GH VRS Alleles and their identifiers for SNVs, computed without a network.

A VRS 2.0 Allele identifier (``ga4gh:VA.<digest>``) is a digest of three things:
where (a ``SequenceLocation``: the refget accession of the chromosome and 0-based
interbase start and end), what (the state, here a ``LiteralSequenceExpression`` of
the ALT base) and the type. For an SNV none of them needs the chromosome's
sequence: the accession is a fixed string per chromosome and build, shipped as
package data (``data/refget.toml``, copied from published sources named there), and
the interval is ``[pos - 1, pos)``. So vipredict can name its variants the way
gnomAD, ClinVar, ClinGen and MaveDB do, offline, with the ``ga4gh.vrs`` models and
``ga4gh.core``'s digest, never an identifier of its own making.

Two things a sequence-backed translator (vrs-python's ``AlleleTranslator``) does are
left out, on purpose:

* **Normalisation.** VRS normalises an allele by trimming the bases REF and ALT share
  and rolling what is left across repeats (fully justified). A one-base substitution
  with REF != ALT shares no base and has no length to roll, so its normal form is
  itself; no sequence is needed to know that. Indels would need the sequence, which
  is why only SNVs are accepted (anything else is refused with ``not_snv``).
* **The REF check.** The REF base is not compared with the reference sequence (there
  is none offline). It does not enter the identifier either: a VRS Allele is "this
  base at this place", so the identifier is that of the ALT at the key's position;
  whether the key's REF is right is the readers' business (``variants.py``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ga4gh.core import ga4gh_identify
from ga4gh.vrs import models

from vipredict.variants import Variant, VariantError, parse_variant_key

#: Package data: per build and chromosome, its RefSeq and refget accessions, with sources.
REFGET_DATA = "data/refget.toml"


@dataclass(frozen=True, slots=True)
class ChromosomeAccessions:
    """How GA4GH (``refget``, ``SQ.…``) and NCBI (``refseq``, ``NC_…``) name one chromosome."""

    refseq: str
    refget: str


@cache
def _accession_table() -> dict[str, dict[str, dict[str, str]]]:
    text = resources.files("vipredict").joinpath(REFGET_DATA).read_text()
    return tomllib.loads(text)


def chromosome_accessions(build: str, chrom: str) -> ChromosomeAccessions:
    """The published accessions of canonical ``chrom`` of canonical ``build``.

    Raises ``VariantError("unknown_contig")`` for a chromosome the data file does not
    hold: an accession is never guessed, so a missing one mints no identifier.
    """
    entry = _accession_table().get(build, {}).get(chrom)
    if entry is None:
        raise VariantError("unknown_contig", f"no published refget accession for {build} {chrom}")
    return ChromosomeAccessions(refseq=entry["refseq"], refget=entry["refget"])


def _snv(key: str | Variant) -> Variant:
    variant = key if isinstance(key, Variant) else parse_variant_key(key)
    if not variant.is_snv:
        raise VariantError(
            "not_snv",
            f"{variant.key}: VRS identifiers are computed offline for SNVs only "
            "(an indel must be normalised against the reference sequence)",
        )
    return variant


def vrs_allele(key: str | Variant) -> models.Allele:
    """The VRS 2.0 Allele of an SNV key (``build:chrom:pos:ref:alt``), its ``id`` computed.

    The location names the chromosome by its refget accession (the digest only reads
    that and the interval); the RefSeq accession is given as the reference's ``id`` and
    in the ``hgvs`` and ``spdi`` expressions, for people and for tools that speak NCBI.
    Neither enters the identifier. Raises :class:`VariantError` (``not_snv``,
    ``unknown_contig``, or whatever the key's parsing refuses).
    """
    variant = _snv(key)
    accessions = chromosome_accessions(variant.build, variant.chrom)
    hgvs_syntax, hgvs_kind = (
        (models.Syntax.HGVS_M, "m") if variant.chrom == "MT" else (models.Syntax.HGVS_G, "g")
    )
    allele = models.Allele(
        location=models.SequenceLocation(
            sequenceReference=models.SequenceReference(
                id=f"refseq:{accessions.refseq}", refgetAccession=accessions.refget
            ),
            start=variant.pos - 1,
            end=variant.pos,
        ),
        state=models.LiteralSequenceExpression(sequence=variant.alt),
        expressions=[
            models.Expression(
                syntax=hgvs_syntax,
                value=f"{accessions.refseq}:{hgvs_kind}.{variant.pos}{variant.ref}>{variant.alt}",
            ),
            models.Expression(
                syntax=models.Syntax.SPDI,
                value=f"{accessions.refseq}:{variant.pos - 1}:{variant.ref}:{variant.alt}",
            ),
        ],
    )
    ga4gh_identify(allele, in_place="always")
    return allele


def vrs_id(key: str | Variant) -> str:
    """``ga4gh:VA.…``: the VRS identifier of an SNV key (see :func:`vrs_allele`)."""
    allele = vrs_allele(key)
    assert allele.id is not None  # ga4gh_identify(in_place="always") sets it
    return allele.id
