"""Nested, gene-grouped cross-validation of the evidence design on the training set alone.

Design choices (which annotation profiles, which caps) must be made without the
validation set, so they are measured here on ClinGen 2019 only. The outer folds
never split a gene; inside each outer training part every profile is trained and
calibrated exactly as ``vipredict train`` does (label-free imputation fitted on
that part only, its own inner gene-grouped out-of-fold scores), and the outer
test part is then scored as the scorer would: each variant by the first profile
it carries in full, on its real values (nothing is imputed at scoring time).

Every outer test variant is scored once as annotated and once per scenario of
lost annotation (each single source blanked; each profile's sources alone), so
the report answers "does every evidence band keep its ClinGen likelihood ratio
when a pipeline lacks X?" on variants no model in that fold was trained on.
Beside it, the single model of the earlier design (every feature, missing
values seen as such, masked copies) goes through the same folds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from vipredict.acmg import NO_EVIDENCE, assign_evidence
from vipredict.features.sets import FeatureSet, assign_profiles, lost_source_scenarios
from vipredict.model.calibration import local_posterior
from vipredict.model.evaluation import band_coverage_and_lr, coverage_and_lr
from vipredict.model.training import (
    TrainedProfile,
    TrainingConfig,
    calibrate_scores,
    fit_classifier,
    gene_grouped_oof_scores,
    mask_sources,
    selected_profiles,
    train_profiles,
)
from vipredict.progress import Progress, quiet

#: The earlier single-model design, measured beside the profiles.
SINGLE_MODEL = "single_model"


@dataclass(frozen=True)
class _Scorers:
    """One outer fold's fitted evidence: the profiles, and the single model for contrast."""

    profiles: list[TrainedProfile]
    single: Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]


def scenarios_of(feature_set: FeatureSet) -> dict[str, list[str]]:
    """Sources blanked per scenario: none, each single source, each profile's sources alone."""
    return {"as_annotated": []} | lost_source_scenarios(feature_set.profiles)


def profile_codes(
    profiles: list[TrainedProfile], rows: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evidence codes, local posteriors and profile names of ``rows`` (the scorer's routing)."""
    routes = assign_profiles(tuple(p.profile for p in profiles), rows)
    codes = np.full(len(rows), NO_EVIDENCE, dtype=object)
    posterior = np.full(len(rows), np.nan)
    for trained in profiles:
        mine = routes == trained.profile.name
        if mine.any():
            scores = trained.model.predict_proba(rows.loc[mine, trained.feature_names])[:, 1]
            codes[mine] = assign_evidence(scores, trained.calibration.thresholds)
            posterior[mine] = local_posterior(scores, trained.calibration)
    return codes, posterior, routes


def _single_model(
    train: pd.DataFrame, feature_set: FeatureSet, config: TrainingConfig
) -> Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]:
    """The earlier design fitted on ``train``: a scorer of (codes, posteriors)."""
    names = feature_set.feature_names
    labels = train["label"].to_numpy(dtype=int)
    oof = gene_grouped_oof_scores(train[names], labels, train["gene"], config)
    model = fit_classifier(train[names], labels, config)
    calibration, _ = calibrate_scores(oof, labels, config)

    def score(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        scores = model.predict_proba(rows[names])[:, 1]
        return assign_evidence(scores, calibration.thresholds), local_posterior(scores, calibration)

    return score


def _fit_fold(
    train: pd.DataFrame, feature_set: FeatureSet, config: TrainingConfig, with_single: bool
) -> _Scorers:
    profiles, _ = train_profiles(train, feature_set, config)
    single = _single_model(train, feature_set, config) if with_single else None
    return _Scorers(profiles, single)  # type: ignore[arg-type]


def _summary(codes: np.ndarray, labels: np.ndarray, scored: np.ndarray) -> dict:
    coverage, likelihood = coverage_and_lr(codes, labels)
    bands = band_coverage_and_lr(codes, labels)
    return {
        "n": len(labels),
        "scored": float(np.mean(scored)) if len(scored) else 0.0,
        "coverage": coverage,
        "empirical_lr": likelihood,
        "bands": bands,
        "all_bands_hold": all(band["holds"] for band in bands.values()),
    }


def nested_evaluation(
    table: pd.DataFrame,
    feature_set: FeatureSet,
    config: TrainingConfig,
    outer_folds: int = 5,
    with_single: bool = True,
    progress: Progress = quiet,
) -> dict:
    """Per scenario and per profile: coverage and each band's empirical LR, out of fold.

    ``table``: the training set's feature rows (one per variant, labelled). Only the
    profiles ``config.profiles`` selects are trained, so only they are scenarios and rows
    of ``by_profile``.
    """
    feature_set = replace(feature_set, profiles=selected_profiles(feature_set, config.profiles))
    labels = table["label"].to_numpy(dtype=int)
    scenarios = scenarios_of(feature_set)
    designs = ["profiles", *([SINGLE_MODEL] if with_single else [])]
    codes = {
        (d, s): np.full(len(table), NO_EVIDENCE, dtype=object) for d in designs for s in scenarios
    }
    routes = {s: np.full(len(table), "", dtype=object) for s in scenarios}
    folds = StratifiedGroupKFold(outer_folds, shuffle=True, random_state=config.seed + 1)
    inner = replace(config, mask_augmentation=True)
    for number, (fit_idx, test_idx) in enumerate(
        folds.split(table, labels, groups=table["gene"].astype(str)), start=1
    ):
        progress(f"outer fold {number}/{outer_folds}: {len(fit_idx):,} training variants")
        fold = _fit_fold(table.iloc[fit_idx], feature_set, inner, with_single)
        test = table.iloc[test_idx]
        for name, blanked in scenarios.items():
            rows = mask_sources(test, blanked) if blanked else test
            got, _, route = profile_codes(fold.profiles, rows)
            codes["profiles", name][test_idx] = got
            routes[name][test_idx] = route
            if fold.single is not None:
                codes[SINGLE_MODEL, name][test_idx] = fold.single(rows)[0]
    report: dict = {"n": len(table), "n_pathogenic": int(labels.sum()), "outer_folds": outer_folds}
    for design in designs:
        report[design] = {
            name: _summary(
                codes[design, name],
                labels,
                routes[name] != "" if design == "profiles" else np.ones(len(labels), bool),
            )
            for name in scenarios
        }
    report["by_profile"] = {
        p.name: _summary(
            codes["profiles", "as_annotated"][routes["as_annotated"] == p.name],
            labels[routes["as_annotated"] == p.name],
            np.ones(int((routes["as_annotated"] == p.name).sum()), bool),
        )
        for p in feature_set.profiles
    }
    return report
