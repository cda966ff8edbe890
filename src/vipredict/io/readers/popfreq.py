"""Population allele counts by ancestry, as one LONG table across datasets.

Columns: ``variant, dataset, group, ac, an, hom, source, source_version`` with
``group`` in gnomAD's codes (afr, amr, asj, eas, fin, nfe, sas, oth). Long,
because datasets cover different groups (ExAC has no asj; the gnomAD NF2
export has no sas): a group a file does not report has NO row rather than an
invented zero, so "not measured" never reads as "not observed".

Browser exports list only observed variants. :func:`read_all_browser_exports`
therefore also returns the genes the exports cover: a variant in a covered gene
but absent from the table was not observed (AC 0, AN unknown); one outside
them is simply unknown.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pysam

from vipredict.io.readers._common import attach_keys, keyed_alleles, readable_vcf, with_provenance
from vipredict.io.sources import get_source, resolve, sources_matching

GROUPS = ("afr", "amr", "asj", "eas", "fin", "nfe", "sas", "oth")
POPFREQ_COLUMNS = ("variant", "dataset", "group", "ac", "an", "hom", "source", "source_version")

#: Browser-export population labels (gnomAD 2017 and ExAC spell Finnish differently).
BROWSER_LABELS = {
    "African": "afr",
    "Latino": "amr",
    "Ashkenazi Jewish": "asj",
    "East Asian": "eas",
    "European (Finnish)": "fin",
    "Finnish": "fin",
    "European (Non-Finnish)": "nfe",
    "South Asian": "sas",
    "Other": "oth",
}
BROWSER_DATASETS = {"gnomad": "gnomad_2017_browser", "exac": "exac_browser"}
MACARTHUR_DATASETS = {
    "clinvar_750_gnomad_exomes_tsv": "gnomad_exomes",
    "clinvar_750_gnomad_genomes_tsv": "gnomad_genomes",
    "clinvar_750_exac_tsv": "exac_vcf",
}
_COUNT_KINDS = {"ac": "Allele Count", "an": "Allele Number", "hom": "Homozygote Count"}


def _to_long(wide: pd.DataFrame, columns: dict[tuple[str, str], str], dataset: str) -> pd.DataFrame:
    """Melt ``columns`` ((group, kind) -> wide column) into one row per variant x group."""
    pieces = []
    for group in GROUPS:
        kinds = {kind: col for (g, kind), col in columns.items() if g == group}
        if "ac" not in kinds:
            continue  # group not reported by this file: no row, never an invented 0
        piece = pd.DataFrame({"variant": wide["variant"], "dataset": dataset, "group": group})
        for kind in ("ac", "an", "hom"):
            values = wide[kinds[kind]] if kind in kinds else pd.Series(pd.NA, index=wide.index)
            piece[kind] = pd.to_numeric(values, errors="coerce").astype("Int64")
        pieces.append(piece)
    if not pieces:
        return pd.DataFrame(columns=list(POPFREQ_COLUMNS[:6]))
    long = pd.concat(pieces, ignore_index=True)
    return long.astype({"variant": "string", "dataset": "string", "group": "string"})


def _finish(long: pd.DataFrame, source_name: str | None, dropped: dict[str, int]) -> pd.DataFrame:
    out = with_provenance(long, source_name)[list(POPFREQ_COLUMNS)].reset_index(drop=True)
    out.attrs["dropped"] = dropped
    return out


def browser_columns(header: pd.Index) -> dict[tuple[str, str], str]:
    """Map (group, ac/an/hom) to the export's ``Allele Count African``-style headers."""
    found: dict[tuple[str, str], str] = {}
    for kind, prefix in _COUNT_KINDS.items():
        for label, group in BROWSER_LABELS.items():
            name = f"{prefix} {label}"
            if name in header:
                found[(group, kind)] = name
    return found


def read_browser_export(path: Path, dataset: str, source_name: str | None = None) -> pd.DataFrame:
    """One gnomAD/ExAC browser CSV export (GRCh37) -> long population table."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    locus = raw.rename(
        columns={"Chrom": "chrom", "Position": "pos", "Reference": "ref", "Alternate": "alt"}
    )
    keyed = attach_keys(locus, "GRCh37", f"browser export {Path(path).name}")
    long = _to_long(keyed, browser_columns(raw.columns), dataset)
    return _finish(long, source_name, keyed.attrs["dropped"])


def gene_of_export(path: Path) -> str:
    """``gnomad_BRCA1.csv`` -> ``BRCA1`` (the export's gene is only in its filename)."""
    return Path(path).stem.split("_", 1)[1]


def read_all_browser_exports(
    dataset: Literal["gnomad", "exac"],
) -> tuple[pd.DataFrame, set[str]]:
    """All declared exports of one browser (69 ACMG genes) and the set of genes they cover."""
    sources = sources_matching(f"{dataset}_export_")
    if not sources:
        raise ValueError(f"no declared {dataset} browser exports")
    tables, genes = [], set()
    for source in sources:
        path = resolve(source.name)
        genes.add(gene_of_export(path))
        tables.append(read_browser_export(path, BROWSER_DATASETS[dataset], source.name))
    dropped: dict[str, int] = {}
    for table in tables:
        for reason, count in table.attrs.get("dropped", {}).items():
            dropped[reason] = dropped.get(reason, 0) + count
    long = pd.concat(tables, ignore_index=True)
    long.attrs["dropped"] = dropped
    return long, genes


def _vcf_fields(info: set[str]) -> dict[tuple[str, str], str]:
    """(group, kind) -> INFO id: ExAC ``AC_AFR``/``AN_AFR``/``Hom_AFR``, gnomAD ``nhomalt_afr``."""
    lower = {name.lower(): name for name in info}
    found: dict[tuple[str, str], str] = {}
    for group in GROUPS:
        for kind, candidates in (
            ("ac", (f"ac_{group}",)),
            ("an", (f"an_{group}",)),
            ("hom", (f"hom_{group}", f"nhomalt_{group}")),
        ):
            match = next((lower[c] for c in candidates if c in lower), None)
            if match:
                found[(group, kind)] = match
    return found


def _vcf_value(record: pysam.VariantRecord, field: str, allele: int) -> Any:
    """Number=A fields are per ALT (tuple); Number=1 (AN) is shared by all ALTs."""
    if field not in record.info:
        return None
    value = record.info[field]
    if isinstance(value, tuple):
        return value[allele] if allele < len(value) else None
    return value


def _alleles_to_read(
    record: pysam.VariantRecord, build: str, wanted: set[str] | None
) -> list[tuple[int, str]]:
    """(0-based ALT index, ALT) of every allele, or only of those whose key is wanted."""
    if wanted is None:
        return list(enumerate(record.alts or (".",)))
    alts = record.alts or ()
    return [(i - 1, alts[i - 1]) for i, key in keyed_alleles(record, build) if key in wanted]


def read_popfreq_vcf(
    path: Path,
    build: str,
    dataset: str,
    source_name: str | None = None,
    wanted: set[str] | None = None,
) -> pd.DataFrame:
    """ExAC/gnomAD sites VCF -> long population table, one variant per ALT allele.

    ``wanted`` (variant keys) keeps only those alleles while reading, so matching a
    few thousand curated variants against a genome-wide sites VCF does not build a
    row for every site in it.
    """
    rows: list[dict[str, Any]] = []
    with readable_vcf(Path(path)) as usable, pysam.VariantFile(str(usable)) as vcf:
        fields = _vcf_fields(set(vcf.header.info.keys()))
        for record in vcf:
            for index, alt in _alleles_to_read(record, build, wanted):
                row = {"chrom": record.chrom, "pos": record.pos, "ref": record.ref, "alt": alt}
                for (group, kind), field in fields.items():
                    row[f"{group}.{kind}"] = _vcf_value(record, field, index)
                rows.append(row)
    wide = pd.DataFrame(
        rows, columns=["chrom", "pos", "ref", "alt", *(f"{g}.{k}" for g, k in fields)]
    )
    keyed = attach_keys(wide, build, f"population VCF {Path(path).name}")
    long = _to_long(keyed, {(g, k): f"{g}.{k}" for g, k in fields}, dataset)
    return _finish(long, source_name, keyed.attrs["dropped"])


def _deduplicated_header(path: Path) -> list[str]:
    """Header names with repeats suffixed ``#2``: macarthur's gnomAD TSVs name the African
    AF column ``AC_AFR`` a second time, so only the FIRST ``AC_AFR`` is the count."""
    with Path(path).open(encoding="utf-8") as handle:
        names = handle.readline().rstrip("\r\n").split("\t")
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


#: The 21 ExAC columns of macarthur-lab's ``clinvar_with_exac_example_5000_rows.tsv`` as
#: its header names them; its data hold the same fields in sorted order (``AC``,
#: ``AC_AFR``, ``AC_AMR``, ``AC_Adj``, ...), so the header is out of step with the values
#: (as written, 2,782 of 18,284 group cells have AC > AN; re-labelled, none, every
#: ``AC_Adj``/``AN_Adj`` is the sum of its groups and every POPMAX matches its group).
EXAC_JOIN_WRITTEN = (
    "AC", "AC_Het", "AC_Hom", "AC_Adj", "AN", "AN_Adj", "AF",
    "AC_AFR", "AC_AMR", "AC_EAS", "AC_FIN", "AC_NFE", "AC_OTH", "AC_SAS",
    "AN_AFR", "AN_AMR", "AN_EAS", "AN_FIN", "AN_NFE", "AN_OTH", "AN_SAS",
)  # fmt: skip


def corrected_exac_join_header(names: list[str]) -> list[str]:
    """The header of a macarthur-lab ClinVar x ExAC TSV with its ExAC block re-labelled.

    Only a header holding :data:`EXAC_JOIN_WRITTEN` as one consecutive block is
    changed (that block's names sorted, as its data are); any other is returned as is.
    """
    width = len(EXAC_JOIN_WRITTEN)
    for start in range(len(names) - width + 1):
        if tuple(names[start : start + width]) == EXAC_JOIN_WRITTEN:
            return [*names[:start], *sorted(EXAC_JOIN_WRITTEN), *names[start + width :]]
    return list(names)


def read_macarthur_joined_tsv(
    path: Path, dataset: str, source_name: str | None = None
) -> pd.DataFrame:
    """macarthur-lab ClinVar alleles joined to gnomAD/ExAC (GRCh37) -> long population table.

    ClinVar alleles the callset lacks have empty counts; they get no rows (unknown,
    not zero). Per-group AF columns are ignored (one is mislabelled, see above):
    AF is always ``ac / an``.
    """
    names = _deduplicated_header(path)
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, header=0, names=names)
    keyed = attach_keys(raw, "GRCh37", f"joined TSV {Path(path).name}")
    columns = {
        (group, kind): name
        for name in names
        if (match := re.fullmatch(r"(AC|AN|Hom)_([A-Z]{3})", name))
        and (group := match.group(2).lower()) in GROUPS
        and (kind := match.group(1).lower()) in ("ac", "an", "hom")
    }
    long = _to_long(keyed, columns, dataset)
    long = long[long["ac"].notna() | long["an"].notna()]
    return _finish(long, source_name, keyed.attrs["dropped"])


def read_popfreq_source(name: str) -> pd.DataFrame:
    """Any declared population-frequency source, with its dataset name chosen here."""
    source = get_source(name)
    path = resolve(name)
    if name in MACARTHUR_DATASETS:
        return read_macarthur_joined_tsv(path, MACARTHUR_DATASETS[name], source_name=name)
    for prefix, dataset in (("gnomad_export_", "gnomad"), ("exac_export_", "exac")):
        if name.startswith(prefix):
            return read_browser_export(path, BROWSER_DATASETS[dataset], source_name=name)
    if name in ("exac_vcfanno_vcf", "exac_brca12_vcf"):
        return read_popfreq_vcf(path, source.build, "exac_vcf", source_name=name)
    raise ValueError(f"{name!r} is not a population-frequency source")
