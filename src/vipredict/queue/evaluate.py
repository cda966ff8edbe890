"""Measuring the queue: does its head hold variants whose evidence settles them correctly?

On the 2020 ClinGen validation set (the rows ``vipredict evaluate`` compares on),
the queue is built with the label columns removed. Only afterwards are labels
read, to count, among the first 100/500/1,000 items, the share with *decisive,
correct* evidence: any PP3 level on a P/LP variant or any BP4 level on a B/LB
variant (``top_k``), and the same at Moderate or stronger (``top_k_moderate``).

Three queues face each other on the same rows:

* ``vipredict``: the default ``settle`` order, judged by vipredict-noaf evidence;
* ``revel``: REVEL's published ClinGen levels (Pejaver et al. 2022), strongest
  first, then by how far the score is past the Supporting threshold, judged by
  REVEL's own evidence (what a curator using REVEL would apply);
* ``random``: the rows in a seeded random order (mean of 100 shuffles), judged
  by vipredict-noaf evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from vipredict.acmg import assign_evidence, evidence_points
from vipredict.config import Settings, get_settings
from vipredict.model.evaluation import (
    comparable_rows,
    guarded_validation,
    published_thresholds,
    thresholds_of,
)
from vipredict.model.registry import git_commit, setup_mlflow
from vipredict.model.scorer import Scorer, load_scorer
from vipredict.model.training import TrainingConfig
from vipredict.progress import Progress, quiet
from vipredict.queue.build import models_of
from vipredict.queue.genes import GeneContext, load_gene_context
from vipredict.queue.ranking import ORDERINGS, QueueFilters, describe, rank
from vipredict.schema import LABEL_COLUMNS
from vipredict.store.partitioned import Store

TOP_K = (100, 500, 1000)
N_SHUFFLES = 100
SEED = 2020
DEFINITIONS = {
    "decisive_correct": "any PP3 level (>= +1 point) on a P/LP variant, or any BP4 level "
    "(<= -1 point) on a B/LB variant",
    "decisive_correct_moderate": "PP3 Moderate or stronger on a P/LP variant, or BP4 Moderate "
    "or stronger on a B/LB variant",
    "f": "fraction of the first k queue items whose evidence is decisive and correct",
    "vipredict": "default `settle` order built with labels hidden; vipredict-noaf evidence",
    "revel": "REVEL published ClinGen levels, strongest first, then distance past the "
    "Supporting threshold; REVEL's own evidence",
    "random": f"seeded random order, mean of {N_SHUFFLES} shuffles; vipredict-noaf evidence",
}


def decisive_correct(codes: Sequence[str], labels: np.ndarray, min_points: int = 1) -> np.ndarray:
    """Whether each item's evidence is at least ``min_points`` strong and agrees with its label."""
    points = evidence_points(codes)
    return ((points >= min_points) & (labels == 1)) | ((points <= -min_points) & (labels == 0))


def head_share(correct_in_order: np.ndarray, k: int) -> float:
    return float(correct_in_order[:k].mean())


def holdout_rows(store: Store) -> tuple[pd.DataFrame, str]:
    """The validation rows every comparator scores: the rows of ``vipredict evaluate``."""
    config = TrainingConfig.from_toml()
    rows = guarded_validation(store, config.train_dataset, config.test_dataset).rows
    return rows[comparable_rows(rows)].reset_index(drop=True), f"clingen_{config.test_dataset}"


def hidden_items(scorer: Scorer, rows: pd.DataFrame, genes: GeneContext) -> pd.DataFrame:
    """Unranked queue items of ``rows``, scored and described without any label column."""
    hidden = rows.drop(columns=[c for c in LABEL_COLUMNS if c in rows.columns])
    return describe(scorer.results_of(hidden), hidden, genes, scorer.bs1_faf)


def revel_queue(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(row order, REVEL evidence codes) of the REVEL-ordered queue."""
    entry = published_thresholds()["REVEL"]
    thresholds = thresholds_of(entry)
    scores = rows[entry["column"]].to_numpy(dtype=float)
    codes = assign_evidence(scores, thresholds)
    past = np.maximum(scores - thresholds["PP3_Supporting"], thresholds["BP4_Supporting"] - scores)
    variant = rows["variant"].astype(str).to_numpy()
    order = np.lexsort([variant, -past, -np.abs(evidence_points(codes))])
    return order, codes


def random_share(correct: np.ndarray, k: int, shuffles: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    return float(
        np.mean([correct[rng.permutation(len(correct))[:k]].mean() for _ in range(shuffles)])
    )


def _table(correct: dict[str, np.ndarray], random: np.ndarray, shuffles: int, seed: int) -> dict:
    return {
        str(k): {
            **{name: head_share(c, k) for name, c in correct.items()},
            "random": random_share(random, k, shuffles, seed),
        }
        for k in TOP_K
    }


def evaluate_queue(
    settings: Settings | None = None,
    progress: Progress = quiet,
    shuffles: int = N_SHUFFLES,
    seed: int = SEED,
) -> dict[str, Any]:
    """The queue evaluation report (``top_k`` exactly as the issue specifies, extras beside)."""
    settings = settings or get_settings()
    scorer = load_scorer(settings)
    genes = load_gene_context(settings)
    assert scorer.store is not None  # load_scorer attaches the store
    rows, dataset = holdout_rows(scorer.store)
    labels = rows.set_index("variant")["label"].astype(int)
    progress(f"{dataset}: queue of {len(rows):,} validation variants built with labels hidden")
    items = hidden_items(scorer, rows, genes)  # scored once; only the order differs
    queues = {by: rank(items, by, QueueFilters(), genes) for by in ORDERINGS}
    revel_order, revel_codes = revel_queue(rows)
    report_tables = {}
    for name, min_points in (("top_k", 1), ("top_k_moderate", 2)):
        vip = queues["settle"]
        correct = {
            "vipredict": decisive_correct(
                vip["evidence"], labels.loc[vip["variant"]].to_numpy(), min_points
            ),
            "revel": decisive_correct(revel_codes, rows["label"].to_numpy(dtype=int), min_points)[
                revel_order
            ],
        }
        # A random order of the same items: any order of vipredict's outcomes will do.
        report_tables[name] = _table(correct, correct["vipredict"], shuffles, seed)
    progress("scoring the alternative orders")
    others = {
        by: {
            str(k): head_share(
                decisive_correct(q["evidence"], labels.loc[q["variant"]].to_numpy()), k
            )
            for k in TOP_K
        }
        for by, q in queues.items()
        if by != "settle"
    }
    report = {
        **report_tables,
        "other_orderings": others,
        "definitions": DEFINITIONS,
        "dataset": dataset,
        "n": len(rows),
        "n_pathogenic": int(labels.sum()),
        "labels_hidden": True,
        "random": {"shuffles": shuffles, "seed": seed},
        "models": models_of(scorer),
        "gene_lists": {
            "acmg_sf": {"label": genes.acmg.label, "doi": genes.acmg.doi},
            "clingen_validity": genes.validity_source
            or "unknown: no ClinGen gene-validity export (none in the data mirror)",
        },
    }
    log_queue_evaluation(report, settings)
    return report


def log_queue_evaluation(report: dict[str, Any], settings: Settings) -> None:
    """The report as an MLflow run beside ``evaluate-validation``."""
    setup_mlflow(settings)
    with mlflow.start_run(run_name="evaluate-queue"):
        mlflow.set_tag("mlflow.source.git.commit", git_commit())
        mlflow.log_metrics(
            {
                f"{table}.{k}.{name}": value
                for table in ("top_k", "top_k_moderate")
                for k, shares in report[table].items()
                for name, value in shares.items()
            }
        )
        mlflow.log_dict(report, "evaluation/queue.json")
