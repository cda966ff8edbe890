"""Figures of a trained model: its calibration curve and its feature importance.

Drawing is kept apart from the estimators (as scikit-learn keeps
``CalibrationDisplay`` apart from ``CalibratedClassifierCV``): the calibrator and
the trainer return numbers, and these functions turn them into figures, which
the training job logs to MLflow and writes under ``$VIPREDICT_HOME/reports``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from vipredict.acmg import LEVELS, benign_posterior_from_lr, level_lrs, posterior_from_lr
from vipredict.model.calibration import CalibrationResult


def calibration_figure(result: CalibrationResult) -> Figure:
    """The posterior curve, its bootstrap band and each level's posterior line."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.fill_between(
        result.grid, result.posterior_lower, result.posterior_upper, alpha=0.3, label="5-95%"
    )
    ax.plot(result.grid, result.posterior, color="black", lw=1.2, label="posterior")
    lrs = level_lrs(result.c)
    for lv in LEVELS:
        ax.axhline(posterior_from_lr(lrs[lv], result.prior), color="tab:red", ls="--", lw=0.7)
        ax.axhline(
            1 - benign_posterior_from_lr(lrs[lv], result.prior), color="tab:blue", ls="--", lw=0.7
        )
    ax.set_xlabel("score")
    ax.set_ylabel("P(pathogenic | score)")
    ax.set_ylim(0, 1)
    ax.legend(loc="best")
    return fig


def importance_figure(importance: pd.DataFrame, title: str, top: int = 20) -> Figure:
    """Horizontal bars of the ``top`` features by total gain (``feature``, ``gain`` columns)."""
    rows = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh(rows["feature"], rows["gain"])
    ax.set_xlabel("total gain")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as PNG (folders made as needed) and release it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
