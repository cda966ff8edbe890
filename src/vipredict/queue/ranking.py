"""Ranking a curation queue: what each item is, where it goes, and why it is there.

The default order (``settle``) puts first the variants a curator's review is most
likely to settle, using only what vipredict already knows:

* the PP3/BP4 points of ``vipredict-noaf`` (the only source of evidence),
  weighted by how likely the frequency-aware ``vipredict-af`` thinks that
  evidence points the right way. That weight orders work; it is never evidence,
  so frequency is not counted twice;
* BA1/BS1/PM2_Supporting from the ancestry frequencies (allowed beside PP3/BP4),
  added as Bayesian points (BA1 stand-alone counted as -8);
* genes on the ACMG SF v3.2 list, and genes with an established ClinGen
  gene-disease validity where known, multiply the total by 1.25 each.

Items without any evidence tie at 0 and are then ordered by the score distance
to their next evidence level. The alternatives are ``posterior`` (most likely
pathogenic first), ``uncertainty`` (where the models are least sure, binary
entropy of the priority score) and ``evidence`` (strongest evidence first, by
points then likelihood ratio). Every item's ``reason`` says which of these put
it where it is. Rows that could not be scored keep their named error and go last.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vipredict.acmg import (
    EVIDENCE_CODES,
    FREQUENCY_POINTS,
    NO_EVIDENCE,
    PM2_AF,
    met_frequency_criteria,
)
from vipredict.config import DEFAULT_BS1_FAF
from vipredict.features.frequency import (
    DEFAULT_DATASETS,
    DEFAULT_GROUPS,
    SUMMARY_COLUMNS,
    dataset_prefix,
)
from vipredict.model.scorer import RESULT_COLUMNS, frequency_evidence
from vipredict.queue.genes import GeneContext

ORDERINGS = ("settle", "posterior", "uncertainty", "evidence")
#: Frequency bands on the largest AF of any ancestry group (gnomAD/ExAC), else the global AF.
AF_BANDS = ("absent", "ultra_rare", "rare", "low_frequency", "common", "unknown")
_BAND_EDGES = ((PM2_AF, "ultra_rare"), (0.01, "rare"), (0.05, "low_frequency"))
EVIDENCE_FILTERS = (*EVIDENCE_CODES, "PP3", "BP4", NO_EVIDENCE)
_NUMERIC = ("score", "posterior", "likelihood_ratio", "priority_score")
ACMG_WEIGHT = 0.25
VALIDITY_WEIGHT = 0.25

#: What the queue adds to the scorer's answer, in output order (after it).
QUEUE_COLUMNS = (
    "agreement",
    "frequency_evidence",
    "frequency_points",
    "max_af",
    "af_band",
    "groups_observed",
    "acmg_sf",
    "gene_validity",
    "settle",
    "uncertainty",
    "reason",
)
#: A queue item: its rank, the scorer's answer (:data:`RESULT_COLUMNS`), the queue's facts.
ITEM_COLUMNS = ("rank", *RESULT_COLUMNS, *QUEUE_COLUMNS)


class QueueInputError(ValueError):
    """A request the queue cannot honour; ``reason`` is its named code (an HTTP 422)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _checked(values: Sequence[str], allowed: Sequence[str], what: str, fold: bool) -> tuple:
    """Values normalised to the allowed spelling, or a QueueInputError listing the choices."""
    lookup = {a.lower() if fold else a: a for a in allowed}
    out = []
    for value in values:
        key = value.strip().lower() if fold else value.strip()
        if key not in lookup:
            raise QueueInputError(
                f"invalid_{what}", f"{what} {value!r} is not one of {', '.join(allowed)}"
            )
        out.append(lookup[key])
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class QueueFilters:
    """Which items a queue keeps: any listed gene, evidence, ancestry group and AF band.

    Empty means no restriction. Several values of one filter are alternatives;
    different filters must all hold.
    """

    genes: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    af_bands: tuple[str, ...] = ()

    @classmethod
    def create(
        cls,
        genes: Sequence[str] = (),
        evidence: Sequence[str] = (),
        groups: Sequence[str] = (),
        af_bands: Sequence[str] = (),
    ) -> QueueFilters:
        """Validated filters (case-insensitive); unknown values raise :class:`QueueInputError`."""
        return cls(
            genes=tuple(dict.fromkeys(g.strip().upper() for g in genes if g.strip())),
            evidence=_checked(evidence, EVIDENCE_FILTERS, "evidence", fold=True),
            groups=_checked(groups, DEFAULT_GROUPS, "group", fold=True),
            af_bands=_checked(af_bands, AF_BANDS, "af_band", fold=True),
        )

    def to_dict(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in ("genes", "evidence", "groups", "af_bands")}

    def keep(self, items: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the items that pass every filter."""
        mask = np.ones(len(items), dtype=bool)
        if self.genes:
            mask &= items["gene"].fillna("").str.upper().isin(self.genes).to_numpy()
        if self.evidence:
            codes = items["evidence"].fillna(NO_EVIDENCE).astype(str)
            family = codes.str.split("_").str[0]
            mask &= (codes.isin(self.evidence) | family.isin(self.evidence)).to_numpy()
        if self.groups:
            seen = items["groups_observed"].fillna("").str.split(",")
            mask &= seen.map(lambda g: bool(set(g) & set(self.groups))).to_numpy(dtype=bool)
        if self.af_bands:
            mask &= items["af_band"].isin(self.af_bands).to_numpy()
        return mask


# --------------------------------------------------------------------------- item facts


def _aligned(features: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    """Frequency columns in the order of ``keys`` (all-NaN rows where a key has none).

    The summary columns an input's own frequencies added (:data:`SUMMARY_COLUMNS`)
    come along, so the queue's criteria are the answer's.
    """
    if features.empty or "variant" not in features.columns:
        return pd.DataFrame({"variant": keys.to_numpy()})
    prefixes = tuple(f"{dataset_prefix(d)}_" for d in DEFAULT_DATASETS)
    extra = ("af_global", *SUMMARY_COLUMNS)
    wanted = [c for c in features.columns if c.startswith(prefixes) or c in extra]
    unique = features[["variant", *wanted]].drop_duplicates("variant").set_index("variant")
    return unique.reindex(pd.Index(keys.fillna("").astype(str))).reset_index(names="variant")


def groups_observed(features: pd.DataFrame) -> list[str]:
    """Comma-joined ancestry groups with AC > 0 in gnomAD or ExAC ('' if none or unknown).

    Where the rows carry the input's frequencies (``freq_groups_observed``), those
    groups are joined in too.
    """
    found = np.zeros((len(features), len(DEFAULT_GROUPS)), dtype=bool)
    if "freq_groups_observed" in features.columns:
        named = features["freq_groups_observed"].fillna("").astype(str).str.split(",")
        for j, group in enumerate(DEFAULT_GROUPS):
            found[:, j] |= named.map(lambda gs, g=group: g in gs).to_numpy(dtype=bool)
    for j, group in enumerate(DEFAULT_GROUPS):
        for dataset in DEFAULT_DATASETS:
            column = f"{dataset_prefix(dataset)}_{group}_ac"
            if column in features.columns:
                found[:, j] |= features[column].to_numpy(dtype=float) > 0
    return [",".join(g for g, hit in zip(DEFAULT_GROUPS, row, strict=True) if hit) for row in found]


def af_band(value: float) -> str:
    """Frequency band of one AF (``unknown`` when missing, ``absent`` when 0)."""
    if value is None or math.isnan(value):
        return "unknown"
    if value == 0:
        return "absent"
    for edge, band in _BAND_EDGES:
        if value < edge:
            return band
    return "common"


def _frequency_facts(aligned: pd.DataFrame, bs1_faf: float) -> pd.DataFrame:
    """Met frequency criteria, their points, the max group AF and its band, per row."""
    criteria = frequency_evidence(aligned, bs1_faf)
    global_af = (
        aligned["af_global"].to_numpy(dtype=float)
        if "af_global" in aligned.columns
        else np.full(len(aligned), np.nan)
    )
    rows = []
    for i, crit in enumerate(criteria):
        met = met_frequency_criteria(crit)
        max_af = crit["PM2"]["faf"]
        max_af = global_af[i] if max_af is None else max_af
        rows.append(
            {
                "frequency_evidence": ",".join(met),
                "frequency_points": sum(FREQUENCY_POINTS[m] for m in met),
                "max_af": max_af,
                "af_band": af_band(max_af),
            }
        )
    return pd.DataFrame(
        rows, columns=["frequency_evidence", "frequency_points", "max_af", "af_band"]
    )


def agreement(evidence: pd.Series, priority: pd.Series, posterior: pd.Series) -> np.ndarray:
    """Probability, by vipredict-af (else the posterior), that the evidence points the right way.

    NaN for items without PP3/BP4: there is no direction to agree with.
    """
    p = priority.to_numpy(dtype=float)
    p = np.where(np.isnan(p), posterior.to_numpy(dtype=float), p)
    family = evidence.fillna(NO_EVIDENCE).astype(str).str[:3].to_numpy()
    return np.where(family == "PP3", p, np.where(family == "BP4", 1.0 - p, np.nan))


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in bits of a probability (1 at 0.5, 0 at 0 or 1, NaN stays NaN)."""
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return -(q * np.log2(q) + (1 - q) * np.log2(1 - q))


def describe(
    scored: pd.DataFrame,
    features: pd.DataFrame,
    genes: GeneContext,
    bs1_faf: float = DEFAULT_BS1_FAF,
) -> pd.DataFrame:
    """Every fact the queue orders, filters and explains by: one row per scored row, unranked.

    ``scored`` holds the scorer's result columns
    (:data:`~vipredict.model.scorer.RESULT_COLUMNS`); ``features`` the feature-store
    rows of those variants (frequency columns).
    """
    base = scored.reset_index(drop=True)
    for column in _NUMERIC:  # finalised frames hold pd.NA in object columns for failed rows
        base[column] = pd.to_numeric(base[column], errors="coerce").astype("float64")
    keyed = base["variant"].fillna("").astype(str) != ""
    base["variant"] = base["variant"].astype(object).where(keyed, None)
    aligned = _aligned(features, base["variant"])
    items = pd.concat([base, _frequency_facts(aligned, bs1_faf)], axis=1)
    items["groups_observed"] = groups_observed(aligned)
    items["agreement"] = agreement(items["evidence"], items["priority_score"], items["posterior"])
    gene = items["gene"].astype(object).where(items["gene"].notna(), None)
    items["acmg_sf"] = [genes.in_acmg(g) for g in gene]
    items["gene_validity"] = [genes.validity_of(g) for g in gene]
    established = np.array([genes.established(g) for g in gene], dtype=bool)
    weighted = items["points"].to_numpy(dtype=float) * np.nan_to_num(items["agreement"])
    factor = (
        1 + ACMG_WEIGHT * items["acmg_sf"].to_numpy(dtype=float) + VALIDITY_WEIGHT * established
    )
    items["settle"] = np.abs(weighted + items["frequency_points"].to_numpy(dtype=float)) * factor
    uncertain_of = items["priority_score"].to_numpy(dtype=float)
    uncertain_of = np.where(
        np.isnan(uncertain_of), items["score"].to_numpy(dtype=float), uncertain_of
    )
    items["uncertainty"] = binary_entropy(uncertain_of)
    failed = items["error"].fillna("") != ""
    items.loc[failed, ["settle", "uncertainty"]] = np.nan
    return items


# --------------------------------------------------------------------------- ordering


def _sort_keys(items: pd.DataFrame, by: str) -> list[np.ndarray]:
    """Keys for np.lexsort, most significant first (ascending; NaN made last by the caller)."""
    if by == "settle":
        return [
            -items["settle"].to_numpy(dtype=float),
            items["next_level_distance"].to_numpy(dtype=float),
        ]
    if by == "posterior":
        return [-items["posterior"].to_numpy(dtype=float)]
    if by == "uncertainty":
        return [-items["uncertainty"].to_numpy(dtype=float)]
    lr = items["likelihood_ratio"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = np.abs(np.log10(lr))
    return [-np.abs(items["points"].to_numpy(dtype=float)), -strength]


def order(items: pd.DataFrame, by: str) -> np.ndarray:
    """Row positions in queue order: scored rows by ``by``, then failed rows; ties by variant."""
    if by not in ORDERINGS:
        raise QueueInputError("invalid_by", f"by {by!r} is not one of {', '.join(ORDERINGS)}")
    failed = (items["error"].fillna("") != "").to_numpy()
    keys = [np.where(np.isnan(k), np.inf, k) for k in _sort_keys(items, by)]
    variant = items["variant"].fillna("").astype(str).to_numpy()
    # np.lexsort sorts by the last key first.
    return np.lexsort([np.arange(len(items)), variant, *reversed(keys), failed])


def _fmt(value: Any, digits: int = 3) -> str:
    return "NA" if value is None or pd.isna(value) else f"{float(value):.{digits}g}"


def _evidence_part(item: Mapping[str, Any]) -> str:
    if item["evidence"] == NO_EVIDENCE:
        return f"no PP3/BP4 (posterior {_fmt(item['posterior'])})"
    return f"{item['evidence']} ({int(item['points']):+d} pts, posterior {_fmt(item['posterior'])})"


def _context_parts(item: Mapping[str, Any], genes: GeneContext) -> list[str]:
    parts = []
    if not pd.isna(item["agreement"]):
        verb = "agrees" if item["agreement"] >= 0.5 else "disagrees"
        parts.append(f"vipredict-af {verb} ({_fmt(item['agreement'], 2)})")
    if item["frequency_evidence"]:
        parts.append(f"{item['frequency_evidence']} met ({int(item['frequency_points']):+d} pts)")
    else:
        parts.append(f"frequency {item['af_band'].replace('_', ' ')}")
    if item["acmg_sf"]:
        parts.append(f"{genes.acmg.label} gene")
    if item["gene_validity"] != "unknown":
        parts.append(f"ClinGen validity {item['gene_validity']}")
    if isinstance(item["next_level"], str):
        parts.append(f"{_fmt(item['next_level_distance'])} from {item['next_level']}")
    return parts


def _headline(item: Mapping[str, Any], by: str) -> str:
    if by == "settle":
        return f"settle {item['settle']:.2f}"
    if by == "posterior":
        return f"posterior {_fmt(item['posterior'])}"
    if by == "uncertainty":
        return f"uncertainty {item['uncertainty']:.2f} bits"
    return f"{item['evidence']}, LR {_fmt(item['likelihood_ratio'])}"


def reason(item: Mapping[str, Any], by: str, genes: GeneContext) -> str:
    """Why the item is where it is: the ordering value first, then what makes it up."""
    if item["error"]:
        return f"#{item['rank']}: not ranked: {item['error']}"
    parts = [_evidence_part(item), *_context_parts(item, genes)]
    return f"#{item['rank']} by {by}: {_headline(item, by)}; " + "; ".join(parts)


def rank(items: pd.DataFrame, by: str, filters: QueueFilters, genes: GeneContext) -> pd.DataFrame:
    """Filtered items in queue order with ``rank`` (1-based) and a ``reason`` each."""
    kept = items[filters.keep(items)].reset_index(drop=True)
    ranked = kept.iloc[order(kept, by)].reset_index(drop=True)
    ranked["rank"] = np.arange(1, len(ranked) + 1)
    ranked["reason"] = [reason(row, by, genes) for row in ranked.to_dict("records")]
    return ranked[list(ITEM_COLUMNS)]
