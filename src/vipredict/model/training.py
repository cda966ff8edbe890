"""Training: gene-grouped out-of-fold scores, a final LightGBM model, its calibration.

Calibration must see scores the model did not train on, so the 2019 set is split
into folds *by gene* (a gene's variants share labels' context; letting them
straddle folds inflates the out-of-fold scores, type-2 circularity). The
calibrated thresholds from those out-of-fold scores are then attached to a final
model fitted on the whole 2019 set.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from vipredict.acmg import EVIDENCE_CODES, LEVELS
from vipredict.config import training_config_file
from vipredict.features.functional import FunctionalFeatures
from vipredict.features.sets import FeatureSet
from vipredict.model.calibration import CalibrationResult, LocalPosteriorCalibrator
from vipredict.progress import Progress, quiet
from vipredict.schema import FUNCTIONAL_SCORES

#: Where each LightGBM model is fitted: in this process, or on a Dask cluster
#: (:mod:`vipredict.jobs.dask`); everything around the fit is the same either way.
BACKENDS = ("local", "dask")


class LeakageError(RuntimeError):
    """Training and hold-out share a variant: every hold-out figure would be optimistic."""


@dataclass(frozen=True)
class TrainingConfig:
    train_dataset: str
    test_dataset: str
    feature_sets: tuple[str, ...]
    cv_folds: int
    seed: int
    n_bootstrap: int
    mask_augmentation: bool = True
    pp3_max_level: str = "Strong"
    lightgbm: dict[str, Any] = field(default_factory=dict)
    backend: str = "local"
    unlabelled_dataset: str | None = None
    unlabelled_max_rows: int = 200_000

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"training backend {self.backend!r} is not one of {BACKENDS}")

    @classmethod
    def from_toml(cls, path: Path | None = None) -> TrainingConfig:
        """A configuration file, by default the packaged ``training/default.toml``."""
        text = training_config_file().read_text() if path is None else Path(path).read_text()
        return cls.from_dict(tomllib.loads(text))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainingConfig:
        return cls(
            train_dataset=str(raw["train_dataset"]),
            test_dataset=str(raw["test_dataset"]),
            feature_sets=tuple(raw["feature_sets"]),
            cv_folds=int(raw["cv_folds"]),
            seed=int(raw["seed"]),
            n_bootstrap=int(raw["n_bootstrap"]),
            mask_augmentation=bool(raw.get("mask_augmentation", True)),
            pp3_max_level=str(raw.get("pp3_max_level", "Strong")),
            lightgbm=dict(raw["lightgbm"]),
            backend=str(raw.get("backend", "local")),
            unlabelled_dataset=raw.get("unlabelled_dataset") or None,
            unlabelled_max_rows=int(raw.get("unlabelled_max_rows", 200_000)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_dataset": self.train_dataset,
            "test_dataset": self.test_dataset,
            "feature_sets": list(self.feature_sets),
            "cv_folds": self.cv_folds,
            "seed": self.seed,
            "n_bootstrap": self.n_bootstrap,
            "mask_augmentation": self.mask_augmentation,
            "pp3_max_level": self.pp3_max_level,
            "lightgbm": dict(self.lightgbm),
            "backend": self.backend,
            "unlabelled_dataset": self.unlabelled_dataset or "",
            "unlabelled_max_rows": self.unlabelled_max_rows,
        }


@dataclass
class TrainedModel:
    feature_set: FeatureSet
    model: LGBMClassifier
    oof_scores: np.ndarray
    oof_auroc: float
    calibration: CalibrationResult
    feature_importance: pd.DataFrame
    uncapped_thresholds: dict[str, float | None] = field(default_factory=dict)


def cap_pp3(calibration: CalibrationResult, max_level: str) -> CalibrationResult:
    """Drop PP3 levels stronger than ``max_level`` from the thresholds the model emits.

    Pejaver et al. 2022 recommend applying computational evidence for
    pathogenicity no stronger than Strong: a single predictor must not carry a
    variant to Likely Pathogenic alone, and Very Strong (LR 1124) cannot be
    verified on a hold-out of a few thousand benign variants.
    """
    if max_level not in LEVELS:
        raise ValueError(f"pp3_max_level {max_level!r} is not one of {LEVELS}")
    allowed = LEVELS[: LEVELS.index(max_level) + 1]
    capped = {
        code: (value if not code.startswith("PP3") or code.split("_")[1] in allowed else None)
        for code, value in calibration.thresholds.items()
    }
    assert set(capped) == set(EVIDENCE_CODES)
    return replace(calibration, thresholds=capped)


def assert_no_leakage(train: pd.DataFrame, test: pd.DataFrame) -> None:
    """Refuse to train when a hold-out variant (or its locus) is in the training table."""
    shared = set(train["variant"]) & set(test["variant"])
    if shared:
        example = sorted(shared)[0]
        raise LeakageError(f"{len(shared)} variants are in both train and test, e.g. {example}")


def mask_sources(table: pd.DataFrame, sources: list[str]) -> pd.DataFrame:
    """``table`` as if its annotation lacked ``sources``: values blanked, derived counts redone.

    Blanking a score without recomputing ``functional_n_missing`` would describe a
    variant no real annotation produces; going back through the feature builder
    keeps masked rows honest.
    """
    masked = table.copy()
    masked[sources] = np.nan
    rebuilt = FunctionalFeatures().transform(masked[list(FUNCTIONAL_SCORES)])
    masked[rebuilt.columns] = rebuilt.to_numpy()
    return masked


def with_masked_copies(
    features: pd.DataFrame, labels: np.ndarray, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Training rows plus one copy of each with a random per-tool source blanked.

    Pipelines often lack one annotation source (no MutPred2, no EA...). A model
    that never saw a source missing treats its absence as information and loses
    its calibration; the copies teach it what missing means.
    """
    sources = [c for c in FUNCTIONAL_SCORES if c in features.columns]
    if not sources:
        return features, labels
    rng = np.random.default_rng(seed)
    choice = rng.integers(len(sources), size=len(features))
    copies = []
    for i, source in enumerate(sources):
        rows = features[choice == i]
        copies.append(mask_sources(rows, [source])[features.columns])
    augmented = pd.concat([features, *copies], ignore_index=True)
    copy_labels = np.concatenate([labels[choice == i] for i in range(len(sources))])
    return augmented, np.concatenate([labels, copy_labels])


def new_classifier(config: TrainingConfig) -> LGBMClassifier:
    return LGBMClassifier(random_state=config.seed, **config.lightgbm)


#: Grows one LightGBM model's trees and returns a plain ``LGBMClassifier``: in this
#: process (:func:`fit_local`) or on a Dask cluster (:func:`vipredict.jobs.dask.fit_on_dask`).
Fitter = Callable[[pd.DataFrame, np.ndarray, "TrainingConfig"], LGBMClassifier]


def fit_local(features: pd.DataFrame, labels: np.ndarray, config: TrainingConfig) -> LGBMClassifier:
    return new_classifier(config).fit(features, labels)


def fit_classifier(
    features: pd.DataFrame, labels: np.ndarray, config: TrainingConfig, fit: Fitter = fit_local
) -> LGBMClassifier:
    """The one place a model is fitted (out-of-fold and final), masked copies added.

    Every fitter returns a plain ``LGBMClassifier``: calibration, logging,
    registration and serving never know where the trees were grown.
    """
    if config.mask_augmentation:
        features, labels = with_masked_copies(features, labels, config.seed)
    return fit(features, labels, config)


def gene_grouped_oof_scores(
    features: pd.DataFrame,
    labels: np.ndarray,
    genes: pd.Series,
    config: TrainingConfig,
    fit: Fitter = fit_local,
) -> np.ndarray:
    """Out-of-fold probabilities with folds that never split a gene."""
    folds = StratifiedGroupKFold(n_splits=config.cv_folds, shuffle=True, random_state=config.seed)
    scores = np.full(len(labels), np.nan)
    for fit_idx, score_idx in folds.split(features, labels, groups=genes.astype(str)):
        model = fit_classifier(features.iloc[fit_idx], labels[fit_idx], config, fit)
        scores[score_idx] = model.predict_proba(features.iloc[score_idx])[:, 1]
    return scores


def feature_importance(model: LGBMClassifier, names: list[str]) -> pd.DataFrame:
    booster = model.booster_
    return (
        pd.DataFrame(
            {
                "feature": names,
                "gain": booster.feature_importance(importance_type="gain"),
                "splits": booster.feature_importance(importance_type="split"),
            }
        )
        .sort_values("gain", ascending=False)
        .reset_index(drop=True)
    )


def train_feature_set(
    table: pd.DataFrame,
    feature_set: FeatureSet,
    config: TrainingConfig,
    progress: Progress = quiet,
    unlabelled: pd.DataFrame | None = None,
    fit: Fitter = fit_local,
) -> TrainedModel:
    """Fit one registered model's worth of work on the training rows of ``table``.

    ``unlabelled`` rows (never labelled, never trained on) switch on ClinGen's
    unlabelled-fraction condition: every window must also hold 3% of their
    scores. The final model scores them, since none of them trained any model.
    """
    names = feature_set.feature_names
    features = table[names]
    labels = table["label"].to_numpy(dtype=int)
    progress(f"{feature_set.name}: {config.cv_folds}-fold gene-grouped out-of-fold scores")
    oof = gene_grouped_oof_scores(features, labels, table["gene"], config, fit)
    progress(f"{feature_set.name}: final model on all {len(labels):,} training variants")
    model = fit_classifier(features, labels, config, fit)
    unlabelled_scores = None
    if unlabelled is not None:
        unlabelled_scores = model.predict_proba(unlabelled[names])[:, 1]
    progress(
        f"{feature_set.name}: ClinGen calibration, {config.n_bootstrap:,} bootstraps"
        + ("" if unlabelled is None else f", {len(unlabelled):,} unlabelled variants")
    )
    calibrator = LocalPosteriorCalibrator(n_bootstrap=config.n_bootstrap, random_state=config.seed)
    uncapped = calibrator.fit(oof, labels, unlabelled_scores).result_
    calibration = cap_pp3(uncapped, config.pp3_max_level)
    return TrainedModel(
        feature_set=feature_set,
        model=model,
        oof_scores=oof,
        oof_auroc=float(roc_auc_score(labels, oof)),
        calibration=calibration,
        feature_importance=feature_importance(model, names),
        uncapped_thresholds=dict(uncapped.thresholds),
    )
