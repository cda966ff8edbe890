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

from vipredict.model.registry import LoadedModel

TOP_FEATURES = 5


def _finite(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def top_contributions(
    model: LoadedModel, features: pd.DataFrame, k: int = TOP_FEATURES, num_threads: int = 0
) -> list[list[dict[str, Any]]]:
    """The ``k`` largest |contribution| per row: feature, its value and its contribution."""
    frame = features[model.feature_names]
    params = {"num_threads": num_threads} if num_threads > 0 else {}
    contrib = np.asarray(model.model.booster_.predict(frame, pred_contrib=True, **params))[:, :-1]
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    values = frame.to_numpy(dtype=float)
    names = model.feature_names
    return [
        [
            {
                "feature": names[j],
                "value": _finite(values[i, j]),
                "contribution": float(contrib[i, j]),
            }
            for j in order[i]
        ]
        for i in range(len(frame))
    ]
