"""``vipredict train``: features, both models, calibration, MLflow runs and registration.

Each registered model gets one MLflow run recording enough to repeat it from its
id: the configuration, the dataset digest, the code version and seed, the
calibration with its curve, the out-of-fold scores and the feature importance.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd

from vipredict import __version__
from vipredict.config import ModelRole, Settings, get_settings
from vipredict.features.sets import assign_profiles, feature_set_for, load_feature_set
from vipredict.model.leakage import assert_no_shared_variants, assert_sets_disjoint
from vipredict.model.plots import calibration_figure, importance_figure, save_figure
from vipredict.model.registry import (
    CALIBRATION_ARTIFACT,
    CONFIG_ARTIFACT,
    FEATURES_ARTIFACT,
    MODEL_ARTIFACT,
    PIP_REQUIREMENTS,
    PROFILES_ARTIFACT,
    SKOPS_TRUSTED_TYPES,
    git_commit,
    log_dataframe,
    profile_artifact,
    profiles_payload,
    register_champion,
    setup_mlflow,
)
from vipredict.model.training import (
    Fitter,
    TrainedModel,
    TrainingConfig,
    fit_local,
    train_feature_set,
)
from vipredict.progress import Progress, quiet
from vipredict.store.build import build_store
from vipredict.store.partitioned import Store, labelled_rows


def _flatten(prefix: str, values: dict) -> dict:
    return {f"{prefix}{k}": v for k, v in values.items()}


def model_features(trained: TrainedModel) -> list[str]:
    """Every feature the registered model reads: of all its profiles, in feature-set order."""
    names = trained.feature_set.feature_names
    if not trained.profiles:
        return names
    used = {name for profile in trained.profiles for name in profile.feature_names}
    return [name for name in names if name in used]


def log_profiles(trained: TrainedModel, train: pd.DataFrame) -> None:
    """Each profile's text model, calibration, features and sizes (artifacts and metrics)."""
    used = trained.rows_used if trained.rows_used is not None else np.ones(len(train), bool)
    rows = train[used]
    labels = rows["label"].to_numpy(dtype=int)
    entries = []
    for profile in trained.profiles:
        name = profile.profile.name
        mlflow.log_text(profile.model.booster_.model_to_string(), profile_artifact(name))
        entries.append(
            {
                "name": name,
                "description": profile.profile.description,
                "sources": list(profile.profile.sources),
                "feature_names": profile.feature_names,
                "calibration": profile.calibration.to_dict(),
                "uncapped_thresholds": profile.uncapped_thresholds,
                "n_train": len(rows),
                "n_train_pathogenic": int(labels.sum()),
                "n_carrying_every_source": int(profile.carried.sum()),
                "oof_auroc_gene_grouped": profile.oof_auroc,
            }
        )
        mlflow.log_metrics(
            {
                f"profile_{name}_n_carrying": int(profile.carried.sum()),
                f"profile_{name}_oof_auroc": profile.oof_auroc,
            }
        )
        log_dataframe(
            pd.DataFrame(
                {
                    "variant": rows["variant"].to_numpy(),
                    "label": labels,
                    "carried_every_source": profile.carried,
                    "oof_score": profile.oof_scores,
                }
            ),
            f"profiles/{name}_oof_scores.tsv",
        )
    mlflow.log_dict(profiles_payload(entries), PROFILES_ARTIFACT)


def log_trained_model(
    trained: TrainedModel, train: pd.DataFrame, config: TrainingConfig, settings: Settings
) -> tuple[str, str]:
    """One MLflow run per registered model; returns (run id, registered version)."""
    client = setup_mlflow(settings)
    feature_set = trained.feature_set
    names = model_features(trained)
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
                **_flatten("", {k: v for k, v in config.to_dict().items() if k != "lightgbm"}),
                **_flatten("lgbm.", config.lightgbm),
                "n_features": len(names),
                "feature_set": feature_set.name,
            }
        )
        dataset = train[["variant", "gene", *names, "label"]].astype({"gene": str, "variant": str})
        name = "+".join(sorted(set(train["dataset"].astype(str))))  # e.g. clingen_2019
        mlflow.log_input(
            mlflow.data.from_pandas(dataset, name=name, targets="label"), context="training"
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
        if trained.profiles:
            log_profiles(trained, train)
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
        title = f"{feature_set.registered_model}: feature importance"
        importance = importance_figure(trained.feature_importance, title)
        mlflow.log_figure(importance, "importance/feature_importance.png")
        plot = settings.reports_dir / f"calibration_{feature_set.name}.png"
        save_figure(importance, settings.reports_dir / f"importance_{feature_set.name}.png")
        save_figure(calibration_figure(trained.calibration), plot)
        mlflow.log_artifact(str(plot), "calibration")
        first = trained.profiles[0].feature_names if trained.profiles else names
        example = train[first].head(5).astype("float64")
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
    progress: Progress = quiet,
    rebuild_features: bool = True,
) -> TrainingOutcome:
    """Build the store (unless told not to), then train, calibrate and register every set."""
    settings = settings or get_settings()
    if rebuild_features:
        build_store(settings, progress)
    store = Store.open(settings)
    train = labelled_rows(store, config.train_dataset)
    test = labelled_rows(store, config.test_dataset)
    assert_sets_disjoint(config.train_dataset, config.test_dataset)  # the files, before the store
    assert_no_shared_variants(train, test)  # the rows trained on, before any de-duplication
    progress(
        f"training on {len(train):,} variants of ClinGen {config.train_dataset} "
        f"({int(train['label'].sum()):,} P/LP); ClinGen {config.test_dataset} kept for validation"
    )
    unlabelled = unlabelled_rows(config, store, curated=pd.concat([train, test]))
    outcome = TrainingOutcome({}, {}, {}, {})
    with backend_session(config, settings, progress) as fit:
        for name in config.feature_sets:
            feature_set = load_feature_set(name)
            trained = train_feature_set(train, feature_set, config, progress, unlabelled, fit)
            progress(f"{name}: logging and registering {feature_set.registered_model}")
            run_id, version = log_trained_model(trained, train, config, settings)
            outcome.run_ids[name] = run_id
            outcome.versions[name] = version
            outcome.thresholds[name] = trained.calibration.thresholds
            outcome.oof_auroc[name] = trained.oof_auroc
    return outcome


def unlabelled_rows(
    config: TrainingConfig, store: Store, curated: pd.DataFrame
) -> pd.DataFrame | None:
    """The configured unlabelled set: unlabelled, uncurated, annotated enough to be scored.

    A ClinGen variant (training or validation) is never part of it, so neither
    set's labels reach the calibration through the back door, and rows that carry
    no annotation profile in full are left out because they would never receive
    evidence.
    """
    name = config.unlabelled_dataset
    if not name:
        return None
    rows = store.dataset_rows(name, limit=config.unlabelled_max_rows, seed=config.seed)
    if rows.empty:
        raise ValueError(
            f"the feature store {store.root} has no rows of dataset {name!r}; "
            f"add them with `vipredict add-dbnsfp FILE --dataset {name}`"
        )
    keep = (
        rows["label"].isna().to_numpy()
        & ~rows["variant"].isin(curated["variant"]).to_numpy()
        & (assign_profiles(feature_set_for(ModelRole.EVIDENCE).profiles, rows) != "")
    )
    if not keep.any():
        raise ValueError(
            f"none of the {len(rows):,} rows of dataset {name!r} is unlabelled, outside the "
            "ClinGen sets and annotated by enough per-tool scores to be scored"
        )
    return rows[keep].reset_index(drop=True)


def backend_session(
    config: TrainingConfig, settings: Settings, progress: Progress
) -> AbstractContextManager[Fitter]:
    """The fitter of the whole run: in-process, or on one Dask cluster for every fit.

    One cluster serves every fold and both models, so its start-up is paid once.
    """
    if config.backend != "dask":
        return nullcontext(fit_local)
    from vipredict.jobs.dask import dask_fitter  # dask is imported only when asked for

    return dask_fitter(settings, progress)
