"""The ACMG/AMP vocabulary vipredict speaks: evidence codes, points, likelihood ratios, rules.

Everything here is the guidelines' arithmetic, not a model:

* PP3/BP4 levels and their Tavtigian (2018) points, and the LR ladder
  ``c ** (points / 8)`` with ClinGen's ``c = 1124`` and prior 0.0441
  (Pejaver et al. 2022), plus the 3-point level of Bergquist et al. 2025;
* how a score is placed against calibrated thresholds (:func:`assign_evidence`)
  and which stronger level it is heading to (:func:`next_levels`);
* the frequency criteria BA1, BS1 and PM2_Supporting (ClinGen SVI thresholds),
  applied to already-computed group-max frequencies (:func:`frequency_criteria`).

The calibration algorithm that *finds* thresholds lives in
:mod:`vipredict.model.calibration`; it imports its vocabulary from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

#: Prior probability of pathogenicity used by ClinGen (Pejaver et al. 2022).
CLINGEN_PRIOR = 0.0441
LEVELS = ("Supporting", "Moderate", "Strong", "VeryStrong")
EVIDENCE_CODES: tuple[str, ...] = tuple(f"PP3_{lv}" for lv in LEVELS) + tuple(
    f"BP4_{lv}" for lv in LEVELS
)
_LEVEL_POINTS = {"Supporting": 1, "Moderate": 2, "Strong": 4, "VeryStrong": 8}
POINTS: dict[str, int] = {f"PP3_{lv}": p for lv, p in _LEVEL_POINTS.items()} | {
    f"BP4_{lv}": -p for lv, p in _LEVEL_POINTS.items()
}
#: Tavtigian et al. (2018) odds of pathogenicity for "very strong" evidence.
DEFAULT_C = 1124.0
#: Each level's LR+ is c raised to (points / 8): the Bayesian point system.
LEVEL_EXPONENTS = {lv: p / 8 for lv, p in _LEVEL_POINTS.items()}
#: Bergquist et al. (2025) intermediate 3-point level.
THREE_POINT_EXPONENT = 3 / 8
CLINGEN_LR: dict[str, float] = {lv: DEFAULT_C**e for lv, e in LEVEL_EXPONENTS.items()}
NO_EVIDENCE = "none"

#: ClinGen SVI (Ghosh et al. 2018): stand-alone benign above 5% group-max FAF95.
BA1_FAF = 0.05
#: PM2_Supporting (SVI 2020): absent, or extremely rare, in population controls.
PM2_AF = 0.0001
#: Bayesian points of the frequency criteria (BA1 is stand-alone; -8 ranks it like Very Strong).
FREQUENCY_POINTS = {"BA1": -8, "BS1": -4, "PM2_Supporting": 1}
#: Frequency criteria in the order answers list them, with the key each answer uses.
FREQUENCY_CRITERIA = (("BA1", "BA1"), ("BS1", "BS1"), ("PM2_Supporting", "PM2"))


def posterior_from_lr(lr: ArrayLike, prior: float = CLINGEN_PRIOR) -> Any:
    """Posterior probability of pathogenicity after evidence of likelihood ratio ``lr``."""
    lr_arr = np.asarray(lr, dtype=float)
    post = lr_arr * prior / ((lr_arr - 1.0) * prior + 1.0)
    return float(post) if post.ndim == 0 else post


def benign_posterior_from_lr(lr: ArrayLike, prior: float = CLINGEN_PRIOR) -> Any:
    """Posterior of benignity for benign evidence of strength ``lr`` (prior odds inverted).

    Mirrors the lab's ``get_tavtigian_thresholds``: the benign prior is ``1 - prior``.
    """
    return posterior_from_lr(lr, 1.0 - prior)


def likelihood_ratio_from_posterior(p: ArrayLike, prior: float = CLINGEN_PRIOR) -> Any:
    """Likelihood ratio that moves ``prior`` to posterior ``p`` (posterior odds / prior odds)."""
    p_arr = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore"):
        lr = (p_arr / (1.0 - p_arr)) * ((1.0 - prior) / prior)
    return float(lr) if lr.ndim == 0 else lr


def level_lrs(c: float = DEFAULT_C) -> dict[str, float]:
    """LR+ of every level, including the 3-point one, for a given ``c``."""
    return {lv: c**e for lv, e in LEVEL_EXPONENTS.items()} | {"3pt": c**THREE_POINT_EXPONENT}


# --------------------------------------------------------------------------- applying thresholds


def _reaches(scores: np.ndarray, threshold: float | None, toward_high: bool) -> np.ndarray:
    """Whether each score lies on the evidence side of a threshold (never when unreached)."""
    if threshold is None:
        return np.zeros(scores.shape, dtype=bool)
    return scores >= threshold if toward_high else scores <= threshold


def assign_evidence(
    scores: ArrayLike, thresholds: Mapping[str, float | None], reverse: bool = False
) -> np.ndarray:
    """Strongest PP3/BP4 code each score reaches, or ``"none"``.

    PP3 applies at or beyond the PP3 threshold toward pathogenic scores (high,
    or low when ``reverse``), BP4 at or beyond the BP4 threshold the other way.
    """
    arr = np.asarray(scores, dtype=float)
    codes = np.full(arr.shape, NO_EVIDENCE, dtype=object)
    for lv in LEVELS:  # weakest first, so stronger levels overwrite
        codes[_reaches(arr, thresholds.get(f"BP4_{lv}"), reverse)] = f"BP4_{lv}"
    for lv in LEVELS:
        codes[_reaches(arr, thresholds.get(f"PP3_{lv}"), not reverse)] = f"PP3_{lv}"
    return codes.astype(str)


def evidence_points(codes: ArrayLike) -> np.ndarray:
    """Signed Bayesian points of evidence codes (0 for ``"none"``)."""
    arr = np.asarray(codes, dtype=object)
    lookup = np.vectorize(lambda code: POINTS.get(str(code), 0), otypes=[np.int64])
    return lookup(arr) if arr.size else np.zeros(arr.shape, dtype=np.int64)


def next_levels(
    scores: ArrayLike, thresholds: Mapping[str, float | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Next stronger code each score is heading to, and the score distance still to go.

    A score with PP3 (BP4) evidence heads to the next reached PP3 (BP4) level; a
    score without evidence heads to whichever nearest reached level is closer, PP3
    or BP4. ``(None, NaN)`` where no stronger level exists or the score is missing.
    """
    arr = np.asarray(scores, dtype=float)
    current = assign_evidence(arr, thresholds)
    codes = np.full(arr.shape, None, dtype=object)
    distances = np.full(arr.shape, np.nan)
    for family in ("PP3", "BP4"):
        family_codes = [f"{family}_{lv}" for lv in LEVELS]
        # position of the current code inside this family (-1: none; other family: skip)
        position = np.full(arr.shape, -1, dtype=np.int64)
        other = np.zeros(arr.shape, dtype=bool)
        for k, code in enumerate(family_codes):
            position[current == code] = k
        other |= (current != NO_EVIDENCE) & (position < 0)
        pending = ~other & ~np.isnan(arr)
        for k, code in enumerate(family_codes):
            threshold = thresholds.get(code)
            if threshold is None:
                continue
            here = pending & (position < k)
            distance = np.abs(float(threshold) - arr)
            better = here & (np.isnan(distances) | (distance < distances))
            codes[better] = code
            distances[better] = distance[better]
            pending &= ~here  # the first reached stronger level of the family is the next one
    return codes, distances


def next_level(
    score: float, thresholds: Mapping[str, float | None]
) -> tuple[str | None, float | None]:
    """:func:`next_levels` of one score: ``(code, distance)`` or ``(None, None)``."""
    codes, distances = next_levels([score], thresholds)
    code = codes[0]
    return (None, None) if code is None else (str(code), float(distances[0]))


# --------------------------------------------------------------------------- frequency criteria


def _criterion(value: float, group: str | None, threshold: float, above: bool) -> dict[str, Any]:
    if math.isnan(value):
        return {"status": "unknown", "met": None, "group": None, "faf": None}
    met = bool(value > threshold) if above else bool(value < threshold)
    return {"status": "met" if met else "not_met", "met": met, "group": group, "faf": value}


def frequency_criteria(
    grpmax_faf: Sequence[float],
    grpmax_group: Sequence[str | None],
    max_af: Sequence[float],
    max_af_group: Sequence[str | None],
    bs1_faf: float,
) -> list[dict[str, dict[str, Any]]]:
    """BA1/BS1/PM2_Supporting per variant from its group-max FAF95 and its largest group AF.

    BA1 and BS1 compare the group-max FAF95 (bottlenecked groups already left
    out by the caller) with 5% and the configured BS1 threshold. PM2_Supporting
    is conservative the other way: the allele must be rare (AF < 0.0001) in
    *every* group, so it takes the largest AF of all groups. A NaN value (no
    frequency data) leaves the criterion ``unknown``, never ``not_met``.
    """
    return [
        {
            "BA1": _criterion(float(faf), fgroup, BA1_FAF, True),
            "BS1": _criterion(float(faf), fgroup, bs1_faf, True),
            "PM2": _criterion(float(af), agroup, PM2_AF, False),
        }
        for faf, fgroup, af, agroup in zip(
            grpmax_faf, grpmax_group, max_af, max_af_group, strict=True
        )
    ]


def met_frequency_criteria(criteria: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Names of the met criteria (BA1 alone when met: it stands alone, BS1 adds nothing)."""
    met = [name for name, key in FREQUENCY_CRITERIA if criteria[key]["met"]]
    return ["BA1"] if "BA1" in met else met
