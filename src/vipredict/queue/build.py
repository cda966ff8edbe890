"""From a set of variants to a stored, ranked queue: the one path the CLI and the service share.

Scoring is the one path every command takes (:meth:`Scorer.score_inputs` /
:meth:`Scorer.score_records`); this module only adds the queue's facts, order and
reasons (``ranking``) and hands the result to the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vipredict.io.inputs import DEFAULT_BUILD, InputRecord, Inputs, read_inputs
from vipredict.model.scorer import Scorer
from vipredict.queue.genes import GeneContext
from vipredict.queue.ranking import QueueFilters, describe, rank
from vipredict.queue.store import QueueStore


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
    features: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Ranked queue items of scorer output.

    Frequencies come from ``features``, the rows the results were scored from
    (:attr:`Scored.features`), else from the feature store.
    """
    scored = unique_variants(scored)
    if features is None:
        keys = [k for k in scored["variant"].fillna("").astype(str) if k]
        features = (
            scorer.store.lookup(list(dict.fromkeys(keys)))
            if scorer.store is not None and keys
            else pd.DataFrame()
        )
    items = describe(scored, features, genes, scorer.bs1_faf)
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
    build: str = DEFAULT_BUILD,
) -> tuple[str, pd.DataFrame]:
    """Score a VCF/VEP/dbNSFP/TSV file, rank it and store it: (queue id, items)."""
    scored = scorer.score(read_inputs(path, fmt, build))
    items = rank_scored(scorer, scored.results, spec, genes, scored.features)
    return save_queue(store, scorer, items, spec, path.name), items


def queue_from_records(
    scorer: Scorer,
    store: QueueStore,
    records: list[InputRecord],
    spec: QueueSpec,
    genes: GeneContext,
    source: str,
) -> tuple[str, pd.DataFrame]:
    """Rank and store already-parsed records (what the service received): (queue id, items)."""
    scored = scorer.score(Inputs(records))
    items = rank_scored(scorer, scored.results, spec, genes, scored.features)
    return save_queue(store, scorer, items, spec, source), items
