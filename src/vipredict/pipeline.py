"""The end-to-end jobs behind ``vipredict train`` and ``vipredict evaluate``.

Each is a sequence of the library's pure steps, with MLflow recording enough
(configuration, dataset digest, code version, seed) to repeat a run from its id.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from vipredict import __version__
from vipredict.calibration import EVIDENCE_CODES, plot_calibration
from vipredict.config import PROJECT_ROOT, Settings, get_settings
from vipredict.evaluation import (
    calibration_holds,
    comparable_rows,
    evaluate_comparators,
    evaluate_predictor,
)
from vipredict.featuresets import load_feature_set
from vipredict.featurestore import PartitionedStore, build_store, labelled_rows, load_store
from vipredict.readers.clingen import read_clingen_set
from vipredict.schema import FUNCTIONAL_SCORES
from vipredict.scoring import has_enough_annotation
from vipredict.tracking import (
    CALIBRATION_ARTIFACT,
    CONFIG_ARTIFACT,
    FEATURES_ARTIFACT,
    MODEL_ARTIFACT,
    PIP_REQUIREMENTS,
    SKOPS_TRUSTED_TYPES,
    LoadedModel,
    champion_version,
    load_champion,
    log_dataframe,
    register_champion,
    setup_mlflow,
)
from vipredict.training import (
    TrainedModel,
    TrainingConfig,
    assert_no_leakage,
    mask_sources,
    train_feature_set,
)

Progress = Callable[[str], None]


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def flatten(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in values.items()}


def _importance_figure(trained: TrainedModel):
    top = trained.feature_importance.head(20).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh(top["feature"], top["gain"])
    ax.set_xlabel("total gain")
    ax.set_title(f"{trained.feature_set.registered_model}: feature importance")
    fig.tight_layout()
    return fig


def log_trained_model(
    trained: TrainedModel, train: pd.DataFrame, config: TrainingConfig, settings: Settings
) -> tuple[str, str]:
    """One MLflow run per registered model; returns (run id, registered version)."""
    client = setup_mlflow(settings)
    feature_set = trained.feature_set
    names = feature_set.feature_names
    with mlflow.start_run(run_name=f"train-{feature_set.name}") as run:
        mlflow.set_tags(
            {
                "vipredict.version": __version__,
                "mlflow.source.git.commit": git_commit(),
                "feature_set": feature_set.name,
                "emits_evidence": str(feature_set.emits_evidence),
            }
        )
        mlflow.log_params(
            {
                **flatten("", {k: v for k, v in config.to_dict().items() if k != "lightgbm"}),
                **flatten("lgbm.", config.lightgbm),
                "n_features": len(names),
                "feature_set": feature_set.name,
            }
        )
        dataset = train[["variant", "gene", *names, "label"]].astype({"gene": str, "variant": str})
        mlflow.log_input(
            mlflow.data.from_pandas(
                dataset, name=f"clingen_{config.train_dataset}", targets="label"
            ),
            context="training",
        )
        thresholds = trained.calibration.thresholds
        mlflow.log_metrics(
            {
                "oof_auroc_gene_grouped": trained.oof_auroc,
                "n_train": len(train),
                "n_train_pathogenic": int(train["label"].sum()),
                "n_unlabelled": trained.calibration.n_unlabelled,
                **{f"threshold_{k}": v for k, v in thresholds.items() if v is not None},
            }
        )
        mlflow.log_dict(config.to_dict(), CONFIG_ARTIFACT)
        mlflow.log_dict(
            {
                "feature_names": names,
                "emits_evidence": feature_set.emits_evidence,
                "feature_set": feature_set.name,
            },
            FEATURES_ARTIFACT,
        )
        mlflow.log_dict(trained.calibration.to_dict(), CALIBRATION_ARTIFACT)
        mlflow.log_dict(trained.uncapped_thresholds, "calibration/uncapped_thresholds.json")
        curve = pd.DataFrame(
            {
                "score": trained.calibration.grid,
                "posterior": trained.calibration.posterior,
                "posterior_lower": trained.calibration.posterior_lower,
                "posterior_upper": trained.calibration.posterior_upper,
            }
        )
        log_dataframe(curve, "calibration/posterior_curve.tsv")
        log_dataframe(trained.feature_importance, "importance/feature_importance.tsv")
        log_dataframe(
            pd.DataFrame(
                {
                    "variant": train["variant"],
                    "label": train["label"],
                    "oof_score": trained.oof_scores,
                }
            ),
            "calibration/oof_scores.tsv",
        )
        figure = _importance_figure(trained)
        mlflow.log_figure(figure, "importance/feature_importance.png")
        plt.close(figure)
        plot_path = settings.reports_dir / f"calibration_{feature_set.name}.png"
        plot_calibration(trained.calibration, plot_path)
        mlflow.log_artifact(str(plot_path), "calibration")
        example = train[names].head(5).astype("float64")
        mlflow.lightgbm.log_model(
            trained.model,
            name=MODEL_ARTIFACT,
            input_example=example,
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pip_requirements=PIP_REQUIREMENTS,
        )
        run_id = run.info.run_id
    version = register_champion(client, run_id, feature_set.registered_model)
    return run_id, version


@dataclass
class TrainingOutcome:
    run_ids: dict[str, str]
    versions: dict[str, str]
    thresholds: dict[str, dict[str, float | None]]
    oof_auroc: dict[str, float]


def run_training(
    config: TrainingConfig,
    settings: Settings | None = None,
    progress: Progress = lambda _: None,
    rebuild_features: bool = True,
) -> TrainingOutcome:
    settings = settings or get_settings()
    table = build_store(settings, progress) if rebuild_features else load_store(settings)
    train = labelled_rows(table, config.train_dataset)
    test = labelled_rows(table, config.test_dataset)
    assert_no_leakage(train, test)
    progress(
        f"training on {len(train):,} variants of ClinGen {config.train_dataset} "
        f"({int(train['label'].sum()):,} P/LP); hold-out {config.test_dataset} untouched"
    )
    unlabelled = unlabelled_rows(config, settings, curated=pd.concat([train, test]))
    outcome = TrainingOutcome({}, {}, {}, {})
    with backend_session(config, settings, progress):
        for name in config.feature_sets:
            feature_set = load_feature_set(name)
            trained = train_feature_set(train, feature_set, config, progress, unlabelled)
            progress(f"{name}: logging and registering {feature_set.registered_model}")
            run_id, version = log_trained_model(trained, train, config, settings)
            outcome.run_ids[name] = run_id
            outcome.versions[name] = version
            outcome.thresholds[name] = trained.calibration.thresholds
            outcome.oof_auroc[name] = trained.oof_auroc
    return outcome


def unlabelled_rows(
    config: TrainingConfig, settings: Settings, curated: pd.DataFrame
) -> pd.DataFrame | None:
    """The configured unlabelled set: unlabelled, uncurated, annotated enough to be scored.

    A ClinGen variant (training or hold-out) is never part of it, so neither
    set's labels reach the calibration through the back door, and rows with too
    few per-tool scores are left out because they would never receive evidence.
    """
    name = config.unlabelled_dataset
    if not name:
        return None
    store = PartitionedStore.open(settings)
    rows = store.dataset_rows(name, store.columns, config.unlabelled_max_rows, config.seed)
    if rows.empty:
        raise ValueError(
            f"the feature store {store.root} has no rows of dataset {name!r}; "
            f"add them with `vipredict add-dbnsfp FILE --dataset {name}`"
        )
    keep = (
        rows["label"].isna().to_numpy()
        & ~rows["variant"].isin(curated["variant"]).to_numpy()
        & has_enough_annotation(rows)
    )
    if not keep.any():
        raise ValueError(
            f"none of the {len(rows):,} rows of dataset {name!r} is unlabelled, outside the "
            "ClinGen sets and annotated by enough per-tool scores to be scored"
        )
    return rows[keep].reset_index(drop=True)


def backend_session(
    config: TrainingConfig, settings: Settings, progress: Progress
) -> AbstractContextManager:
    """The Dask cluster for the whole run when ``config.backend`` is ``dask``; nothing otherwise.

    One cluster serves every fold and both models, so its start-up is paid once.
    """
    if config.backend != "dask":
        return nullcontext()
    from vipredict.distributed import training_session  # dask is imported only when asked for

    return training_session(settings, progress)


def champions_exist(settings: Settings | None = None) -> bool:
    client = setup_mlflow(settings)
    names = [load_feature_set(n).registered_model for n in ("noaf", "af")]
    return all(champion_version(client, name) is not None for name in names)


def holdout_table(config_test: str, settings: Settings) -> pd.DataFrame:
    """Hold-out features joined with the comparators' raw scores (which are never features)."""
    table = load_store(settings)
    test = labelled_rows(table, config_test)
    comparators = read_clingen_set(config_test)[
        [
            "variant",
            "revel_score",
            "bayesdel_noaf_score",
            "mutpred2_score",
            "vest4_score",
            "cadd_phred",
        ]
    ]
    overlap = [c for c in comparators.columns if c != "variant" and c in test.columns]
    return test.drop(columns=overlap).merge(comparators, on="variant", how="left")


def evaluate_model(model: LoadedModel, rows: pd.DataFrame, gene_disjoint: np.ndarray) -> dict:
    """A registered model's metrics, with evidence withheld where the scorer withholds it."""
    metrics = evaluate_predictor(
        model.predict(rows),
        rows["label"].to_numpy(dtype=int),
        model.calibration.thresholds,
        gene_disjoint,
        eligible=has_enough_annotation(rows),
    )
    metrics["calibration_holds"] = calibration_holds(metrics)
    return metrics


def masking_robustness(
    model: LoadedModel, holdout: pd.DataFrame, gene_disjoint: np.ndarray
) -> dict:
    """Hold-out metrics of the evidence model with each non-core annotation source blanked.

    Conservation and the amino-acid change are core (every pipeline has them);
    each per-tool score is a source a user's annotation may lack.
    """
    sources = [c for c in FUNCTIONAL_SCORES if c in model.feature_names]
    scenarios = {f"without_{c}": [c] for c in sources} | {"core_only": sources}
    out = {}
    for scenario, columns in scenarios.items():
        out[scenario] = evaluate_model(model, mask_sources(holdout, columns), gene_disjoint)
    return out


def run_evaluation(settings: Settings | None = None, progress: Progress = lambda _: None) -> dict:
    settings = settings or get_settings()
    config = TrainingConfig.from_toml()
    models = {
        name: load_champion(load_feature_set(name).registered_model, settings)
        for name in ("noaf", "af")
    }
    holdout = holdout_table(config.test_dataset, settings)
    train_genes = set(labelled_rows(load_store(settings), config.train_dataset)["gene"])
    same_rows = comparable_rows(holdout)
    rows = holdout[same_rows].reset_index(drop=True)
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
    report = {
        "dataset": f"clingen_{config.test_dataset}",
        "n": len(rows),
        "n_pathogenic": int(labels.sum()),
        "n_holdout_total": len(holdout),
        "levels": list(EVIDENCE_CODES),
        "models": results,
        "missing_source_robustness": masking_robustness(models["noaf"], rows, disjoint),
    }
    log_evaluation(report)
    return report


def log_evaluation(report: dict) -> None:
    with mlflow.start_run(run_name="evaluate-holdout"):
        mlflow.set_tag("mlflow.source.git.commit", git_commit())
        metrics = {}
        for name, values in report["models"].items():
            metrics[f"{name}.auroc"] = values["auroc"]
            metrics[f"{name}.auroc_gene_disjoint"] = values["auroc_gene_disjoint"]
            for level, share in values["coverage"].items():
                if share is not None:
                    metrics[f"{name}.coverage.{level}"] = share
        mlflow.log_metrics(metrics)
        mlflow.log_dict(report, "evaluation/holdout.json")
