"""A labelled file a researcher brings (``vipredict audit --labelled FILE``), audited by ancestry.

Two shapes are read:

* a VCF: a VEP VCF (its ``CSQ`` annotations are scored, as ``vipredict predict``
  scores them) or a plain one (looked up in the feature store), labelled by ClinVar's
  significance in INFO ``CLNSIG`` or in an allele's CSQ field ``*_CLNSIG`` (VEP
  ``--custom`` ClinVar, e.g. ``clinvar_CLNSIG``);
* a TSV/CSV: a ``variant`` key column or chrom/pos/ref/alt columns, and a label
  column (``label``, ``clinical_significance``, ``clnsig``...; or named).

Labels: P/LP (``Pathogenic``, ``Likely_pathogenic``, ``Pathogenic/Likely pathogenic``,
``P``, ``LP``, ``1``) are 1; B/LB likewise 0. Anything else (VUS, conflicting, risk
factor, a mix of P and B) is left unlabelled and counted, never guessed; ``not
provided`` beside an assertion is ignored.

Frequencies come from the file itself when it has them: a CSQ's gnomAD fields
(``Inputs.frequencies``), a TSV's ``AC_AFR``/``AN_AFR``/``gnomADe_AF_afr`` columns,
a VCF's per-group INFO fields (``AC_afr``; its bare ``AC``/``AN``/``AF`` are the
call set's own counts, not a population's, and are not read), plus a sites VCF given
beside it. A TSV whose frequency columns hold an impossible row (AC > AN: a header out
of step with its data) has none of them used, and says so; the one such published
file known here (macarthur-lab's ClinVar x ExAC join) is re-labelled first
(:func:`vipredict.io.readers.popfreq.corrected_exac_join_header`). Each dataset becomes one
audited set, grouped exactly as the ClinGen sets are (:mod:`vipredict.audit.groups`).
Without any, the store's gnomAD/ExAC browser columns are used where it holds the variant.

Variants the feature store holds only as rows of the VEP-format tables
(:data:`WITHHELD_DATASETS`, the project's untouched independent test set) are left
out of every audit and counted, so no report ever speaks about their labels.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from vipredict.audit.sets import (
    OTHER_SPLIT,
    SCORE_COLUMNS,
    SPLITS,
    AuditRows,
    LabelledSetSpec,
    frequency_columns,
    frequency_frame,
)
from vipredict.features.frequency import DEFAULT_DATASETS
from vipredict.io.files import open_text
from vipredict.io.inputs import (
    LOCUS_ALIASES,
    InputRecord,
    Inputs,
    detect_format,
    header_lines,
    read_inputs,
    record_from_key,
    record_from_parts,
)
from vipredict.io.readers.csq import allele_entries, csq_format, info_value, parse_entries
from vipredict.io.readers.popfreq import corrected_exac_join_header
from vipredict.io.readers.sites import (
    ALL_GROUP,
    combine_frequencies,
    dataset_of_path,
    frequencies_from_columns,
    read_sites_vcf,
    sites_for_keys,
)
from vipredict.model.scorer import Scorer

logger = logging.getLogger(__name__)

#: Label columns looked for, in order (case-insensitive), when none is named.
LABEL_COLUMNS = (
    "label",
    "clinical_significance",
    "clnsig",
    "clinvar_clnsig",
    "clin_sig",
    "significance",
    "classification",
)
PATHOGENIC_TERMS = frozenset(
    {"pathogenic", "likely pathogenic", "pathogenic/likely pathogenic", "p", "lp", "p/lp", "1"}
)
BENIGN_TERMS = frozenset(
    {"benign", "likely benign", "benign/likely benign", "b", "lb", "b/lb", "0"}
)
#: Not an assertion: ignored beside one, unlabelled alone.
SILENT_TERMS = frozenset(
    {"not provided", "not reported for simple variant", "no interpretation for the single variant"}
)
#: Store datasets whose variants are never audited (the VEP-format independent test set).
WITHHELD_DATASETS = frozenset({"vep_dbnsfp_benign", "vep_dbnsfp_pathogenic"})
#: Results a labelled row keeps: scored, or judged too thinly annotated for evidence.
JUDGED_ERRORS = ("", "insufficient_annotation")
_SPLIT_ORDER = ("train_2019", "validation_2020")


def _term(token: str) -> str:
    return re.sub(r"\s+", " ", token.replace("_", " ")).strip().lower()


def label_of(value: object) -> float:
    """1 for P/LP, 0 for B/LB, NaN for anything else (VUS, conflicting, mixed, missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    text = str(value).strip()
    if text in ("1.0", "0.0"):
        text = text[0]
    terms = [_term(t) for t in re.split(r"[;,|&]", text)]
    terms = [t for t in terms if t and t not in SILENT_TERMS]
    if terms and all(t in PATHOGENIC_TERMS for t in terms):
        return 1.0
    if terms and all(t in BENIGN_TERMS for t in terms):
        return 0.0
    return math.nan


@dataclass(frozen=True)
class LabelledFile:
    """A researcher's file: its records (as the scorer reads them) and one label per record."""

    name: str
    inputs: Inputs
    labels: list[float]
    counts: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- VCF


def _clnsig_fields(names: tuple[str, ...]) -> list[int]:
    """Positions of allele-specific ClinVar significance fields in a CSQ entry."""
    return [i for i, n in enumerate(names) if n.upper().endswith("_CLNSIG")]


def vcf_labels(lines: list[str]) -> list[float]:
    """One label per ALT of each record line, in file order (one per malformed line).

    INFO ``CLNSIG`` wins; else the first non-empty ``*_CLNSIG`` CSQ field among the
    entries of that ALT. The order is :func:`vipredict.io.inputs.read_inputs`' order.
    """
    fmt = csq_format(header_lines(lines))
    positions = _clnsig_fields(fmt.fields) if fmt is not None else []
    labels: list[float] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 5:
            labels.append(math.nan)
            continue
        info = fields[7] if len(fields) > 7 else ""
        clnsig = info_value(info, "CLNSIG")
        entries = parse_entries(info_value(info) or "", fmt) if fmt and positions else None
        for number, alt in enumerate(fields[4].split(","), start=1):
            text = clnsig
            if text is None and entries:
                mine = allele_entries(entries, fmt, alt, number) if fmt else []
                values = [e[p] for e in mine for p in positions if e[p].strip()]
                text = values[0] if values else None
            labels.append(label_of(text))
    return labels


def _build_of(records: list[InputRecord]) -> str | None:
    return next((r.key.split(":", 1)[0] for r in records if r.key), None)


def _read_vcf(path: Path, kind: str, build: str | None, dataset: str | None) -> LabelledFile:
    inputs = read_inputs(path, kind, build)
    with open_text(path) as handle:
        labels = vcf_labels(handle.read().split("\n"))
    if len(labels) != len(inputs.records):
        raise ValueError(f"{path.name}: {len(labels)} labels for {len(inputs.records)} records")
    keys = {r.key for r in inputs.records if r.key}
    chosen = _build_of(inputs.records)
    info = None
    if chosen is not None:
        # Per-group INFO fields only: a VCF's bare AC/AN/AF are its own call set's counts.
        info = read_sites_vcf(path, chosen, dataset, wanted=keys, pass_only=False)
        info = info[info["group"] != ALL_GROUP]
    frequencies = combine_frequencies(inputs.frequencies, info)
    return LabelledFile(path.name, replace(inputs, frequencies=frequencies), labels)


# --------------------------------------------------------------------------- TSV


def _label_column(columns: list[str], named: str | None) -> str:
    lower = {c.strip().lower().lstrip("#"): c for c in columns}
    if named is not None:
        if named.strip().lower() not in lower:
            raise ValueError(f"no label column {named!r}; columns: {', '.join(columns[:12])}")
        return lower[named.strip().lower()]
    found = next((lower[c] for c in LABEL_COLUMNS if c in lower), None)
    if found is None:
        raise ValueError(f"no label column (one of {', '.join(LABEL_COLUMNS)}); name it")
    return found


def _tsv_records(table: pd.DataFrame, build: str) -> list[InputRecord]:
    lower = {c.strip().lower().lstrip("#"): c for c in table.columns}
    if "variant" in lower:
        return [record_from_key(v) for v in table[lower["variant"]]]
    locus = {
        canonical: next(lower[a] for a in aliases if a in lower)
        for canonical, aliases in LOCUS_ALIASES.items()
        if any(a in lower for a in aliases)
    }
    if not {"chrom", "pos", "ref", "alt"} <= set(locus):
        raise ValueError("a labelled TSV needs a variant column or chrom/pos/ref/alt columns")
    builds = table[locus["build"]] if "build" in locus else pd.Series(build, index=table.index)
    parts = zip(builds, *(table[locus[k]] for k in ("chrom", "pos", "ref", "alt")), strict=True)
    return [record_from_parts(*p) for p in parts]


def _read_tsv(
    path: Path, build: str | None, label_column: str | None, dataset: str | None
) -> LabelledFile:
    with open_text(path) as handle:
        header = handle.readline()
    sep = "," if "," in header and "\t" not in header else "\t"
    with open_text(path) as handle:
        table = pd.read_csv(handle, sep=sep, dtype=str, keep_default_na=False)
    corrected = corrected_exac_join_header(list(table.columns))
    relabelled = corrected != list(table.columns)
    table.columns = corrected
    column = _label_column(list(table.columns), label_column)
    records = _tsv_records(table, build or "GRCh37")
    labels = [label_of(v) for v in table[column]]
    own_keys = [c for c in table.columns if c.strip().lower().lstrip("#") == "variant"]
    keyed = table.drop(columns=own_keys).assign(variant=[r.key for r in records])
    keyed = keyed[keyed["variant"].notna()].drop_duplicates("variant")
    frequencies = frequencies_from_columns(keyed, dataset=dataset or dataset_of_path(path))
    impossible = int(frequencies.attrs.get("dropped", {}).get("impossible_counts", 0))
    if impossible:
        # A count table never has AC > AN: the header is out of step with its data, so no
        # value of these columns can be trusted (not only the impossible ones).
        logger.warning(
            "%s: %d frequency rows with AC > AN (or AF outside [0, 1]): its frequency columns "
            "are mislabelled and are not used",
            path.name,
            impossible,
        )
        frequencies = None
    counts = {"impossible_frequency_rows": impossible, "exac_header_relabelled": int(relabelled)}
    return LabelledFile(path.name, Inputs(records, None, frequencies), labels, counts)


def read_labelled(
    path: Path,
    build: str | None = None,
    label_column: str | None = None,
    frequency_dataset: str | None = None,
) -> LabelledFile:
    """A labelled VCF or TSV -> records, labels and the frequencies it carries.

    ``frequency_dataset`` names the dataset of unprefixed frequency columns or INFO
    fields (``AC_AFR``): default the file name before its first dot.
    """
    path = Path(path)
    kind = detect_format(path)
    if kind in ("vcf", "csq"):
        labelled = _read_vcf(path, kind, build, frequency_dataset)
    elif kind == "tsv":
        labelled = _read_tsv(path, build, label_column, frequency_dataset)
    else:
        raise ValueError(f"{path.name} is {kind}: audit reads a labelled VCF or TSV")
    labels = np.asarray(labelled.labels, dtype="float64")
    keyed = np.array([r.key is not None for r in labelled.inputs.records])
    counts = {
        **labelled.counts,
        "records": len(labels),
        "keyed": int(keyed.sum()),
        "pathogenic_labels": int((labels == 1).sum()),
        "benign_labels": int((labels == 0).sum()),
        "unlabelled": int(np.isnan(labels).sum()),
    }
    return replace(labelled, counts=counts)


# --------------------------------------------------------------------------- audit rows


def _store_datasets(scorer: Scorer, keys: list[str]) -> pd.Series:
    """variant -> the store datasets holding it (comma-joined), '' where none."""
    if scorer.store is None or not keys:
        return pd.Series("", index=pd.Index(keys, dtype=object), dtype=object)
    found = scorer.store.lookup(keys, ["variant", "dataset"])
    joined = found.groupby("variant")["dataset"].agg(lambda d: ",".join(sorted(set(map(str, d)))))
    return joined.reindex(pd.Index(keys, dtype=object)).fillna("").astype(object)


def _split(datasets: str) -> str:
    held = set(datasets.split(",")) if datasets else set()
    for split in _SPLIT_ORDER:
        if any(SPLITS.get(d) == split for d in held):
            return split
    return OTHER_SPLIT


def _withheld(datasets: str) -> bool:
    """Held only as VEP-format test rows: the independent test set, never reported on."""
    held = set(datasets.split(",")) if datasets else set()
    return bool(held & WITHHELD_DATASETS) and not any(d in SPLITS for d in held)


@dataclass
class ScoredFile:
    """A labelled file scored: audited rows (one per variant), their scores, what grouped them."""

    rows: pd.DataFrame
    scores: pd.DataFrame
    frequencies: pd.DataFrame | None
    features: pd.DataFrame
    counts: dict[str, int]


def _conflicting(frame: pd.DataFrame) -> set[str]:
    """Variants given both labels in the file (several rows or alleles): left out."""
    both = frame.groupby("variant")["label"].nunique()
    return set(both[both > 1].index.astype(str))


def score_file(
    scorer: Scorer, labelled: LabelledFile, extra: pd.DataFrame | None = None
) -> ScoredFile:
    """Score the file as ``vipredict predict`` would and keep its labelled, judged variants.

    ``extra``: a sites VCF's long table for the file's variants, joined to the file's own.
    A row is judged when it was scored (or is only too thinly annotated for evidence);
    a variant with both labels in the file, or held only as an independent-test row of
    the store, is left out and counted.
    """
    frequencies = combine_frequencies(labelled.inputs.frequencies, extra)
    scored = scorer.score(replace(labelled.inputs, frequencies=frequencies))
    frame = scored.results.reset_index(drop=True).assign(label=labelled.labels)
    keyed = frame["variant"].fillna("").astype(str) != ""
    judged = keyed & frame["error"].fillna("").isin(JUDGED_ERRORS)
    labelled_rows = frame[judged & frame["label"].notna()]
    conflicting = _conflicting(labelled_rows)
    chosen = labelled_rows.drop_duplicates("variant")
    chosen = chosen[~chosen["variant"].astype(str).isin(conflicting)]
    held = _store_datasets(scorer, chosen["variant"].astype(str).tolist())
    withheld = np.array([_withheld(held.get(k, "")) for k in chosen["variant"].astype(str)])
    rows = chosen[~withheld].reset_index(drop=True) if len(chosen) else chosen
    rows = rows.assign(
        split=[_split(held.get(k, "")) for k in rows["variant"].astype(str)],
        label=rows["label"].astype("int64"),
        af_global=np.nan,
    )
    counts = {
        **labelled.counts,
        "judged": int(judged.sum()),
        "label_conflicts": len(conflicting),
        "withheld_independent_test": int(withheld.sum()),
    }
    return ScoredFile(
        rows[["variant", "gene", "label", "split", "af_global"]].reset_index(drop=True),
        rows.set_index("variant")[list(SCORE_COLUMNS)],
        frequencies if frequencies is not None and len(frequencies) else None,
        scored.features,
        counts,
    )


def _spec(labelled: LabelledFile, dataset: str, whose: str) -> LabelledSetSpec:
    return LabelledSetSpec(
        f"{labelled.name}_x_{dataset}",
        f"{labelled.name}: the researcher's labels, grouped by {whose} {dataset} frequencies",
        dataset,
    )


def labelled_sets(
    scorer: Scorer, labelled: LabelledFile, extra: pd.DataFrame | None = None
) -> tuple[list[AuditRows], pd.DataFrame]:
    """One audited set per frequency dataset of the file (else of the store), and the scores."""
    scored = score_file(scorer, labelled, extra)
    rows = scored.rows
    counts = {
        "in_set": scored.counts["records"],
        "with_features": scored.counts["judged"],
        "labelled": len(rows),
        **scored.counts,
    }
    if scored.frequencies is not None:
        sets = []
        for dataset in sorted({str(d) for d in scored.frequencies["dataset"].dropna()}):
            long = scored.frequencies[scored.frequencies["dataset"] == dataset]
            freq = frequency_frame(rows, long, dataset, ())
            sets.append(AuditRows(_spec(labelled, dataset, "its own"), rows, freq, counts))
        return sets, scored.scores
    features = scored.features
    wide = (
        features.drop_duplicates("variant").set_index("variant")
        if "variant" in features.columns
        else pd.DataFrame(index=pd.Index([], dtype=object))
    )
    sets = []
    for dataset in DEFAULT_DATASETS:
        freq = wide.reindex(index=rows["variant"].astype(str), columns=frequency_columns(dataset))
        spec = _spec(labelled, dataset, "the feature store's")
        sets.append(AuditRows(spec, rows, freq.reset_index(drop=True), counts))
    return sets, scored.scores


def read_extra_sites(path: Path | None, labelled: LabelledFile) -> pd.DataFrame | None:
    """A sites VCF's long table for the labelled file's variants (None without one)."""
    if path is None:
        return None
    keys = [r.key for r in labelled.inputs.records if r.key]
    return sites_for_keys(path, keys)
