"""``vipredict audit``: score every labelled set, group it by ancestry and AF, measure, report.

The evidence comes from the registered ``vipredict-noaf`` champion through
:func:`vipredict.model.scorer.load_scorer` (the same path as ``predict`` and the
service), so the audit judges exactly the evidence a user would receive.

``labelled`` (``vipredict audit --labelled FILE``) audits a researcher's own labelled
file instead of the declared sets (:mod:`vipredict.audit.labelled`): scored as
``vipredict predict`` scores it, grouped by the frequencies it carries. The 1000
Genomes view is about the model, not the file, and is left out of such a report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from vipredict.audit.genotypes import healthy_view
from vipredict.audit.groups import GROUPINGS, assign_groups, group_order
from vipredict.audit.labelled import labelled_sets, read_extra_sites, read_labelled
from vipredict.audit.metrics import (
    DEFAULT_BOOTSTRAPS,
    GroupData,
    group_metrics,
    reliability_bins,
    withheld_reason,
)
from vipredict.audit.report import write_report
from vipredict.audit.result import AuditResult, default_output
from vipredict.audit.sets import (
    LABELLED_SETS,
    SCORE_COLUMNS,
    SPLIT_TEXT,
    AuditRows,
    clingen_with_frequency_vcf,
    load_set,
)
from vipredict.config import Settings, get_settings
from vipredict.model.registry import setup_mlflow
from vipredict.model.scorer import Scorer, load_scorer

Progress = Callable[[str], None]
ARTIFACT_PATH = "audit"
#: Groupings whose per-group reliability curves are drawn (the others overlap them).
RELIABILITY_GROUPINGS = ("all", "grpmax_group")


def score_sets(scorer: Scorer, sets: list[AuditRows]) -> pd.DataFrame:
    """Evidence of every audited variant, scored once even when several sets share it."""
    assert scorer.store is not None
    keys = list(dict.fromkeys(k for s in sets for k in s.rows["variant"].astype(str)))
    features = scorer.store.lookup(keys).reset_index(drop=True)
    scored = scorer.score_features(features)
    return scored.set_index("variant")[list(SCORE_COLUMNS)]


def audited_rows(audit: AuditRows, scores: pd.DataFrame, membership: pd.DataFrame) -> pd.DataFrame:
    """The set's rows with their evidence and their single-valued group labels."""
    rows = audit.rows[["variant", "gene", "label", "split"]].join(scores, on="variant")
    for grouping in ("grpmax_group", "af_band"):
        chosen = membership[membership["grouping"] == grouping].set_index("row")["group"]
        rows[grouping] = chosen.reindex(range(len(rows))).to_numpy()
    return rows.assign(labelled_set=audit.spec.name)


def _tasks(
    name: str, rows: pd.DataFrame, membership: pd.DataFrame
) -> list[tuple[dict, np.ndarray]]:
    """(key, row positions) of every split x grouping x group of one set, in display order."""
    membership = membership.assign(split=rows["split"].to_numpy()[membership["row"].to_numpy()])
    rank = {g: i for i, g in enumerate(group_order())}
    tasks = []
    for (split, grouping), chosen in membership.groupby(["split", "grouping"], sort=False):
        for group in sorted(chosen["group"].unique(), key=lambda g: rank.get(g, len(rank))):
            key = {"labelled_set": name, "split": split, "grouping": grouping, "group": group}
            tasks.append((key, chosen.loc[chosen["group"] == group, "row"].to_numpy()))
    order = {g: i for i, g in enumerate(GROUPINGS)}
    return sorted(tasks, key=lambda task: (task[0]["split"], order[task[0]["grouping"]]))


def measure(
    sets: list[AuditRows],
    scores: pd.DataFrame,
    n_bootstrap: int,
    seed: int,
    show_progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Metrics of every group (one bootstrap stream per group, reproducible from ``seed``)."""
    tasks, variants = [], []
    for audit in sets:
        membership = assign_groups(audit.freq, audit.spec.prefix)
        rows = audited_rows(audit, scores, membership)
        variants.append(rows)
        tasks += [(key, rows, at) for key, at in _tasks(audit.spec.name, rows, membership)]
    records, curves = [], []
    progress = tqdm(
        tasks, desc="audit groups (bootstrap CIs)", unit="group", disable=not show_progress
    )
    for index, (key, rows, positions) in enumerate(progress):
        subset = rows.iloc[positions]
        data = GroupData.from_columns(
            subset["label"].to_numpy(),
            subset["score"].to_numpy(),
            subset["likelihood_ratio"].to_numpy(),
            subset["evidence"].to_numpy(),
        )
        rng = np.random.default_rng([seed, index])
        records.append({**key, **group_metrics(data, n_bootstrap, rng)})
        if key["grouping"] in RELIABILITY_GROUPINGS and not withheld_reason(data, "scored", True):
            curves.append({**key, "points": reliability_bins(data)})
    return pd.DataFrame(records), pd.concat(variants, ignore_index=True), curves


def _set_summary(audit: AuditRows) -> dict:
    split_counts = audit.rows.groupby("split")["label"].agg(["size", "sum"])
    return {
        "name": audit.spec.name,
        "description": audit.spec.description,
        "frequency_dataset": audit.spec.dataset,
        **audit.counts,
        "splits": {
            split: {
                "n": int(row["size"]),
                "n_pathogenic": int(row["sum"]),
                "meaning": SPLIT_TEXT[split],
            }
            for split, row in split_counts.iterrows()
        },
    }


def load_sets(scorer: Scorer, frequency_vcf: Path | None, build: str) -> list[AuditRows]:
    """Every declared labelled set, plus the ClinGen rows against a user VCF when one is given."""
    assert scorer.store is not None
    sets = [load_set(scorer.store, spec) for spec in LABELLED_SETS]
    if frequency_vcf is not None:
        sets.append(clingen_with_frequency_vcf(scorer.store, frequency_vcf, build))
    return sets


def log_to_model_run(output: Path, run_id: str, settings: Settings | None = None) -> None:
    """Attach the whole report folder to the audited model's MLflow run, under ``audit/``."""
    client = setup_mlflow(settings)
    client.log_artifacts(run_id, str(output), artifact_path=ARTIFACT_PATH)


def run_audit(
    output: Path | None = None,
    settings: Settings | None = None,
    n_bootstrap: int = DEFAULT_BOOTSTRAPS,
    seed: int = 0,
    progress: Progress = lambda _: None,
    log_to_mlflow: bool = True,
    show_progress: bool = True,
    frequency_vcf: Path | None = None,
    frequency_build: str = "GRCh37",
    labelled: Path | None = None,
    label_column: str | None = None,
    frequency_dataset: str | None = None,
    build: str | None = None,
) -> tuple[AuditResult, Path]:
    """Run the audit, write the report into ``output`` and log it to the model's run.

    With ``labelled``, only that file is audited; ``frequency_vcf`` then adds a
    sites VCF's frequencies for its variants (read under their own build).
    """
    settings = settings or get_settings()
    output = Path(output) if output is not None else default_output(settings)
    progress("loading the evidence champion and the feature store")
    scorer = load_scorer(settings)
    healthy = None
    if labelled is not None:
        progress(f"reading and scoring the labelled file {Path(labelled).name}")
        user = read_labelled(Path(labelled), build, label_column, frequency_dataset)
        sets, scores = labelled_sets(scorer, user, read_extra_sites(frequency_vcf, user))
    else:
        progress("reading the labelled sets with per-ancestry frequencies")
        sets = load_sets(scorer, frequency_vcf, frequency_build)
        scores = score_sets(scorer, sets)
    progress(f"measuring groups with {n_bootstrap:,} bootstraps each")
    groups, variants, curves = measure(sets, scores, n_bootstrap, seed, show_progress)
    if labelled is None:
        progress("reading 1000 Genomes genotypes for the healthy-individual view")
        healthy = healthy_view(scorer, n_bootstrap, seed)
    model = scorer.evidence_model
    result = AuditResult(
        model={"name": model.name, "version": model.version, "run_id": model.run_id},
        sets=[_set_summary(audit) for audit in sets],
        groups=groups,
        variants=variants,
        reliability=curves,
        healthy=healthy,
        settings={"n_bootstrap": n_bootstrap, "seed": seed},
    )
    write_report(result, output)
    if log_to_mlflow:
        progress(f"logging {output} to MLflow run {model.run_id} under {ARTIFACT_PATH}/")
        log_to_model_run(output, model.run_id, settings)
    return result, output
