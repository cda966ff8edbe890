"""ClinGen local posterior probability calibration (Pejaver et al. 2022, AJHG 109:2163).

The ClinGen SVI calibration turns a predictor's raw score into PP3/BP4 evidence
strengths.  At every point ``t`` of a score grid it takes the smallest window
``[t-h, t+h]`` that holds enough labelled variants, estimates the local
posterior probability of pathogenicity there (negatives re-weighted so that the
labelled set behaves as if drawn at the ClinGen prior), and reads off the score
beyond which the posterior stays above each evidence level's posterior.  The
published thresholds are one-sided 95% bounds over bootstrap resamples, which
guards against a lucky window at the tail of the score range.

This module follows the reference implementation (MATLAB
``vpejaver/clingen-svi-comp_calibration`` and its Python port) step by step but
replaces its per-grid-point loops by array operations:

* the grid holds every distinct score plus ``floor(min)``/``ceil(max)``, as in
  the original, so each bootstrap resample is just a vector of counts per grid
  point (a multinomial draw), and window counts are differences of cumulative
  sums;
* the original grows the half-window by a fixed increment until the count
  condition holds; because that condition is monotone in the half-window we
  binary-search the number of increments instead, for all grid points and all
  bootstraps of a chunk at once;
* the discount index of the one-sided bound uses the number of bootstraps
  actually run (the lab's Python port read it from its configuration).

The estimator is pure: it reads scores and labels, returns thresholds and
curves, and neither writes files nor draws. Its vocabulary (levels, LR ladder,
posteriors) is :mod:`vipredict.acmg`'s; applying the thresholds to new scores is
:func:`vipredict.acmg.assign_evidence`; plotting is :mod:`vipredict.model.plots`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from vipredict.acmg import (
    CLINGEN_PRIOR,
    DEFAULT_C,
    LEVELS,
    benign_posterior_from_lr,
    level_lrs,
    posterior_from_lr,
)

_CHUNK_ELEMENTS = 2_000_000  # (bootstraps x grid points) per chunk: ~16 MB per work array


@dataclass
class CalibrationResult:
    """Thresholds plus the curves they were read from, in the tool's own score scale.

    ``thresholds`` holds the discounted (one-sided 95%) thresholds that ClinGen
    publishes; ``point_thresholds`` those of the point estimate, for diagnosis.
    """

    thresholds: dict[str, float | None]
    three_point: dict[str, float | None]
    prior: float
    c: float
    reverse: bool
    n_labelled: int
    n_pathogenic: int
    n_benign: int
    n_bootstrap: int
    grid: np.ndarray
    posterior: np.ndarray
    posterior_lower: np.ndarray
    posterior_upper: np.ndarray
    point_thresholds: dict[str, float | None] = field(default_factory=dict)
    n_unlabelled: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; unreached thresholds become ``null``."""
        return {
            "thresholds": _clean(self.thresholds),
            "three_point": _clean(self.three_point),
            "point_thresholds": _clean(self.point_thresholds),
            "prior": self.prior,
            "c": self.c,
            "reverse": self.reverse,
            "n_labelled": self.n_labelled,
            "n_pathogenic": self.n_pathogenic,
            "n_benign": self.n_benign,
            "n_unlabelled": self.n_unlabelled,
            "n_bootstrap": self.n_bootstrap,
            "grid": self.grid.tolist(),
            "posterior": self.posterior.tolist(),
            "posterior_lower": self.posterior_lower.tolist(),
            "posterior_upper": self.posterior_upper.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationResult:
        """Inverse of :meth:`to_dict` (e.g. to load a calibration JSON in the service)."""
        return cls(
            thresholds=_clean(data["thresholds"]),
            three_point=_clean(data.get("three_point", {})),
            point_thresholds=_clean(data.get("point_thresholds", {})),
            prior=float(data["prior"]),
            c=float(data["c"]),
            reverse=bool(data["reverse"]),
            n_labelled=int(data["n_labelled"]),
            n_pathogenic=int(data["n_pathogenic"]),
            n_benign=int(data["n_benign"]),
            n_unlabelled=int(data.get("n_unlabelled", 0)),
            n_bootstrap=int(data["n_bootstrap"]),
            grid=np.asarray(data["grid"], dtype=float),
            posterior=np.asarray(data["posterior"], dtype=float),
            posterior_lower=np.asarray(data["posterior_lower"], dtype=float),
            posterior_upper=np.asarray(data["posterior_upper"], dtype=float),
        )


def _clean(values: Mapping[str, Any]) -> dict[str, float | None]:
    """NaN and None both mean "level not reached"; JSON only knows null."""
    out: dict[str, float | None] = {}
    for key, value in values.items():
        out[key] = None if value is None or not math.isfinite(float(value)) else float(value)
    return out


# --------------------------------------------------------------------------- window machinery


@dataclass(frozen=True)
class _WindowTables:
    """Per (grid point, half-window step) lookups, flattened as ``point * n_steps + step``.

    ``left``/``right`` bound the grid indices inside the window; ``coverage`` is
    the original's ``c``: the share of the window inside the score range, which
    scales the required counts down at the range edges.
    """

    grid: np.ndarray
    n_steps: int
    left: np.ndarray
    right: np.ndarray
    coverage: np.ndarray


def _score_grid(x: np.ndarray, g: np.ndarray | None) -> np.ndarray:
    """Ascending grid: distinct labelled/unlabelled scores plus floor(min) and ceil(max)."""
    allx = x if g is None else np.concatenate([x, g])
    lo, hi = float(allx.min()), float(allx.max())
    return np.unique(np.concatenate([allx, [math.floor(lo), math.ceil(hi)]]))


def _window_tables(grid: np.ndarray, increment: float) -> _WindowTables:
    """Precompute window bounds for every half-window ``j * increment`` reaching the range."""
    span = float(grid[-1] - grid[0])
    n_steps = max(1, math.ceil(span / increment - 1e-9)) + 1
    half = increment * np.arange(n_steps)
    lo = grid[:, None] - half[None, :]
    hi = grid[:, None] + half[None, :]
    tol = 1e-9 * max(1.0, span)  # absorb float error at window edges landing on a grid value
    left = np.searchsorted(grid, (lo - tol).ravel(), side="left").astype(np.int32)
    right = np.searchsorted(grid, (hi + tol).ravel(), side="right").astype(np.int32)
    width = np.where(half[None, :] > 0, hi - lo, 1.0)  # as the original: (hi - lo), not 2h
    coverage = np.where(
        hi > grid[-1],
        (grid[-1] - lo) / width,
        np.where(lo < grid[0], (hi - grid[0]) / width, 1.0),
    )
    return _WindowTables(grid, n_steps, left, right, coverage.ravel())


def _cumulative(counts: np.ndarray) -> np.ndarray:
    """Row-wise cumulative counts with a leading zero column, for window differences."""
    cum = np.zeros((counts.shape[0], counts.shape[1] + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=cum[:, 1:])
    return cum


def _window_sum(cum: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Counts between grid indices ``left`` (inclusive) and ``right`` (exclusive), per row."""
    return np.take_along_axis(cum, right, axis=1) - np.take_along_axis(cum, left, axis=1)


@dataclass(frozen=True)
class _Requirements:
    """What a window must hold: labelled points and unlabelled share, both scaled by coverage."""

    labelled: np.ndarray
    unlabelled: np.ndarray | None


def _minimal_steps(
    cum_lab: np.ndarray, cum_g: np.ndarray | None, tables: _WindowTables, need: _Requirements
) -> np.ndarray:
    """Smallest half-window step meeting the conditions, per (curve, grid point).

    The original increments until the condition holds; the condition is monotone
    (counts grow and the coverage-scaled requirement shrinks with the window), so
    a binary search over steps gives the same answer in log2(n_steps) passes.
    The last step covers the whole range and always qualifies.
    """
    n_curves, n_grid = cum_lab.shape[0], tables.grid.size
    base = (np.arange(n_grid, dtype=np.int64) * tables.n_steps)[None, :]
    lo = np.full((n_curves, n_grid), -1, dtype=np.int64)
    hi = np.full((n_curves, n_grid), tables.n_steps - 1, dtype=np.int64)
    for _ in range(math.ceil(math.log2(tables.n_steps + 1))):
        mid = np.maximum((lo + hi) // 2, 0)
        flat = base + mid
        left, right = tables.left[flat], tables.right[flat]
        ok = _window_sum(cum_lab, left, right) >= need.labelled[flat]
        if cum_g is not None and need.unlabelled is not None:
            ok &= _window_sum(cum_g, left, right) >= need.unlabelled[flat]
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return hi


def _posterior_curves(
    pos: np.ndarray,
    neg: np.ndarray,
    unl: np.ndarray | None,
    tables: _WindowTables,
    need: _Requirements,
    w: float,
) -> np.ndarray:
    """Local posterior Npos / (Npos + w Nneg) in each grid point's minimal window, per row."""
    cum_pos, cum_neg = _cumulative(pos), _cumulative(neg)
    cum_g = None if unl is None else _cumulative(unl)
    steps = _minimal_steps(cum_pos + cum_neg, cum_g, tables, need)
    flat = (np.arange(tables.grid.size, dtype=np.int64) * tables.n_steps)[None, :] + steps
    left, right = tables.left[flat], tables.right[flat]
    n_pos = _window_sum(cum_pos, left, right).astype(float)
    n_neg = _window_sum(cum_neg, left, right).astype(float)
    return n_pos / (n_pos + w * n_neg)


# --------------------------------------------------------------------------- thresholds


def _pathogenic_thresholds(curves: np.ndarray, grid: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Lowest grid score above which the posterior never drops below each level (original rule).

    Scanning down from the top score, the threshold is the grid score just above
    the first one whose posterior is under the level. NaN ("not reached") when
    the top score is already under it, and also when no score is: the reference
    (``get_all_thresholds.m``: ``ind = min(find(posteriors < Post)) - 1``, NaN
    unless ``ind > 0``) finds no crossing then and reports the level as not met,
    rather than granting it to the whole score range.
    """
    below = curves[:, None, :] < levels[None, :, None]
    n_grid = grid.size
    idx = n_grid - np.argmax(below[:, :, ::-1], axis=2)  # one above the highest score below
    reached = below.any(axis=2) & (idx < n_grid)
    return np.where(reached, grid[np.minimum(idx, n_grid - 1)], np.nan)


def _benign_thresholds(curves: np.ndarray, grid: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Highest grid score below which the posterior of benignity stays above each level.

    The mirror of :func:`_pathogenic_thresholds` (the reference scans the flipped
    curve with the same rule): NaN when the lowest score already misses the level
    and when no score ever drops under it.
    """
    below = (1.0 - curves)[:, None, :] < levels[None, :, None]
    idx = np.argmax(below, axis=2) - 1  # one below the lowest score below
    reached = below.any(axis=2) & (idx >= 0)
    return np.where(reached, grid[np.maximum(idx, 0)], np.nan)


def _discounted(thresholds: np.ndarray, alpha: float, pathogenic: bool) -> float | None:
    """One-sided bound over bootstrap thresholds, as the original get_discounted_thresholds.

    A bootstrap that never reaches the level (NaN) counts as the most
    conservative outcome; more than ``alpha`` of them and the level is not reached.
    """
    n_boot = thresholds.size
    if n_boot == 0:
        return None
    valid = thresholds[~np.isnan(thresholds)]
    invalid = n_boot - valid.size
    if invalid > alpha * n_boot:
        return None
    ordered = np.sort(valid)[::-1] if pathogenic else np.sort(valid)
    return float(ordered[math.floor(alpha * n_boot) - invalid])


# --------------------------------------------------------------------------- estimator


@dataclass(frozen=True)
class _Prepared:
    """Data mapped onto the grid: buckets for resampling and counts for the point estimate."""

    tables: _WindowTables
    lab_bucket: np.ndarray  # grid index * 2 + label, per labelled variant
    g_bucket: np.ndarray | None
    need: _Requirements
    w: float


class LocalPosteriorCalibrator:
    """Estimator face of the calibration: configure in ``__init__``, ``fit`` sets ``result_``.

    ``increment`` is the half-window growth step of the original (tool-specific
    there; 0.001 for REVEL); by default the score grid span / 1000.
    """

    def __init__(
        self,
        prior: float = CLINGEN_PRIOR,
        c: float = DEFAULT_C,
        min_labelled: int = 100,
        unlabelled_fraction: float = 0.03,
        n_bootstrap: int = 10_000,
        one_sided_alpha: float = 0.05,
        reverse: bool = False,
        random_state: int | None = 0,
        show_progress: bool = False,
        increment: float | None = None,
    ) -> None:
        self.prior = prior
        self.c = c
        self.min_labelled = min_labelled
        self.unlabelled_fraction = unlabelled_fraction
        self.n_bootstrap = n_bootstrap
        self.one_sided_alpha = one_sided_alpha
        self.reverse = reverse
        self.random_state = random_state
        self.show_progress = show_progress
        self.increment = increment

    def fit(
        self, scores: ArrayLike, labels: ArrayLike, unlabelled: ArrayLike | None = None
    ) -> LocalPosteriorCalibrator:
        """Calibrate on labelled scores (1 = pathogenic, 0 = benign), optionally unlabelled ones."""
        self._check_params()
        x, y, g = self._validate(scores, labels, unlabelled)
        sign = -1.0 if self.reverse else 1.0
        x, g = sign * x, None if g is None else sign * g
        prepared = self._prepare(x, y, g)
        levels_p, levels_b = self._level_posteriors()
        point = self._point_curve(prepared)
        boot_p, boot_b, band = self._bootstrap(prepared, levels_p, levels_b)
        self.result_ = self._result(
            x, y, g, prepared.tables.grid, point, band, (boot_p, boot_b), (levels_p, levels_b)
        )
        return self

    # ---- steps of fit

    def _check_params(self) -> None:
        """The one parameter check, run by ``fit`` (sklearn style: ``__init__`` only stores)."""
        if not 0.0 < self.prior < 1.0:
            raise ValueError(f"prior must lie in (0, 1), got {self.prior}")
        if self.c <= 1.0:
            raise ValueError(f"c must be above 1, got {self.c}")
        if int(self.min_labelled) != self.min_labelled or self.min_labelled < 1:
            raise ValueError(f"min_labelled must be a positive integer, got {self.min_labelled}")
        if not 0.0 <= self.unlabelled_fraction <= 1.0:
            raise ValueError("unlabelled_fraction must lie in [0, 1]")
        if int(self.n_bootstrap) != self.n_bootstrap or self.n_bootstrap < 0:
            raise ValueError(f"n_bootstrap must be a non-negative integer, got {self.n_bootstrap}")
        if not 0.0 < self.one_sided_alpha < 0.5:
            raise ValueError(f"one_sided_alpha must lie in (0, 0.5), got {self.one_sided_alpha}")
        if self.increment is not None and not self.increment > 0:
            raise ValueError(f"increment must be positive, got {self.increment}")

    def _validate(
        self, scores: ArrayLike, labels: ArrayLike, unlabelled: ArrayLike | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Reject inputs the window search cannot terminate on, with a message saying why."""
        x = np.asarray(scores, dtype=float).ravel()
        y = np.asarray(labels).ravel()
        if x.size != y.size:
            raise ValueError(f"{x.size} scores but {y.size} labels")
        if not np.all(np.isfinite(x)):
            raise ValueError("scores must be finite (drop missing scores first)")
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError("labels must be 1 (pathogenic) or 0 (benign)")
        y = y.astype(np.int64)
        if y.min() == y.max():
            raise ValueError("need both pathogenic and benign labelled variants")
        if x.size < self.min_labelled:
            raise ValueError(f"need at least {self.min_labelled} labelled variants, got {x.size}")
        g = None
        if unlabelled is not None:
            g = np.asarray(unlabelled, dtype=float).ravel()
            if g.size == 0 or not np.all(np.isfinite(g)):
                raise ValueError("unlabelled scores must be a non-empty set of finite numbers")
        return x, y, g

    def _prepare(self, x: np.ndarray, y: np.ndarray, g: np.ndarray | None) -> _Prepared:
        """Build the grid, window tables, count requirements and the prior-matching weight w."""
        grid = _score_grid(x, g)
        span = float(grid[-1] - grid[0])
        increment = self.increment if self.increment is not None else span / 1000
        tables = _window_tables(grid, increment)
        need_g = None
        if g is not None:
            need_g = self.unlabelled_fraction * tables.coverage * g.size
        need = _Requirements(self.min_labelled * tables.coverage, need_g)
        n_pos, n_neg = int(y.sum()), int((y == 0).sum())
        w = (1 - self.prior) * n_pos / (self.prior * n_neg)
        lab_bucket = np.searchsorted(grid, x) * 2 + y
        g_bucket = None if g is None else np.searchsorted(grid, g)
        return _Prepared(tables, lab_bucket, g_bucket, need, w)

    def _level_posteriors(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior each level (4 ClinGen + 3-point) must reach, pathogenic and benign."""
        lrs = np.array(list(level_lrs(self.c).values()))
        return posterior_from_lr(lrs, self.prior), benign_posterior_from_lr(lrs, self.prior)

    def _point_curve(self, prepared: _Prepared) -> np.ndarray:
        """Posterior curve of the data as observed (a 'bootstrap' with every count once)."""
        n_grid = prepared.tables.grid.size
        lab = np.bincount(prepared.lab_bucket, minlength=2 * n_grid)[None, :]
        unl = None
        if prepared.g_bucket is not None:
            unl = np.bincount(prepared.g_bucket, minlength=n_grid)[None, :]
        return _posterior_curves(
            lab[:, 1::2], lab[:, 0::2], unl, prepared.tables, prepared.need, prepared.w
        )[0]

    def _chunks(self, n_grid: int) -> Iterator[int]:
        """Bootstrap chunk sizes bounding the (bootstraps x grid) work arrays."""
        size = max(1, _CHUNK_ELEMENTS // n_grid)
        done = 0
        while done < self.n_bootstrap:
            step = min(size, self.n_bootstrap - done)
            yield step
            done += step

    def _bootstrap(
        self, prepared: _Prepared, levels_p: np.ndarray, levels_b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thresholds of every bootstrap and the 5th/95th percentile posterior band."""
        rng = np.random.default_rng(self.random_state)
        grid = prepared.tables.grid
        sampler = _CountSampler(prepared, grid.size, rng)
        curves = np.empty((self.n_bootstrap, grid.size), dtype=np.float32)
        boot_p = np.empty((self.n_bootstrap, levels_p.size))
        boot_b = np.empty((self.n_bootstrap, levels_b.size))
        start = 0
        for size in _progress(list(self._chunks(grid.size)), self.show_progress):
            pos, neg, unl = sampler.draw(size)
            chunk = _posterior_curves(pos, neg, unl, prepared.tables, prepared.need, prepared.w)
            stop = start + size
            curves[start:stop] = chunk
            boot_p[start:stop] = _pathogenic_thresholds(chunk, grid, levels_p)
            boot_b[start:stop] = _benign_thresholds(chunk, grid, levels_b)
            start = stop
        if self.n_bootstrap == 0:
            band = np.full((2, grid.size), np.nan)
        else:
            band = np.percentile(curves, [5, 95], axis=0)
        return boot_p, boot_b, band

    def _result(
        self,
        x: np.ndarray,
        y: np.ndarray,
        g: np.ndarray | None,
        grid: np.ndarray,
        point: np.ndarray,
        band: np.ndarray,
        boots: tuple[np.ndarray, np.ndarray],
        levels: tuple[np.ndarray, np.ndarray],
    ) -> CalibrationResult:
        """Assemble thresholds (back in the tool's scale) and curves into the result."""
        sign = -1.0 if self.reverse else 1.0
        alpha = self.one_sided_alpha
        disc_p = [_discounted(boots[0][:, k], alpha, True) for k in range(levels[0].size)]
        disc_b = [_discounted(boots[1][:, k], alpha, False) for k in range(levels[1].size)]
        pt_p = _pathogenic_thresholds(point[None, :], grid, levels[0])[0]
        pt_b = _benign_thresholds(point[None, :], grid, levels[1])[0]
        order = slice(None, None, -1) if self.reverse else slice(None)
        return CalibrationResult(
            thresholds=_signed(_codes(disc_p, disc_b), sign),
            three_point=_signed({"PP3_3pt": disc_p[-1], "BP4_3pt": disc_b[-1]}, sign),
            point_thresholds=_signed(_codes(list(pt_p), list(pt_b)), sign),
            prior=self.prior,
            c=self.c,
            reverse=self.reverse,
            n_labelled=int(x.size),
            n_pathogenic=int(y.sum()),
            n_benign=int((y == 0).sum()),
            n_unlabelled=0 if g is None else int(g.size),
            n_bootstrap=self.n_bootstrap,
            grid=(sign * grid)[order],
            posterior=point[order],
            posterior_lower=band[0][order],
            posterior_upper=band[1][order],
        )


class _CountSampler:
    """Bootstrap resamples as multinomial counts per grid bucket (same law as resampling rows).

    Only occupied buckets are drawn, so a resample costs O(distinct scores), not O(variants).
    """

    def __init__(self, prepared: _Prepared, n_grid: int, rng: np.random.Generator) -> None:
        self._rng = rng
        self._n_grid = n_grid
        self._lab = np.unique(prepared.lab_bucket, return_counts=True)
        self._n_lab = prepared.lab_bucket.size
        self._g = None
        if prepared.g_bucket is not None:
            self._g = np.unique(prepared.g_bucket, return_counts=True)
            self._n_g = prepared.g_bucket.size

    def draw(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Positive, negative and unlabelled counts per grid point for ``size`` resamples."""
        lab = np.zeros((size, 2 * self._n_grid), dtype=np.int64)
        buckets, counts = self._lab
        lab[:, buckets] = self._rng.multinomial(self._n_lab, counts / self._n_lab, size=size)
        unl = None
        if self._g is not None:
            unl = np.zeros((size, self._n_grid), dtype=np.int64)
            g_buckets, g_counts = self._g
            unl[:, g_buckets] = self._rng.multinomial(self._n_g, g_counts / self._n_g, size=size)
        return lab[:, 1::2], lab[:, 0::2], unl


def _progress(chunks: list[int], show: bool) -> Iterator[int]:
    """Yield chunk sizes, advancing a rich progress bar by bootstraps when asked."""
    if not show:
        yield from chunks
        return
    from rich.progress import Progress

    with Progress() as progress:
        task = progress.add_task("bootstraps", total=sum(chunks))
        for size in chunks:
            yield size
            progress.advance(task, size)


def _codes(pathogenic: Sequence[Any], benign: Sequence[Any]) -> dict[str, Any]:
    """Map the four ClinGen levels (first entries; the 3-point level is last) to codes."""
    return {f"PP3_{lv}": pathogenic[k] for k, lv in enumerate(LEVELS)} | {
        f"BP4_{lv}": benign[k] for k, lv in enumerate(LEVELS)
    }


def _signed(values: Mapping[str, Any], sign: float) -> dict[str, float | None]:
    """Undo the internal negation of reversed tools; NaN/None become None."""
    return {k: None if v is None else sign * v for k, v in _clean(values).items()}


def local_posterior(scores: ArrayLike, result: CalibrationResult) -> np.ndarray:
    """Point-estimate posterior at new scores, interpolated on the grid (clamped at its ends)."""
    return np.interp(np.asarray(scores, dtype=float), result.grid, result.posterior)


__all__ = ["CalibrationResult", "LocalPosteriorCalibrator", "local_posterior"]
