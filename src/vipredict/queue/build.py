"""From a set of variants to a stored, ranked queue: the one path the CLI and the service share.

Scoring is the existing path (``predict.predict_file`` / ``predict.score_records``
through ``scoring.Scorer``); this module only adds the queue's facts, order and
reasons (``ranking``) and hands the result to the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vipredict.predict import InputRecord, predict_file, score_records
from vipredict.queue.genes import GeneContext
from vipredict.queue.ranking import QueueFilters, describe, rank
from vipredict.queue.store import QueueStore
from vipredict.scoring import Scorer
from vipredict.serving import DEFAULT_BS1_FAF


@dataclass(frozen=True)
class QueueSpec:
    """How to make a queue: its order, its filters and a name for people."""

    by: str = "settle"
    filters: QueueFilters = field(default_factory=QueueFilters)
    name: str = ""


def models_of(scorer: Scorer) -> dict[str, Any]:
    """Which model versions made the queue (stored with it, so it can be traced)."""
    evidence = scorer.evidence_model
    out = {
        "evidence": {"name": evidence.name, "version": evidence.version, "run_id": evidence.run_id}
    }
    if scorer.priority_model is not None:
        priority = scorer.priority_model
        out["priority"] = {
            "name": priority.name,
            "version": priority.version,
            "run_id": priority.run_id,
        }
    return out


def unique_variants(scored: pd.DataFrame) -> pd.DataFrame:
    """One item per variant (first occurrence): a decision must name exactly one item."""
    keyed = scored["variant"].fillna("").astype(str) != ""
    duplicate = keyed & scored["variant"].duplicated(keep="first")
    return scored[~duplicate].reset_index(drop=True)


def rank_scored(
    scorer: Scorer,
    scored: pd.DataFrame,
    spec: QueueSpec,
    genes: GeneContext,
    bs1_faf: float = DEFAULT_BS1_FAF,
) -> pd.DataFrame:
    """Ranked queue items of scorer output; frequencies come from the feature store."""
    scored = unique_variants(scored)
    keys = scored["variant"].dropna().astype(str)
    features = (
        scorer.store.lookup(dict.fromkeys(keys)).reset_index(drop=True)
        if scorer.store is not None
        else pd.DataFrame()
    )
    thresholds = scorer.evidence_model.calibration.thresholds
    items = describe(scored, features, thresholds, genes, bs1_faf)
    return rank(items, spec.by, spec.filters, genes)


def save_queue(
    store: QueueStore, scorer: Scorer, items: pd.DataFrame, spec: QueueSpec, source: str
) -> str:
    return store.save(
        items,
        name=spec.name or source,
        ordering=spec.by,
        filters=spec.filters.to_dict(),
        source=source,
        models=models_of(scorer),
    )


def queue_from_file(
    scorer: Scorer,
    store: QueueStore,
    path: Path,
    spec: QueueSpec,
    genes: GeneContext,
    fmt: str | None = None,
    build: str = "GRCh37",
    bs1_faf: float = DEFAULT_BS1_FAF,
) -> tuple[str, pd.DataFrame]:
    """Score a VCF/VEP/dbNSFP/TSV file, rank it and store it: (queue id, items)."""
    items = rank_scored(scorer, predict_file(scorer, path, fmt, build), spec, genes, bs1_faf)
    return save_queue(store, scorer, items, spec, path.name), items


def queue_from_records(
    scorer: Scorer,
    store: QueueStore,
    records: list[InputRecord],
    spec: QueueSpec,
    genes: GeneContext,
    source: str,
    bs1_faf: float = DEFAULT_BS1_FAF,
) -> tuple[str, pd.DataFrame]:
    """Rank and store already-parsed records (what the service received): (queue id, items)."""
    items = rank_scored(scorer, score_records(scorer, records), spec, genes, bs1_faf)
    return save_queue(store, scorer, items, spec, source), items
