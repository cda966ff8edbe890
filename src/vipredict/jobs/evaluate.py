"""``vipredict evaluate``: the champions and the comparators on the validation set.

ClinGen 2020 is a **validation** set: it has informed design decisions
(:data:`VALIDATION_DECISIONS`), so its figures are not independent test
results; those come from test sets the team never sees, run on every landing.
Every predictor is scored on the same rows (the 2020 variants every comparator
scores), and the report says, level by level and band by band, whether each
evidence level holds its ClinGen likelihood ratio there. It is logged as an
MLflow run (``evaluate-validation``, tagged ``dataset_role=validation``), which
the service's model card quotes.

``vipredict evaluate --nested`` measures the evidence design on the training set
alone (:mod:`vipredict.model.nested`), the way designs are chosen here.
"""

from __future__ import annotations

from dataclasses import replace

import mlflow

from vipredict.acmg import EVIDENCE_CODES
from vipredict.config import ModelRole, Settings, feature_set_of, get_settings
from vipredict.features.sets import feature_set_for
from vipredict.model.evaluation import (
    comparable_rows,
    evaluate_all,
    guarded_validation,
    masking_robustness,
    rare_variants,
)
from vipredict.model.nested import nested_evaluation
from vipredict.model.registry import (
    EVALUATION_ARTIFACT,
    EVALUATION_RUN,
    git_commit,
    load_role,
    setup_mlflow,
)
from vipredict.model.scorer import load_scorer
from vipredict.model.training import TrainingConfig
from vipredict.model.validation import (
    clingen_matches,
    harmonisation_table,
    validation_in_both_forms,
    vep_annotations,
)
from vipredict.progress import Progress, quiet
from vipredict.store.partitioned import Store, labelled_rows

#: What the report calls its data set: a validation set, never a test set.
DATASET_ROLE = "validation"
#: Each design decision the ClinGen 2020 set informed (the report carries the list, so
#: that every figure from it is read as a validation figure, not an independent one).
VALIDATION_DECISIONS = (
    "Earlier versions: the minimum of 4 per-tool scores (MIN_FUNCTIONAL_SOURCES) was set "
    "after BP4 failed its LR on 2020.",
    "Earlier versions: model version 4 (masked copies balancing each source's missing rate) "
    "was rejected on 2020 and tagged status=rejected.",
    "Earlier versions: masked-copy training and the PP3 cap at Strong came in response to a "
    "2020 run.",
    "Annotation profiles: three designs were run against 2020 (profiles trained on complete "
    "rows only; label-free imputation with six, then eight profiles) before one was kept.",
    "Annotation profiles: the 2020 gap to the single model prompted profiles for the common "
    "missing-source patterns; which ones was chosen by 2019 nested cross-validation alone.",
)


def run_evaluation(settings: Settings | None = None, progress: Progress = quiet) -> dict:
    settings = settings or get_settings()
    config = TrainingConfig.from_toml()
    models = {feature_set_of(role): load_role(role, settings) for role in ModelRole}
    store = Store.open(settings)
    guarded = guarded_validation(store, config.train_dataset, config.test_dataset)
    excluded = {reason: len(keys) for reason, keys in guarded.excluded.items()}
    train_genes = set(labelled_rows(store, config.train_dataset)["gene"])
    rows = guarded.rows[comparable_rows(guarded.rows)].reset_index(drop=True)
    progress(
        f"validation set ClinGen {config.test_dataset}: {guarded.n_total:,} variants, left out "
        f"as related to training variants: {excluded}; {len(rows):,} of the rest scored by "
        "every comparator"
    )
    labels = rows["label"].to_numpy(dtype=int)
    disjoint = ~rows["gene"].isin(train_genes).to_numpy()
    results = evaluate_all(models, rows, disjoint)
    progress("masking each annotation source, and each profile alone, for the evidence model")
    evidence = models[feature_set_of(ModelRole.EVIDENCE)]
    report = {
        "dataset": f"clingen_{config.test_dataset}",
        "role": DATASET_ROLE,
        "decisions_informed": list(VALIDATION_DECISIONS),
        "n": len(rows),
        "n_pathogenic": int(labels.sum()),
        **guarded.report(),
        "levels": list(EVIDENCE_CODES),
        "models": results,
        "rare_variants": rare_variants(models, rows, disjoint),
        "missing_source_robustness": masking_robustness(evidence, rows, disjoint),
    }
    log_evaluation(report, settings)
    return report


NESTED_RUN = "evaluate-nested"
NESTED_ARTIFACT = "evaluation/nested.json"


def run_nested_evaluation(
    settings: Settings | None = None,
    progress: Progress = quiet,
    outer_folds: int = 5,
    n_bootstrap: int | None = None,
) -> dict:
    """2019 nested gene-grouped CV of the evidence profiles and the earlier single model.

    ``n_bootstrap`` overrides the configuration's (each outer fold calibrates
    every profile, so fewer bootstraps keep the run within minutes).
    """
    settings = settings or get_settings()
    config = TrainingConfig.from_toml()
    if n_bootstrap is not None:
        config = replace(config, n_bootstrap=n_bootstrap)
    store = Store.open(settings)
    train = labelled_rows(store, config.train_dataset).drop_duplicates("variant")
    evidence = feature_set_for(ModelRole.EVIDENCE)
    report = nested_evaluation(
        train.reset_index(drop=True), evidence, config, outer_folds, progress=progress
    )
    report |= {"dataset": f"clingen_{config.train_dataset}", "n_bootstrap": config.n_bootstrap}
    setup_mlflow(settings)
    with mlflow.start_run(run_name=NESTED_RUN):
        mlflow.set_tag("mlflow.source.git.commit", git_commit())
        mlflow.log_dict(report, NESTED_ARTIFACT)
    return report


VEP_RUN = "evaluate-vep-format"
VEP_ARTIFACT = "evaluation/vep_format.json"


def run_vep_validation(settings: Settings | None = None, progress: Progress = quiet) -> dict:
    """Harmonisation on the VEP rows also in the training set; validation on those in 2020.

    The VEP rows in neither ClinGen set are never read into a figure here (an
    independent test set run elsewhere on every landing).
    """
    settings = settings or get_settings()
    config = TrainingConfig.from_toml()
    scorer = load_scorer(settings, with_priority=False)
    vep = vep_annotations()
    progress(f"VEP + dbNSFP tables: {len(vep):,} variants read")
    training = clingen_matches(config.train_dataset, vep)
    validation = clingen_matches(config.test_dataset, vep)
    store = Store.open(settings)
    train_genes = set(labelled_rows(store, config.train_dataset)["gene"])
    progress(
        f"{len(training):,} are in ClinGen {config.train_dataset} (harmonisation), "
        f"{len(validation):,} in ClinGen {config.test_dataset} (validation)"
    )
    report = {
        "harmonisation": {
            "dataset": f"clingen_{config.train_dataset}",
            "n": len(training),
            "features": harmonisation_table(training).to_dict(orient="records"),
        },
        "validation": {"dataset": f"clingen_{config.test_dataset}"}
        | validation_in_both_forms(scorer, validation, train_genes),
    }
    setup_mlflow(settings)
    with mlflow.start_run(run_name=VEP_RUN):
        mlflow.set_tag("mlflow.source.git.commit", git_commit())
        mlflow.log_dict(report, VEP_ARTIFACT)
    return report


def log_evaluation(report: dict, settings: Settings) -> None:
    setup_mlflow(settings)
    with mlflow.start_run(run_name=EVALUATION_RUN):
        mlflow.set_tag("mlflow.source.git.commit", git_commit())
        mlflow.set_tag("dataset_role", report["role"])
        metrics = {}
        for name, values in report["models"].items():
            metrics[f"{name}.auroc"] = values["auroc"]
            metrics[f"{name}.auroc_gene_disjoint"] = values["auroc_gene_disjoint"]
            for level, share in values["coverage"].items():
                if share is not None:
                    metrics[f"{name}.coverage.{level}"] = share
        mlflow.log_metrics(metrics)
        mlflow.log_dict(report, EVALUATION_ARTIFACT)
