"""``vipredict evaluate``: the champions and the comparators on the temporal hold-out.

Every predictor is scored on the same rows (the hold-out variants every
comparator scores), and the report says, level by level, whether each evidence
level holds its ClinGen likelihood ratio there. It is logged as an MLflow run
(``evaluate-holdout``), which the service's model card quotes.
"""

from __future__ import annotations

import mlflow

from vipredict.acmg import EVIDENCE_CODES
from vipredict.config import ModelRole, Settings, feature_set_of, get_settings
from vipredict.model.evaluation import (
    comparable_rows,
    evaluate_comparators,
    evaluate_model,
    holdout_table,
    masking_robustness,
)
from vipredict.model.registry import (
    EVALUATION_ARTIFACT,
    EVALUATION_RUN,
    git_commit,
    load_role,
    setup_mlflow,
)
from vipredict.model.training import TrainingConfig
from vipredict.progress import Progress, quiet
from vipredict.store.partitioned import Store, labelled_rows


def run_evaluation(settings: Settings | None = None, progress: Progress = quiet) -> dict:
    settings = settings or get_settings()
    config = TrainingConfig.from_toml()
    models = {feature_set_of(role): load_role(role, settings) for role in ModelRole}
    store = Store.open(settings)
    holdout = holdout_table(config.test_dataset, store)
    train_genes = set(labelled_rows(store, config.train_dataset)["gene"])
    rows = holdout[comparable_rows(holdout)].reset_index(drop=True)
    progress(
        f"hold-out ClinGen {config.test_dataset}: {len(rows):,} of {len(holdout):,} variants "
        "scored by every comparator"
    )
    labels = rows["label"].to_numpy(dtype=int)
    disjoint = ~rows["gene"].isin(train_genes).to_numpy()
    results: dict[str, dict] = {}
    for name, model in models.items():
        metrics = evaluate_model(model, rows, disjoint)
        metrics["model"] = {"name": model.name, "version": model.version, "run_id": model.run_id}
        results[name] = metrics
    results.update(evaluate_comparators(rows, disjoint))
    progress("masking each non-core annotation source for the evidence model")
    evidence = models[feature_set_of(ModelRole.EVIDENCE)]
    report = {
        "dataset": f"clingen_{config.test_dataset}",
        "n": len(rows),
        "n_pathogenic": int(labels.sum()),
        "n_holdout_total": len(holdout),
        "levels": list(EVIDENCE_CODES),
        "models": results,
        "missing_source_robustness": masking_robustness(evidence, rows, disjoint),
    }
    log_evaluation(report, settings)
    return report


def log_evaluation(report: dict, settings: Settings) -> None:
    setup_mlflow(settings)
    with mlflow.start_run(run_name=EVALUATION_RUN):
        mlflow.set_tag("mlflow.source.git.commit", git_commit())
        metrics = {}
        for name, values in report["models"].items():
            metrics[f"{name}.auroc"] = values["auroc"]
            metrics[f"{name}.auroc_gene_disjoint"] = values["auroc_gene_disjoint"]
            for level, share in values["coverage"].items():
                if share is not None:
                    metrics[f"{name}.coverage.{level}"] = share
        mlflow.log_metrics(metrics)
        mlflow.log_dict(report, EVALUATION_ARTIFACT)
