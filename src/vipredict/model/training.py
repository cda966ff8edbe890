"""Training: gene-grouped out-of-fold scores, a final LightGBM model, its calibration.

Calibration must see scores the model did not train on, so the 2019 set is split
into folds *by gene* (a gene's variants share labels' context; letting them
straddle folds inflates the out-of-fold scores, type-2 circularity). The
calibrated thresholds from those out-of-fold scores are then attached to a final
model fitted on the whole 2019 set.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.experimental import enable_iterative_imputer  # noqa: F401 (enables the import below)
from sklearn.impute import IterativeImputer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from vipredict.acmg import EVIDENCE_CODES, LEVELS
from vipredict.config import training_config_file
from vipredict.features.conservation import ConservationFeatures
from vipredict.features.functional import FunctionalFeatures
from vipredict.features.sets import FeatureSet, Profile, assign_profiles
from vipredict.model.calibration import CalibrationResult, LocalPosteriorCalibrator
from vipredict.progress import Progress, quiet
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES

#: Where each LightGBM model is fitted: in this process, or on a Dask cluster
#: (:mod:`vipredict.jobs.dask`); everything around the fit is the same either way.
BACKENDS = ("local", "dask")


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
    bp4_max_level: str = "Moderate"
    lightgbm: dict[str, Any] = field(default_factory=dict)
    backend: str = "local"
    unlabelled_dataset: str | None = None
    unlabelled_max_rows: int = 200_000
    profiles: tuple[str, ...] = ()  # evidence profiles to train, by name; () = all of them

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
            bp4_max_level=str(raw.get("bp4_max_level", "Moderate")),
            lightgbm=dict(raw["lightgbm"]),
            backend=str(raw.get("backend", "local")),
            unlabelled_dataset=raw.get("unlabelled_dataset") or None,
            unlabelled_max_rows=int(raw.get("unlabelled_max_rows", 200_000)),
            profiles=tuple(raw.get("profiles", ())),
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
            "bp4_max_level": self.bp4_max_level,
            "lightgbm": dict(self.lightgbm),
            "backend": self.backend,
            "unlabelled_dataset": self.unlabelled_dataset or "",
            "unlabelled_max_rows": self.unlabelled_max_rows,
            "profiles": list(self.profiles),
        }


@dataclass
class TrainedProfile:
    """One annotation profile's model, fitted and calibrated on the rows that carry it."""

    profile: Profile
    feature_names: list[str]
    model: LGBMClassifier
    carried: np.ndarray  # which of its training rows carried every source before imputation
    oof_scores: np.ndarray  # out-of-fold scores of its training rows
    oof_auroc: float
    calibration: CalibrationResult
    uncapped_thresholds: dict[str, float | None]


@dataclass
class TrainedModel:
    """A registered model's worth of work; a profiled set's fields are its first profile's."""

    feature_set: FeatureSet
    model: LGBMClassifier
    oof_scores: np.ndarray
    oof_auroc: float
    calibration: CalibrationResult
    feature_importance: pd.DataFrame
    uncapped_thresholds: dict[str, float | None] = field(default_factory=dict)
    profiles: list[TrainedProfile] = field(default_factory=list)
    rows_used: np.ndarray | None = None  # profiled sets: the training rows the profiles used


def cap_levels(
    calibration: CalibrationResult, pp3_max_level: str, bp4_max_level: str = "VeryStrong"
) -> CalibrationResult:
    """Drop levels stronger than each criterion's maximum from the thresholds the model emits.

    Pejaver et al. 2022 recommend computational evidence for pathogenicity no
    stronger than Strong: a single predictor must not carry a variant to Likely
    Pathogenic alone. For BP4 the cap is what the training data can verify: in
    2019 nested cross-validation the BP4_VeryStrong band held an LR of 7-17 where
    1124 is needed, and BP4_Strong (0.5% of B/LB) fell to 13 where 33.5 is needed
    when GERP++ and phyloP were missing (``training/default.toml``).
    """
    for level in (pp3_max_level, bp4_max_level):
        if level not in LEVELS:
            raise ValueError(f"maximum evidence level {level!r} is not one of {LEVELS}")
    allowed = {
        "PP3": LEVELS[: LEVELS.index(pp3_max_level) + 1],
        "BP4": LEVELS[: LEVELS.index(bp4_max_level) + 1],
    }
    capped = {
        code: (value if code.split("_")[1] in allowed[code.split("_")[0]] else None)
        for code, value in calibration.thresholds.items()
    }
    assert set(capped) == set(EVIDENCE_CODES)
    return replace(calibration, thresholds=capped)


def mask_sources(table: pd.DataFrame, sources: list[str]) -> pd.DataFrame:
    """``table`` as if its annotation lacked ``sources``: values blanked, derived counts redone.

    Blanking a score without recomputing ``functional_n_missing`` (or
    ``conservation_n_missing``) would describe a variant no real annotation
    produces; going back through the feature builders keeps masked rows honest.
    """
    masked = table.copy()
    masked[sources] = np.nan
    for builder, columns in (
        (FunctionalFeatures(), FUNCTIONAL_SCORES),
        (ConservationFeatures(), CONSERVATION_SCORES),
    ):
        if set(columns) <= set(masked.columns):
            rebuilt = builder.transform(masked[list(columns)])
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


#: Gene-grouped folds already cut, by (labels, genes, folds, seed) digest; see :func:`gene_folds`.
_FOLDS: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
_FOLDS_KEPT = 8


def gene_folds(
    labels: np.ndarray, genes: pd.Series, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, score) row indices of stratified folds that never split a gene.

    Cut once per (labels, genes, folds, seed): ``StratifiedGroupKFold`` places the
    genes one by one in Python (0.2 s a split on the 2019 set), and every profile of a
    feature set, and both models of a training run, cut the very same rows.
    """
    names = genes.astype(str).to_numpy()
    digest = hashlib.sha256(np.asarray(labels).tobytes())
    digest.update("\0".join(names).encode())
    key = f"{digest.hexdigest()}:{n_splits}:{seed}"
    if key not in _FOLDS:
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        if len(_FOLDS) >= _FOLDS_KEPT:
            _FOLDS.pop(next(iter(_FOLDS)))
        _FOLDS[key] = list(folds.split(np.zeros(len(names)), labels, groups=names))
    return _FOLDS[key]


def gene_grouped_oof_scores(
    features: pd.DataFrame,
    labels: np.ndarray,
    genes: pd.Series,
    config: TrainingConfig,
    fit: Fitter = fit_local,
) -> np.ndarray:
    """Out-of-fold probabilities with folds that never split a gene."""
    scores = np.full(len(labels), np.nan)
    for fit_idx, score_idx in gene_folds(labels, genes, config.cv_folds, config.seed):
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


def calibrate_scores(
    oof: np.ndarray,
    labels: np.ndarray,
    config: TrainingConfig,
    unlabelled_scores: np.ndarray | None = None,
) -> tuple[CalibrationResult, dict[str, float | None]]:
    """ClinGen calibration of out-of-fold scores: (PP3-capped result, uncapped thresholds)."""
    calibrator = LocalPosteriorCalibrator(n_bootstrap=config.n_bootstrap, random_state=config.seed)
    uncapped = calibrator.fit(oof, labels, unlabelled_scores).result_
    capped = cap_levels(uncapped, config.pp3_max_level, config.bp4_max_level)
    return capped, dict(uncapped.thresholds)


def label_free_imputation(
    table: pd.DataFrame, feature_set: FeatureSet, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows that carry some profile in full, their other sources imputed without labels.

    Why: a profile trained only on the rows that carry all its sources loses the
    rows whose missingness is label-bound (in 2019 every row lacking MutPred2 is
    B/LB), and with them half of the benign variants its calibration needs; its
    PP3_Strong threshold then rests on too few B/LB to be stable. Filling the
    missing values from the other sources (scikit-learn's ``IterativeImputer``,
    fitted on the features alone, values kept within each source's observed
    range) keeps every row without telling any model that a value was missing.
    Only training does this: a variant is always *scored* by a profile whose
    every source it carries, so no served score rests on an imputed value.
    Returns the filled rows and which rows of ``table`` they are.
    """
    sources = list(dict.fromkeys(s for p in feature_set.profiles for s in p.sources))
    scorable = assign_profiles(feature_set.profiles, table) != ""
    rows = table[scorable].copy()
    values = rows[sources].to_numpy(dtype="float64")
    imputer = IterativeImputer(
        max_iter=10,
        random_state=seed,
        min_value=np.nanmin(values, axis=0),
        max_value=np.nanmax(values, axis=0),
    )
    rows[sources] = imputer.fit_transform(values)
    return rows, scorable


def train_profile(
    rows: pd.DataFrame,
    feature_set: FeatureSet,
    profile: Profile,
    config: TrainingConfig,
    unlabelled: pd.DataFrame | None = None,
    fit: Fitter = fit_local,
    carried: np.ndarray | None = None,
) -> TrainedProfile:
    """A profile's model on ``rows`` (every source present), calibrated out of fold.

    ``rows``: the training rows with every source filled
    (:func:`label_free_imputation`); ``carried``: which of them carried the
    profile's sources before (kept for the run's records). No masked copies: the model is only ever
    asked about variants that carry all its sources
    (:func:`vipredict.features.sets.assign_profiles`).
    """
    names = feature_set.profile_features(profile)
    labels = rows["label"].to_numpy(dtype=int)
    whole = replace(config, mask_augmentation=False)
    oof = gene_grouped_oof_scores(rows[names], labels, rows["gene"], whole, fit)
    model = fit_classifier(rows[names], labels, whole, fit)
    unlabelled_scores = None
    if unlabelled is not None:
        usable = unlabelled[profile.carried_by(unlabelled)]
        unlabelled_scores = model.predict_proba(usable[names])[:, 1] if len(usable) else None
    calibration, uncapped = calibrate_scores(oof, labels, config, unlabelled_scores)
    return TrainedProfile(
        profile=profile,
        feature_names=names,
        model=model,
        carried=np.ones(len(rows), dtype=bool) if carried is None else carried,
        oof_scores=oof,
        oof_auroc=float(roc_auc_score(labels, oof)),
        calibration=calibration,
        uncapped_thresholds=uncapped,
    )


def selected_profiles(feature_set: FeatureSet, names: tuple[str, ...]) -> tuple[Profile, ...]:
    """The profiles ``names`` picks from ``feature_set``, in the set's routing order (all when
    ``names`` is empty). Fewer profiles train faster; a variant that carries none of them
    gets no evidence, as with any profile list. An unknown name is an error, not a no-op."""
    if not names:
        return feature_set.profiles
    known = {p.name for p in feature_set.profiles}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(
            f"profiles {unknown} are not profiles of feature set {feature_set.name!r} "
            f"(it has {sorted(known)})"
        )
    return tuple(p for p in feature_set.profiles if p.name in names)


def train_profiles(
    table: pd.DataFrame,
    feature_set: FeatureSet,
    config: TrainingConfig,
    progress: Progress = quiet,
    unlabelled: pd.DataFrame | None = None,
    fit: Fitter = fit_local,
) -> tuple[list[TrainedProfile], np.ndarray]:
    """Every profile of ``feature_set`` on the same imputed rows: (profiles, rows used)."""
    rows, used = label_free_imputation(table, feature_set, config.seed)
    trained = []
    for profile in selected_profiles(feature_set, config.profiles):
        carried = int(profile.carried_by(table).sum())
        progress(
            f"{feature_set.name}/{profile.name}: {len(rows):,} training variants "
            f"({carried:,} carry its {len(profile.sources)} sources, the rest imputed); "
            f"{config.cv_folds}-fold gene-grouped OOF, {config.n_bootstrap:,} bootstraps"
        )
        before = profile.carried_by(table)[used]
        trained.append(
            train_profile(rows, feature_set, profile, config, unlabelled, fit, carried=before)
        )
    return trained, used


def routed_oof_scores(
    profiles: list[TrainedProfile], table: pd.DataFrame, used: np.ndarray
) -> np.ndarray:
    """Each training row's out-of-fold score from the profile that scores it (NaN: none)."""
    routes = assign_profiles(tuple(p.profile for p in profiles), table)
    scores = np.full(len(table), np.nan)
    positions = np.flatnonzero(used)
    for trained in profiles:
        mine = routes[positions] == trained.profile.name
        scores[positions[mine]] = trained.oof_scores[mine]
    return scores


def train_profiled_set(
    table: pd.DataFrame,
    feature_set: FeatureSet,
    config: TrainingConfig,
    progress: Progress = quiet,
    unlabelled: pd.DataFrame | None = None,
    fit: Fitter = fit_local,
) -> TrainedModel:
    """Every annotation profile of an evidence set; the first is the registered model."""
    profiles, used = train_profiles(table, feature_set, config, progress, unlabelled, fit)
    first = profiles[0]
    return TrainedModel(
        feature_set=feature_set,
        model=first.model,
        oof_scores=routed_oof_scores(profiles, table, used),
        oof_auroc=first.oof_auroc,
        calibration=first.calibration,
        feature_importance=feature_importance(first.model, first.feature_names),
        uncapped_thresholds=first.uncapped_thresholds,
        profiles=profiles,
        rows_used=used,
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
    A set with annotation profiles trains one model per profile instead.
    """
    if feature_set.profiles:
        return train_profiled_set(table, feature_set, config, progress, unlabelled, fit)
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
    calibration, uncapped = calibrate_scores(oof, labels, config, unlabelled_scores)
    return TrainedModel(
        feature_set=feature_set,
        model=model,
        oof_scores=oof,
        oof_auroc=float(roc_auc_score(labels, oof)),
        calibration=calibration,
        feature_importance=feature_importance(model, names),
        uncapped_thresholds=uncapped,
    )
