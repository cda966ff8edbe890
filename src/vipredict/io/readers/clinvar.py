"""ClinVar VCFs: clinical significance, review stars and consequence per ALT allele.

Three INFO dialects exist among the declared sources, detected from the header:

* ``standard`` (ClinVar 2017+, e.g. the 2020-08 VusPrize files): ``CLNSIG``,
  ``CLNREVSTAT``, ``GENEINFO``, ``MC`` describe the whole record.
* ``legacy`` (ClinVar/dbSNP 2015, ``clinvar_2015_brca_vcf``): ``CLNALLE`` maps each
  comma-separated ``CLNSIG``/``CLNREVSTAT`` entry to an allele index, significance
  is numeric (``5`` = Pathogenic) and ``|`` separates submissions (RCVs). There is
  no ``MC`` field, so ``molecular_consequence``/``is_missense`` are NA.
* ``macarthur`` (macarthur-lab's flattened ``clinvar_750_b37_vcf``): one allele per
  record, ``SYMBOL``, ``CLINICAL_SIGNIFICANCE``, ``REVIEW_STATUS``,
  ``MOLECULAR_CONSEQUENCE`` (``NM_x:c.1A>G:missense_variant``); ``..`` stands for
  ``, `` because VCF INFO cannot hold commas there.

A VCF without any of these fields (e.g. a user's own calls) reads as ``standard``
with NA annotations, which is what the prediction CLI needs.

Identifiers are kept as given so that a variant can be followed from one build
to the other (:mod:`vipredict.store.liftover`): ``rsid`` from ``RS`` (dbSNP,
``rs`` prefixed, several joined by ``,``) and ``allele_id`` from ``ALLELEID``
(``ALLELE_ID`` in the macarthur files), NA where the file has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pysam

from vipredict.io.readers._common import attach_keys, readable_vcf, with_provenance
from vipredict.io.readers.clingen import label_from_clnsig
from vipredict.io.sources import get_source, resolve

Dialect = Literal["standard", "legacy", "macarthur"]

CLINVAR_COLUMNS = (
    "variant", "build", "chrom", "pos", "ref", "alt", "gene", "clnsig", "clnrevstat",
    "stars", "molecular_consequence", "is_missense", "rsid", "allele_id", "label", "source",
    "source_version",
)

#: Gold stars by review status, normalised text (``_``/``..`` folded, no space after commas).
STARS = {
    "practice guideline": 4,
    "reviewed by expert panel": 3,
    "criteria provided,multiple submitters,no conflicts": 2,
    "criteria provided,single submitter": 1,
    "criteria provided,conflicting interpretations": 1,
}
#: Legacy (2015) review codes; ``prof`` = professional society / practice guideline.
LEGACY_STARS = {"prof": 4, "exp": 3, "mult": 2, "single": 1, "conf": 1, "not": 0}
#: Legacy numeric CLNSIG codes, from the 2015 file's own INFO header.
LEGACY_CLNSIG = {
    "0": "Uncertain_significance", "1": "not_provided", "2": "Benign", "3": "Likely_benign",
    "4": "Likely_pathogenic", "5": "Pathogenic", "6": "drug_response",
    "7": "histocompatibility", "255": "other",
}


def detect_dialect(header: pysam.VariantHeader) -> Dialect:
    """Which ClinVar INFO layout a header declares (see the module docstring)."""
    info = set(header.info.keys())
    if "CLNALLE" in info:
        return "legacy"
    if "CLINICAL_SIGNIFICANCE" in info:
        return "macarthur"
    return "standard"


def stars_from_review(status: str | None) -> int:
    """ClinVar gold stars for one review-status string (0 when unknown or missing)."""
    if not status:
        return 0
    text = status.lower().replace("..", ",").replace("_", " ")
    text = re.sub(r"\s*,\s*", ",", text).strip()
    return STARS.get(text, 0)


def _joined(value: Any, sep: str = ",") -> str | None:
    """INFO values come back as tuples for Number=. fields; join them back as written."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return sep.join(str(v) for v in value if v is not None) or None
    return str(value)


def _first_gene(geneinfo: str | None) -> str | None:
    """``SYMBOL:ID|SYMBOL:ID`` -> first symbol."""
    if not geneinfo:
        return None
    return geneinfo.split("|")[0].split(":")[0] or None


def _consequence_names(mc: str | None, dialect: Dialect) -> str | None:
    """SO names from ``SO:0001583|missense_variant,...`` or macarthur's ``NM:c.:name``."""
    if not mc:
        return None
    if dialect == "macarthur":
        items = re.split(r"[;|,]", mc)
        names = [item.rsplit(":", 1)[-1].strip().replace(" ", "_") for item in items]
    else:
        names = [item.split("|", 1)[-1] for item in mc.split(",")]
    unique = list(dict.fromkeys(name for name in names if name))
    return ",".join(unique) or None


def _info(record: pysam.VariantRecord, field: str) -> Any:
    """INFO value or None; a field absent from the header (user VCFs) is just missing."""
    try:
        return record.info[field]
    except (KeyError, ValueError):
        return None


def _identifiers(record: pysam.VariantRecord, dialect: Dialect) -> dict[str, str | None]:
    """dbSNP ids (``rs``-prefixed) and the ClinVar allele id of a record, as written."""
    rs = _joined(_info(record, "RS"))
    rsid = ",".join(f"rs{item}" for item in rs.split(",") if item) if rs else None
    allele = _info(record, "ALLELE_ID" if dialect == "macarthur" else "ALLELEID")
    return {"rsid": rsid or None, "allele_id": _joined(allele)}


def _standard_rows(record: pysam.VariantRecord, dialect: Dialect) -> Iterator[dict[str, Any]]:
    """One row per ALT; standard/macarthur annotations describe the whole record."""
    if dialect == "macarthur":
        gene = _joined(_info(record, "SYMBOL"))
        clnsig = _joined(_info(record, "CLINICAL_SIGNIFICANCE"))
        revstat = _joined(_info(record, "REVIEW_STATUS"))
        mc = _consequence_names(_joined(_info(record, "MOLECULAR_CONSEQUENCE")), dialect)
        clnsig = clnsig.replace("..", ",") if clnsig else None
        revstat = revstat.replace("..", ",") if revstat else None
    else:
        gene = _first_gene(_joined(_info(record, "GENEINFO")))
        clnsig = _joined(_info(record, "CLNSIG"))
        revstat = _joined(_info(record, "CLNREVSTAT"))
        mc = _consequence_names(_joined(_info(record, "MC")), dialect)
    ids = _identifiers(record, dialect)
    for alt in record.alts or (".",):
        yield {
            "chrom": record.chrom, "pos": record.pos, "ref": record.ref, "alt": alt,
            "gene": gene, "clnsig": clnsig, "clnrevstat": revstat,
            "stars": stars_from_review(revstat), "molecular_consequence": mc, **ids,
        }


def _legacy_rows(record: pysam.VariantRecord) -> Iterator[dict[str, Any]]:
    """One row per ALT, picking the CLNSIG/CLNREVSTAT entries whose CLNALLE is that ALT."""
    alleles = [int(a) for a in (_info(record, "CLNALLE") or ())]
    sigs = list(_info(record, "CLNSIG") or ())
    revs = list(_info(record, "CLNREVSTAT") or ())
    gene = _first_gene(_joined(_info(record, "GENEINFO")))
    ids = _identifiers(record, "legacy")
    for index, alt in enumerate(record.alts or (".",), start=1):
        slots = [i for i, allele in enumerate(alleles) if allele == index]
        codes = [c for i in slots if i < len(sigs) for c in str(sigs[i]).split("|")]
        statuses = [s for i in slots if i < len(revs) for s in str(revs[i]).split("|")]
        yield {
            "chrom": record.chrom, "pos": record.pos, "ref": record.ref, "alt": alt,
            "gene": gene,
            "clnsig": "|".join(LEGACY_CLNSIG.get(c, c) for c in codes) or None,
            "clnrevstat": "|".join(statuses) or None,
            # The allele's best-reviewed submission sets its stars.
            "stars": max((LEGACY_STARS.get(s, 0) for s in statuses), default=0),
            "molecular_consequence": None,
            **ids,
        }


def _legacy_label(clnsig: pd.Series) -> pd.Series:
    """Legacy clnsig lists every submission; a P (or B) call next to a VUS is a conflict."""
    label = label_from_clnsig(clnsig)
    uncertain = clnsig.astype("string").str.contains("Uncertain").fillna(False).astype(bool)
    return label.mask(uncertain)


def _records(path: Path) -> tuple[list[dict[str, Any]], Dialect]:
    with readable_vcf(path) as usable, pysam.VariantFile(str(usable)) as vcf:
        dialect = detect_dialect(vcf.header)
        rows: list[dict[str, Any]] = []
        for record in vcf:
            if dialect == "legacy":
                rows.extend(_legacy_rows(record))
            else:
                rows.extend(_standard_rows(record, dialect))
    return rows, dialect


def read_clinvar_vcf(path: Path, build: str, source_name: str | None = None) -> pd.DataFrame:
    """ClinVar VCF -> one row per (record, ALT) keyed by ``variant``; see ``CLINVAR_COLUMNS``.

    Records whose ALT is missing/symbolic or whose contig is not primary are dropped
    and counted in the log and in ``attrs["dropped"]``; the file never fails on them.
    """
    rows, dialect = _records(Path(path))
    frame = pd.DataFrame(rows, columns=[
        "chrom", "pos", "ref", "alt", "gene", "clnsig", "clnrevstat", "stars",
        "molecular_consequence", "rsid", "allele_id",
    ])
    frame = attach_keys(frame, build, f"ClinVar VCF {Path(path).name}")
    mc = frame["molecular_consequence"].astype("string")
    frame["molecular_consequence"] = mc
    frame["is_missense"] = (
        mc.str.split(",").map(lambda names: "missense_variant" in names, na_action="ignore")
        .astype("boolean")
    )
    for column in ("gene", "clnsig", "clnrevstat", "rsid", "allele_id"):
        frame[column] = frame[column].astype("string")
    frame["stars"] = frame["stars"].astype("Int8")
    label = _legacy_label if dialect == "legacy" else label_from_clnsig
    frame["label"] = label(frame["clnsig"])
    return with_provenance(frame, source_name)[list(CLINVAR_COLUMNS)]


def read_clinvar_source(name: str) -> pd.DataFrame:
    """A declared ClinVar VCF (e.g. ``clinvar_2020_pathogenic_vcf``) with provenance."""
    frame = read_clinvar_vcf(resolve(name), get_source(name).build, source_name=name)
    return frame


#: Columns of :func:`read_allele_table`.
ALLELE_TABLE_COLUMNS = (
    "variant", "build", "chrom", "pos", "ref", "alt", "allele_id", "source", "source_version",
)


def read_allele_table(path: Path, build: str, source_name: str | None = None) -> pd.DataFrame:
    """macarthur-lab's flattened ClinVar allele TSV -> keyed alleles with their ClinVar allele id.

    The same release is published on GRCh37 and GRCh38 (``clinvar_750_b37_tsv``,
    ``clinvar_750_b38_tsv``): an allele id found in both gives one variant's
    position on each build, from ClinVar itself.
    """
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame = raw[["chrom", "pos", "ref", "alt", "allele_id"]].copy()
    frame["allele_id"] = frame["allele_id"].replace("", pd.NA).astype("string")
    frame = attach_keys(frame, build, f"ClinVar allele table {Path(path).name}")
    return with_provenance(frame, source_name)[list(ALLELE_TABLE_COLUMNS)]


def read_allele_table_source(name: str) -> pd.DataFrame:
    """A declared allele table (``clinvar_750_b37_tsv``/``clinvar_750_b38_tsv``)."""
    return read_allele_table(resolve(name), get_source(name).build, source_name=name)
