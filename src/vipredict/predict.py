"""Batch prediction from files: VCF, VEP tab output, dbNSFP rows or a TSV of variant keys.

A pipeline's input always holds some bad records. Each one becomes a row with a
named error (``malformed_record``, ``unknown_contig``, ``not_snv``,
``ref_mismatch``, ``no_features``, ...); it never stops the rest of the file.
VCF and TSV inputs carry no annotations, so their variants are looked up in the
feature store; VEP and dbNSFP inputs carry their own annotations and are scored
from them directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from vipredict.readers._common import open_text
from vipredict.variants import VariantError, make_variant, normalise_build

if TYPE_CHECKING:  # the model stack (MLflow, scikit-learn) loads only where scoring happens,
    from vipredict.scoring import Scorer  # so VCF parsing, shared with annotate, stays light

OUTPUT_COLUMNS = ("variant", "gene", "score", "posterior", "evidence", "points", "model", "error")
#: INFO declarations of the per-allele results written into a VCF, shared by the service's
#: ``/predict/vcf`` and ``vipredict annotate`` so both write the same fields the same way.
VIP_INFO_HEADERS = (
    '##INFO=<ID=VIP_SCORE,Number=A,Type=Float,Description="vipredict-noaf score (0-1)">',
    '##INFO=<ID=VIP_POST,Number=A,Type=Float,Description="vipredict local posterior '
    'probability of pathogenicity (ClinGen prior 0.0441)">',
    '##INFO=<ID=VIP_EVIDENCE,Number=A,Type=String,Description="vipredict calibrated '
    'PP3/BP4 evidence code, or none">',
    '##INFO=<ID=VIP_ERR,Number=.,Type=String,Description="vipredict per-allele error '
    "(malformed_record, unknown_contig, unknown_build, not_snv, multi_allelic, "
    'ref_mismatch, no_features, insufficient_annotation), . when scored">',
)
VIP_KEYS = frozenset(("VIP_SCORE", "VIP_POST", "VIP_EVIDENCE", "VIP_ERR"))
_BUILD_HINTS = {"GRCh38": ("grch38", "hg38", "b38"), "GRCh37": ("grch37", "hg19", "b37", "hs37")}


@dataclass(frozen=True)
class InputRecord:
    """One variant as the user wrote it, with its key or the reason it has none."""

    label: str
    key: str | None
    error: str = ""


def build_from_header(lines: list[str], default: str) -> str:
    """The assembly a VCF header declares (reference/contig/assembly lines), else ``default``."""
    for line in lines:
        lowered = line.lower()
        if lowered.startswith(("##reference", "##contig", "##assembly")):
            for build, hints in _BUILD_HINTS.items():
                if any(hint in lowered for hint in hints):
                    return build
    return normalise_build(default)


def vcf_records(lines: Iterator[str], build: str) -> Iterator[InputRecord]:
    """Records of VCF body lines; multi-allelic records give one record per ALT."""
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 5:
            yield InputRecord(f"line {number}: {line[:60]}", None, "malformed_record")
            continue
        chrom, pos, _id, ref, alts = fields[:5]
        for alt in alts.split(","):
            label = f"{chrom}:{pos}:{ref}:{alt}"
            try:
                yield InputRecord(label, make_variant(build, chrom, pos, ref, alt).key)
            except VariantError as error:
                yield InputRecord(label, None, error.reason)


def read_vcf_records(path: Path, default_build: str) -> list[InputRecord]:
    with open_text(path) as handle:
        lines = handle.read().splitlines()
    header = [line for line in lines if line.startswith("##")]
    return list(vcf_records(iter(lines), build_from_header(header, default_build)))


def read_tsv_records(path: Path, default_build: str) -> list[InputRecord]:
    """A TSV with a ``variant`` column of keys, or build/chrom/pos/ref/alt columns, or bare keys."""
    with open_text(path) as handle:
        table = pd.read_csv(handle, sep="\t", dtype=str, keep_default_na=False, comment=None)
    columns = {c.lower().lstrip("#"): c for c in table.columns}
    if "variant" in columns:
        return [_record_from_key(v) for v in table[columns["variant"]]]
    if {"chrom", "pos", "ref", "alt"} <= set(columns):
        out = []
        for row in table.itertuples(index=False):
            values = dict(zip(table.columns, row, strict=True))
            fields = [values.get(columns.get("build", ""), default_build)] + [
                values[columns[name]] for name in ("chrom", "pos", "ref", "alt")
            ]
            out.append(_record_from_parts(fields))
        return out
    keys = [table.columns[0], *table.iloc[:, 0].tolist()]  # header-less: first line is data
    return [_record_from_key(k) for k in keys]


def _record_from_key(text: str) -> InputRecord:
    from vipredict.variants import parse_variant_key

    try:
        return InputRecord(text, parse_variant_key(text).key)
    except VariantError as error:
        return InputRecord(text, None, error.reason)


def _record_from_parts(parts: list[str]) -> InputRecord:
    label = ":".join(map(str, parts))
    try:
        return InputRecord(label, make_variant(*parts).key)
    except VariantError as error:
        return InputRecord(label, None, error.reason)


def score_records(scorer: Scorer, records: list[InputRecord]) -> pd.DataFrame:
    """Score keyed records through the store; keep every record's row, in input order."""
    from vipredict.scoring import RESULT_COLUMNS, failed_rows, finalise

    good = [(i, r) for i, r in enumerate(records) if r.key is not None]
    bad = [(i, r) for i, r in enumerate(records) if r.key is None]
    parts = []
    if good:
        scored = scorer.score_keys([r.key for _, r in good])
        scored["input"] = [r.label for _, r in good]
        scored.index = [i for i, _ in good]
        parts.append(scored)
    if bad:
        failed = failed_rows([r.label for _, r in bad], [r.error for _, r in bad])
        failed.index = [i for i, _ in bad]
        parts.append(failed)
    if not parts:
        return finalise(pd.DataFrame(columns=list(RESULT_COLUMNS)))
    return pd.concat(parts).sort_index()


def score_annotation_file(scorer: Scorer, path: Path, fmt: str, build: str) -> pd.DataFrame:
    """VEP or dbNSFP input: features from the file's own annotations."""
    from vipredict.features.table import build_feature_table
    from vipredict.readers.dbnsfp import read_dbnsfp
    from vipredict.readers.vep import read_vep_tab
    from vipredict.scoring import failed_rows, finalise

    annotations = (
        read_vep_tab(path, build=build) if fmt == "vep" else read_dbnsfp(path, build=build)
    )
    valid = annotations["variant"].notna()
    features = build_feature_table(annotations[valid].reset_index(drop=True), None, {})
    scored = scorer.score_features(features)
    scored["input"] = scored["variant"]
    missing = failed_rows(
        annotations.loc[~valid, "chrom"].astype(str).tolist(),
        ["unknown_contig"] * int((~valid).sum()),
    )
    return pd.concat([finalise(scored.reset_index(drop=True)), missing], ignore_index=True)


def predict_file(
    scorer: Scorer, path: Path, fmt: str | None, build: str = "GRCh37"
) -> pd.DataFrame:
    from vipredict.readers import detect_format

    fmt = fmt or detect_format(path)
    if fmt == "vcf":
        return score_records(scorer, read_vcf_records(path, build))
    if fmt == "tsv":
        return score_records(scorer, read_tsv_records(path, build))
    if fmt in ("vep", "dbnsfp"):
        return score_annotation_file(scorer, path, fmt, build)
    raise ValueError(f"unknown input format {fmt!r}; use vcf, vep, dbnsfp or tsv")


def write_predictions(results: pd.DataFrame, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    table = results.copy()
    table["variant"] = table["variant"].where(table["variant"].fillna("") != "", table["input"])
    table[list(OUTPUT_COLUMNS)].to_csv(output, sep="\t", index=False, na_rep="")
