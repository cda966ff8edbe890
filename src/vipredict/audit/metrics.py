"""Per-group audit metrics with bootstrap 95% intervals, vectorised over resamples.

Every metric is a function of one weight matrix ``W`` (resamples x rows): row
``i`` of resample ``b`` was drawn ``W[b, i]`` times. The point estimate is the
same function at ``W = 1``, so the estimate and its interval can never come from
two different formulas. Resamples are ordinary (unstratified) row bootstraps, so
the interval of "fraction pathogenic" reflects how few variants a group holds.

Small groups say nothing: a metric is withheld (NaN, with a warning naming it)
unless the rows it is computed on number at least :data:`MIN_N`, and AUROC and
calibration also need :data:`MIN_PER_CLASS` variants of each class.

Calibration: the scorer's posterior is stated at ClinGen's prior (4.41% P/LP),
while a labelled set is far richer in P/LP, so posterior and observed fraction
would disagree by construction. The audit keeps the model's likelihood ratio and
restates it at the group's own P/LP fraction ``pi``: if the LRs are right within
the group, the mean restated posterior equals ``pi`` (``calibration_gap`` = 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vipredict.acmg import posterior_from_lr

MIN_N = 30
MIN_PER_CLASS = 5
CI_LEVEL = 0.95
DEFAULT_BOOTSTRAPS = 1000
#: Posterior 1 at the end of a calibration curve is an infinite LR; capped so it restates to 1.
LR_CAP = 1e12
_CHUNK_ELEMENTS = 4_000_000  # resamples x rows per chunk (~32 MB per float matrix)


@dataclass(frozen=True)
class GroupData:
    """Arrays of one group's rows; ``score``/``lr`` are NaN where the model could not score."""

    label: np.ndarray
    score: np.ndarray
    lr: np.ndarray
    pp3: np.ndarray
    bp4: np.ndarray

    @classmethod
    def from_columns(
        cls, label: np.ndarray, score: np.ndarray, lr: np.ndarray, evidence: np.ndarray
    ) -> GroupData:
        codes = np.asarray(evidence, dtype=str)
        return cls(
            label=np.asarray(label, dtype=np.int64),
            score=np.asarray(score, dtype="float64"),
            lr=np.minimum(np.asarray(lr, dtype="float64"), LR_CAP),
            pp3=np.char.startswith(codes, "PP3"),
            bp4=np.char.startswith(codes, "BP4"),
        )

    def __len__(self) -> int:
        return len(self.label)

    @property
    def scored(self) -> np.ndarray:
        return ~np.isnan(self.score) & ~np.isnan(self.lr)


Metric = Callable[[GroupData, np.ndarray], np.ndarray]


def _share(weights: np.ndarray, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Weighted share of ``numerator`` rows among ``denominator`` rows, per resample."""
    total = weights @ denominator.astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (weights @ (numerator & denominator)) / total, np.nan)


def weighted_auroc(score: np.ndarray, label: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC per resample (ties count one half), from cumulative class weights in score order."""
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    positive = label[order] == 1
    w = weights[:, order]
    pos = np.add.reduceat(np.where(positive, w, 0), starts, axis=1).astype("float64")
    neg = np.add.reduceat(np.where(positive, 0, w), starts, axis=1).astype("float64")
    below = np.cumsum(neg, axis=1) - neg
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def _auroc(data: GroupData, weights: np.ndarray) -> np.ndarray:
    scored = data.scored
    return weighted_auroc(data.score[scored], data.label[scored], weights[:, scored])


def _observed(data: GroupData, weights: np.ndarray) -> np.ndarray:
    return _share(weights, data.label == 1, data.scored)


def _expected(data: GroupData, weights: np.ndarray) -> np.ndarray:
    """Mean posterior restated at each resample's own P/LP fraction (same LR)."""
    scored = data.scored
    w = weights[:, scored].astype("float64")
    total = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        prior = (w @ (data.label[scored] == 1)) / total
        restated = posterior_from_lr(data.lr[scored][None, :], prior[:, None])
        return np.where(total > 0, (w * restated).sum(axis=1) / total, np.nan)


def _mean_posterior(data: GroupData, weights: np.ndarray) -> np.ndarray:
    """Mean posterior as the scorer reports it (at ClinGen's prior), for reference."""
    scored = data.scored
    w = weights[:, scored].astype("float64")
    total = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (w @ posterior_from_lr(data.lr[scored])) / total


def _gap(data: GroupData, weights: np.ndarray) -> np.ndarray:
    return _observed(data, weights) - _expected(data, weights)


def _everyone(data: GroupData) -> np.ndarray:
    return np.ones(len(data), dtype=bool)


#: name -> (metric, rows it is computed on, needs both classes).
METRICS: dict[str, tuple[Metric, str, bool]] = {
    "auroc": (_auroc, "scored", True),
    "fraction_pathogenic": (_observed, "scored", True),
    "expected_pathogenic": (_expected, "scored", True),
    "mean_posterior": (_mean_posterior, "scored", False),
    "calibration_gap": (_gap, "scored", True),
    "pp3_on_benign": (lambda d, w: _share(w, d.pp3, d.label == 0), "benign", False),
    "bp4_on_pathogenic": (lambda d, w: _share(w, d.bp4, d.label == 1), "pathogenic", False),
    "pp3_on_pathogenic": (lambda d, w: _share(w, d.pp3, d.label == 1), "pathogenic", False),
    "bp4_on_benign": (lambda d, w: _share(w, d.bp4, d.label == 0), "benign", False),
    "evidence_coverage": (lambda d, w: _share(w, d.pp3 | d.bp4, _everyone(d)), "all", False),
}
_POPULATIONS: dict[str, Callable[[GroupData], np.ndarray]] = {
    "scored": lambda d: d.scored,
    "benign": lambda d: d.label == 0,
    "pathogenic": lambda d: d.label == 1,
    "all": _everyone,
}


def withheld_reason(data: GroupData, population: str, both_classes: bool) -> str | None:
    """Why a metric cannot be estimated on this group, or None when it can."""
    rows = _POPULATIONS[population](data)
    if rows.sum() < MIN_N:
        return f"{int(rows.sum())} {population} rows (< {MIN_N})"
    if both_classes:
        pathogenic = int((data.label[rows] == 1).sum())
        benign = int(rows.sum()) - pathogenic
        if min(pathogenic, benign) < MIN_PER_CLASS:
            return f"{pathogenic} P/LP and {benign} B/LB (< {MIN_PER_CLASS} of a class)"
    return None


def bootstrap_weights(n_rows: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Row counts of ``n_resamples`` ordinary bootstrap resamples (resamples x rows)."""
    draws = rng.integers(0, n_rows, size=(n_resamples, n_rows))
    flat = (draws + np.arange(n_resamples)[:, None] * n_rows).ravel()
    return np.bincount(flat, minlength=n_resamples * n_rows).reshape(n_resamples, n_rows)


def bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray],
    n_rows: int,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Point estimates (all weights 1) and percentile intervals of a weighted statistic.

    ``statistic`` maps a weight matrix (resamples x rows) to one value per resample
    and column (resamples x k). Returns ``(k,)`` estimates and ``(k, 2)`` bounds;
    a column whose every resample is NaN gets NaN bounds.
    """
    point = np.atleast_2d(statistic(np.ones((1, n_rows), dtype=np.int64)))[0]
    chunk = max(1, _CHUNK_ELEMENTS // max(n_rows, 1))
    draws = [
        np.atleast_2d(statistic(bootstrap_weights(n_rows, min(chunk, n_bootstrap - start), rng)))
        for start in range(0, n_bootstrap, chunk)
    ]
    values = np.vstack(draws) if draws else np.full((1, len(point)), np.nan)
    tail = 100 * (1 - CI_LEVEL) / 2
    bounds = np.full((len(point), 2), np.nan)
    defined = ~np.isnan(values).all(axis=0)
    if defined.any():
        bounds[defined] = np.nanpercentile(values[:, defined], [tail, 100 - tail], axis=0).T
    return point.astype("float64"), bounds


def group_metrics(data: GroupData, n_bootstrap: int, rng: np.random.Generator) -> dict:
    """Counts, every metric with its 95% interval (or NaN), and a warning for what is withheld.

    All metrics of a group share the same resamples, so their intervals are comparable.
    """
    n_pathogenic = int((data.label == 1).sum())
    out: dict = {
        "n": len(data),
        "n_pathogenic": n_pathogenic,
        "n_benign": len(data) - n_pathogenic,
        "n_scored": int(data.scored.sum()),
    }
    eligible, reasons = [], {}
    for name, (_, population, both) in METRICS.items():
        out[name], out[f"{name}_ci"] = np.nan, [np.nan, np.nan]
        reason = withheld_reason(data, population, both)
        if reason is None:
            eligible.append(name)
        else:
            reasons.setdefault(reason, []).append(name)
    if eligible:
        stacked = _stacked([METRICS[name][0] for name in eligible], data)
        point, bounds = bootstrap(stacked, len(data), n_bootstrap, rng)
        for j, name in enumerate(eligible):
            out[name], out[f"{name}_ci"] = float(point[j]), [float(b) for b in bounds[j]]
    out["withheld"] = [name for name in METRICS if name not in eligible]
    warnings = [f"{', '.join(names)}: {reason}" for reason, names in reasons.items()]
    out["warning"] = "too few to say: " + "; ".join(warnings) if warnings else ""
    return out


def _stacked(metrics: list[Metric], data: GroupData) -> Callable[[np.ndarray], np.ndarray]:
    """One statistic returning every metric at once (resamples x metrics)."""
    return lambda weights: np.column_stack([metric(data, weights) for metric in metrics])


def reliability_bins(data: GroupData, n_bins: int = 5) -> list[dict]:
    """Reliability curve points: mean restated posterior vs observed P/LP fraction per bin.

    Bins are quantiles of the restated posterior so each holds about the same
    number of variants (equal-width bins would leave most of them empty).
    """
    scored = data.scored
    label = data.label[scored]
    if len(label) == 0:
        return []
    restated = posterior_from_lr(data.lr[scored], float((label == 1).mean()))
    edges = np.unique(np.quantile(restated, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, restated, side="right") - 1, 0, max(len(edges) - 2, 0))
    points = []
    for b in np.unique(which):
        members = which == b
        points.append(
            {
                "predicted": float(restated[members].mean()),
                "observed": float((label[members] == 1).mean()),
                "n": int(members.sum()),
            }
        )
    return points
