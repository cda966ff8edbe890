"""Why a model said what it said: each feature's contribution to one variant's score.

LightGBM's own TreeSHAP (``pred_contrib=True``) gives exact per-feature
contributions on the model's log-odds scale; they and the bias add up to the
logit of the score, so a curator can see which annotations pushed a variant
toward PP3 or BP4.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from vipredict.features.sets import assign_profiles
from vipredict.model.registry import LoadedModel

TOP_FEATURES = 5


def _finite(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def contributions_of(
    booster: Any, names: list[str], values: np.ndarray, k: int = TOP_FEATURES, num_threads: int = 0
) -> list[list[dict[str, Any]]]:
    """The ``k`` largest |contribution| per row of ``values`` (float64, the booster's
    ``names`` in order, NaN where missing) for one LightGBM booster."""
    params = {"num_threads": num_threads} if num_threads > 0 else {}
    contrib = np.asarray(booster.predict(values, pred_contrib=True, **params))[:, :-1]
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    return [
        [
            {
                "feature": names[j],
                "value": _finite(values[i, j]),
                "contribution": float(contrib[i, j]),
            }
            for j in order[i]
        ]
        for i in range(len(values))
    ]


def _contributions(
    booster: Any, names: list[str], frame: pd.DataFrame, k: int, num_threads: int
) -> list[list[dict[str, Any]]]:
    """:func:`contributions_of` the rows of ``frame``."""
    values = frame[names].to_numpy(dtype=np.float64, na_value=np.nan)
    return contributions_of(booster, names, values, k, num_threads)


def top_contributions(
    model: LoadedModel, features: pd.DataFrame, k: int = TOP_FEATURES, num_threads: int = 0
) -> list[list[dict[str, Any]]]:
    """The ``k`` largest |contribution| per row: feature, its value and its contribution.

    A profiled evidence model explains each row with the model of the profile
    that scored it (none: an empty list).
    """
    if not model.profiles:
        return _contributions(model.model.booster_, model.feature_names, features, k, num_threads)
    routes = assign_profiles(tuple(p.profile for p in model.profiles), features)
    out: list[list[dict[str, Any]]] = [[] for _ in range(len(features))]
    for profile in model.profiles:
        rows = np.flatnonzero(routes == profile.name)
        if len(rows):
            explained = _contributions(
                profile.booster, profile.feature_names, features.iloc[rows], k, num_threads
            )
            for row, top in zip(rows, explained, strict=True):
                out[row] = top
    return out
