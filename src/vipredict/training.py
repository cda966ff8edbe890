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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from vipredict.calibration import CalibrationResult, LocalPosteriorCalibrator
from vipredict.config import PROJECT_ROOT
from vipredict.featuresets import FeatureSet

DEFAULT_CONFIG = PROJECT_ROOT / "training" / "default.toml"

Progress = Callable[[str], None]


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
    lightgbm: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, path: Path = DEFAULT_CONFIG) -> TrainingConfig:
        return cls.from_dict(tomllib.loads(Path(path).read_text()))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainingConfig:
        return cls(
            train_dataset=str(raw["train_dataset"]),
            test_dataset=str(raw["test_dataset"]),
            feature_sets=tuple(raw["feature_sets"]),
            cv_folds=int(raw["cv_folds"]),
            seed=int(raw["seed"]),
            n_bootstrap=int(raw["n_bootstrap"]),
            lightgbm=dict(raw["lightgbm"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_dataset": self.train_dataset,
            "test_dataset": self.test_dataset,
            "feature_sets": list(self.feature_sets),
            "cv_folds": self.cv_folds,
            "seed": self.seed,
            "n_bootstrap": self.n_bootstrap,
            "lightgbm": dict(self.lightgbm),
        }


@dataclass
class TrainedModel:
    feature_set: FeatureSet
    model: LGBMClassifier
    oof_scores: np.ndarray
    oof_auroc: float
    calibration: CalibrationResult
    feature_importance: pd.DataFrame


def assert_no_leakage(train: pd.DataFrame, test: pd.DataFrame) -> None:
    """Refuse to train when a hold-out variant (or its locus) is in the training table."""
    shared = set(train["variant"]) & set(test["variant"])
    if shared:
        example = sorted(shared)[0]
        raise LeakageError(f"{len(shared)} variants are in both train and test, e.g. {example}")


def new_classifier(config: TrainingConfig) -> LGBMClassifier:
    return LGBMClassifier(random_state=config.seed, **config.lightgbm)


def gene_grouped_oof_scores(
    features: pd.DataFrame, labels: np.ndarray, genes: pd.Series, config: TrainingConfig
) -> np.ndarray:
    """Out-of-fold probabilities with folds that never split a gene."""
    folds = StratifiedGroupKFold(n_splits=config.cv_folds, shuffle=True, random_state=config.seed)
    scores = np.full(len(labels), np.nan)
    for fit_idx, score_idx in folds.split(features, labels, groups=genes.astype(str)):
        model = new_classifier(config).fit(features.iloc[fit_idx], labels[fit_idx])
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
    progress: Progress = lambda _: None,
) -> TrainedModel:
    """Fit one registered model's worth of work on the training rows of ``table``."""
    names = feature_set.feature_names
    features = table[names]
    labels = table["label"].to_numpy(dtype=int)
    progress(f"{feature_set.name}: {config.cv_folds}-fold gene-grouped out-of-fold scores")
    oof = gene_grouped_oof_scores(features, labels, table["gene"], config)
    progress(f"{feature_set.name}: ClinGen calibration, {config.n_bootstrap:,} bootstraps")
    calibrator = LocalPosteriorCalibrator(n_bootstrap=config.n_bootstrap, random_state=config.seed)
    calibration = calibrator.fit(oof, labels).result_
    progress(f"{feature_set.name}: final model on all {len(labels):,} training variants")
    model = new_classifier(config).fit(features, labels)
    return TrainedModel(
        feature_set=feature_set,
        model=model,
        oof_scores=oof,
        oof_auroc=float(roc_auc_score(labels, oof)),
        calibration=calibration,
        feature_importance=feature_importance(model, names),
    )
