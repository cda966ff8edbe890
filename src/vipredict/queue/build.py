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

from vipredict.io.inputs import Inputs, read_inputs, with_sites_frequencies
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
    store: QueueStore,
    scorer: Scorer,
    items: pd.DataFrame,
    spec: QueueSpec,
    source: str,
    features: pd.DataFrame | None = None,
) -> str:
    """Store the ranked items with the models that made them and the rows they were scored
    from (``features``: :attr:`Scored.features`), so a later model version can score the
    same inputs again, an upload's own annotations included."""
    return store.save(
        items,
        name=spec.name or source,
        ordering=spec.by,
        filters=spec.filters.to_dict(),
        source=source,
        models=models_of(scorer),
        features=features,
    )


def queue_from_file(
    scorer: Scorer,
    store: QueueStore,
    path: Path,
    spec: QueueSpec,
    genes: GeneContext,
    fmt: str | None = None,
    build: str | None = None,
    frequencies: Path | None = None,
) -> tuple[str, pd.DataFrame]:
    """Score a VCF (plain or VEP CSQ)/VEP/dbNSFP/TSV file, rank it and store it: (queue id, items).

    ``build`` None: a VCF's header decides, else GRCh37 (see :func:`read_inputs`);
    ``frequencies``: a gnomAD/ExAC sites VCF for BA1/BS1/PM2 of the file's variants.
    """
    inputs = with_sites_frequencies(read_inputs(path, fmt, build), frequencies)
    return queue_from_inputs(scorer, store, inputs, spec, genes, path.name)


def queue_from_inputs(
    scorer: Scorer,
    store: QueueStore,
    inputs: Inputs,
    spec: QueueSpec,
    genes: GeneContext,
    source: str,
) -> tuple[str, pd.DataFrame]:
    """Rank and store already-read inputs (an upload, with its own annotations if it has
    them, such as a VEP VCF's CSQ): (queue id, items)."""
    scored = scorer.score(inputs)
    items = rank_scored(scorer, scored.results, spec, genes, scored.features)
    return save_queue(store, scorer, items, spec, source, scored.features), items
