"""The ACMG/AMP vocabulary vipredict speaks: evidence codes, points, likelihood ratios, rules.

Everything here is the guidelines' arithmetic, not a model:

* PP3/BP4 levels and their Tavtigian (2018) points, and the LR ladder
  ``c ** (points / 8)`` with ClinGen's ``c = 1124`` and prior 0.0441
  (Pejaver et al. 2022), plus the 3-point level of Bergquist et al. 2025;
* how a score is placed against calibrated thresholds (:func:`assign_evidence`)
  and which stronger level it is heading to (:func:`next_levels`);
* the same placement in SVCv4 terms: ``MIS_PRD`` points from -4 to +4, the
  3-point level included (:func:`mis_prd_points`, :func:`mis_prd_ladder`);
* the frequency criteria BA1, BS1 and PM2_Supporting (ClinGen SVI thresholds),
  applied to already-computed group-max frequencies (:func:`frequency_criteria`),
  including what a group given as an AF without AC/AN can and cannot decide.

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
#: Evidence families and the direction of their points.
FAMILIES = ("PP3", "BP4")

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


# --------------------------------------------------------------------------- SVCv4 MIS_PRD

#: SVCv4's code for computational (predictive) evidence about a missense change.
#:
#: Source: the ClinGen SVCv4 data model, ``clingen-data-model/svcv4-model`` (commit
#: d7d960d, 2026-08-22), ``docs/workflows/pfd/missense.md`` ("Predictive evidence
#: (``MIS_PRD_``)") and ``src/svcv4_model/missense.py`` (``MissensePredictiveEvidence``):
#: ONE calibrated predictor selected in advance; its calibrated points, "coded and
#: capped ``MIS_PRD_`` -4.0 to +4.0" (the ±3 level of Bergquist et al. 2025 included);
#: positive points are then adjusted by the curator for transcript relevance
#: (``ExonRelevance``: All = full, Most = half, Few = zero). vipredict emits the
#: calibrated points before that step (the model's ``initial_points``): the exon's
#: presence in the disease-relevant transcripts is the curator's to judge.
MIS_PRD_CODE = "MIS_PRD"
#: SVCv4 caps MIS_PRD at [-4, +4].
MIS_PRD_MAX = 4
#: Name of the Bergquist 3-point level in a calibration's ``three_point`` (``PP3_3pt``).
THREE_POINT_LEVEL = "3pt"
#: The ladder on one side, weakest first: (level, Tavtigian weight, MIS_PRD points).
#: The weight decides what a cap allows (the 3-point level weighs 3: allowed under a
#: cap at Strong, stopped by one at Moderate); Very Strong weighs 8 and is coded +4.
_MIS_PRD_STEPS: tuple[tuple[str, int, int], ...] = (
    ("Supporting", 1, 1),
    ("Moderate", 2, 2),
    (THREE_POINT_LEVEL, 3, 3),
    ("Strong", 4, 4),
    ("VeryStrong", 8, MIS_PRD_MAX),
)


def _cap_weight(caps: Mapping[str, str] | None, family: str) -> int:
    """Tavtigian weight of the strongest level ``caps`` allows ``family`` (no cap: Very Strong)."""
    level = (caps or {}).get(family, LEVELS[-1])
    if level not in _LEVEL_POINTS:
        raise ValueError(f"cap {level!r} of {family} is not one of {LEVELS}")
    return _LEVEL_POINTS[level]


def mis_prd_steps(
    thresholds: Mapping[str, float | None],
    three_point: Mapping[str, float | None],
    family: str,
    caps: Mapping[str, str] | None = None,
) -> list[tuple[str, float | None, int]]:
    """``(level, threshold, MIS_PRD points)`` of one family, weakest first, caps applied.

    A level stronger than the family's cap (``caps``: ``{"PP3": "Strong", "BP4":
    "Moderate"}``, the training configuration's ``pp3_max_level``/``bp4_max_level``)
    is left out, the 3-point level by its weight of 3 points: a cap at Moderate
    stops ±3, a cap at Strong allows ±3 and ±4. Points are signed (BP4 negative).
    """
    if family not in FAMILIES:
        raise ValueError(f"family {family!r} is not one of {FAMILIES}")
    limit = _cap_weight(caps, family)
    sign = 1 if family == "PP3" else -1
    steps = []
    for level, weight, points in _MIS_PRD_STEPS:
        if weight > limit:
            continue
        source = three_point if level == THREE_POINT_LEVEL else thresholds
        steps.append((level, source.get(f"{family}_{level}"), sign * points))
    return steps


def mis_prd_points(
    scores: ArrayLike,
    thresholds: Mapping[str, float | None],
    three_point: Mapping[str, float | None],
    reverse: bool = False,
    caps: Mapping[str, str] | None = None,
) -> np.ndarray:
    """SVCv4 ``MIS_PRD`` points (-4..+4) of each score under calibrated thresholds.

    The rule of :func:`assign_evidence`: a level applies at or beyond its threshold
    (toward high scores for PP3, low for BP4; the other way when ``reverse``), an
    unreached level (``None``) never does, the strongest level reached wins, and a
    score reaching both families is PP3's. On top of the four ClinGen levels it
    places the 3-point level (``three_point``: ``PP3_3pt``/``BP4_3pt``, the
    calibration's thresholds for LR 1124**(3/8)), and codes Very Strong as ±4.
    So MIS_PRD equals the v3 points clipped to ±4 everywhere except in the 3-point
    band (the 3-point threshold reached, Strong not): ±3 there, where v3 says ±2.
    ``caps`` as for :func:`mis_prd_steps`. A NaN score reaches nothing: 0.
    """
    arr = np.asarray(scores, dtype=float)
    out = np.zeros(arr.shape, dtype=np.int64)
    for family, toward_high in (("BP4", reverse), ("PP3", not reverse)):  # PP3 last: it wins
        for _, threshold, points in mis_prd_steps(thresholds, three_point, family, caps):
            out[_reaches(arr, threshold, toward_high)] = points
    return out


def mis_prd_ladder(
    thresholds: Mapping[str, float | None],
    three_point: Mapping[str, float | None],
    caps: Mapping[str, str] | None = None,
) -> dict[str, float | None]:
    """The score at which each MIS_PRD value starts (``"+1"``..``"+4"``, ``"-1"``..``"-4"``).

    ``None``: the value is never given (its level unreached by the calibration, or
    beyond the cap). +4 starts at Strong, or at Very Strong when only that is
    reached and allowed. What a curator reads in the model card.
    """
    ladder: dict[str, float | None] = {}
    for family in FAMILIES:
        for _, threshold, points in mis_prd_steps(thresholds, three_point, family, caps):
            key = f"{points:+d}"
            if ladder.get(key) is None:
                ladder[key] = threshold
    order = [f"{p:+d}" for p in (*range(1, MIS_PRD_MAX + 1), *range(-1, -MIS_PRD_MAX - 1, -1))]
    return {key: ladder.get(key) for key in order}


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


FAF_BASIS = "faf95"
AF_BOUND_BASIS = "af_upper_bound"
AF_BASIS = "af"
POOLED_BASIS = "pooled_af"


def _status(
    status: str, group: str | None, value: float | None, basis: str | None, detail: str
) -> dict[str, Any]:
    met = None if status == "unknown" else status == "met"
    return {
        "status": status,
        "met": met,
        "group": group,
        "faf": value,
        "basis": basis,
        "detail": detail,
    }


def _above(
    faf: float, group: str | None, bound: float, bound_group: str | None, threshold: float
) -> dict[str, Any]:
    """BA1/BS1: met only on a FAF95 above ``threshold``; AF-only groups can only rule it out.

    FAF95 is a lower confidence bound on the AF, so it never exceeds the AF: a
    group's AF at or under the threshold proves its FAF95 is too, and
    ``bound`` (the largest FAF95, or the AF where only an AF is given) at or under
    the threshold is ``not_met``. An AF above it without AC/AN says nothing
    either way: ``unknown``.
    """
    if not math.isnan(faf) and faf > threshold:
        return _status("met", group, faf, FAF_BASIS, f"FAF95 {faf:.3g} > {threshold:g}")
    if math.isnan(bound):
        return _status("unknown", None, None, None, "no frequency data")
    counted = not math.isnan(faf) and faf >= bound
    basis = FAF_BASIS if counted else AF_BOUND_BASIS
    if bound <= threshold:
        what = "FAF95" if counted else "FAF95 at most (AF)"
        return _status("not_met", bound_group, bound, basis, f"{what} {bound:.3g} <= {threshold:g}")
    return _status(
        "unknown",
        bound_group,
        None,
        AF_BOUND_BASIS,
        f"AF {bound:.3g} in {bound_group} > {threshold:g} without AC/AN: no FAF95 "
        "(a gnomAD sites VCF with counts can decide it)",
    )


def _rare(af: float, group: str | None, pooled: float, pooled_group: str | None) -> dict[str, Any]:
    """PM2_Supporting: the AF under :data:`PM2_AF` in every group.

    The overall (pooled) AF is a weighted mean of the group AFs, so some group is
    at least as frequent: an overall AF at or above the threshold rules PM2 out
    even without group values; under it, it proves nothing about the groups.
    """
    if not math.isnan(pooled) and pooled >= PM2_AF and (math.isnan(af) or af < PM2_AF):
        return _status("not_met", pooled_group, pooled, POOLED_BASIS, f"overall AF {pooled:.3g}")
    if math.isnan(af):
        return _status("unknown", None, None, None, "no group frequency")
    if af < PM2_AF:
        return _status("met", group, af, AF_BASIS, f"AF {af:.3g} < {PM2_AF:g} in every group")
    return _status("not_met", group, af, AF_BASIS, f"AF {af:.3g} >= {PM2_AF:g}")


def _nan_array(values: Sequence[float] | None, like: Sequence[Any]) -> list[float]:
    if values is None:
        return [math.nan] * len(like)
    return [math.nan if v is None else float(v) for v in values]


def _labels(values: Sequence[Any] | None, n: int) -> list[str | None]:
    """Group labels with every missing spelling (None, NaN, pd.NA, "") as None."""
    if values is None:
        return [None] * n
    return [v if isinstance(v, str) and v else None for v in values]


def frequency_criteria(
    grpmax_faf: Sequence[float],
    grpmax_group: Sequence[str | None],
    max_af: Sequence[float],
    max_af_group: Sequence[str | None],
    bs1_faf: float,
    faf_bound: Sequence[float] | None = None,
    faf_bound_group: Sequence[str | None] | None = None,
    pooled_af: Sequence[float] | None = None,
    pooled_group: Sequence[str | None] | None = None,
    sources: Sequence[str] | None = None,
) -> list[dict[str, dict[str, Any]]]:
    """BA1/BS1/PM2_Supporting per variant, each ``met``/``not_met``/``unknown`` with its basis.

    BA1 (ClinGen SVI, Ghosh et al. 2018: stand-alone benign above 5%) and BS1 (the
    configured threshold) are met only when a non-bottlenecked group's filtering
    allele frequency (FAF95, gnomAD's group-max statistic) exceeds the threshold.
    A group given as an AF without AC/AN (VEP's gnomAD fields) has no FAF95: it
    can show the criterion is not met (FAF95 <= AF) but never that it is, however
    far above the threshold, because nothing bounds the sampling error of an AF
    of unknown AN (SVI's BA1 asks for at least 2,000 alleles; gnomAD's FAF95 is
    the statistic that accounts for AN). ``faf_bound`` is the largest FAF95, or
    AF for such groups (defaults to ``grpmax_faf``: every group counted).

    PM2_Supporting needs the allele rare (AF < 0.0001) in *every* group, so it
    takes the largest AF of all groups, bottlenecked ones included; an AF alone
    decides it. An overall AF (``pooled_af``) at or above 0.0001 rules it out.
    A NaN leaves a criterion ``unknown``, never ``not_met``. Each criterion also
    carries ``basis`` (``faf95``, ``af_upper_bound``, ``af``, ``pooled_af``), a
    ``detail`` sentence and ``source``: the datasets the variant's frequencies came from.
    """
    n = len(grpmax_faf)
    bound = _nan_array(faf_bound if faf_bound is not None else grpmax_faf, grpmax_faf)
    faf_group = _labels(grpmax_group, n)
    bound_group = _labels(faf_bound_group, n) if faf_bound_group is not None else faf_group
    pooled = _nan_array(pooled_af, grpmax_faf)
    pooled_labels = _labels(pooled_group, n)
    af_group = _labels(max_af_group, n)
    named = _labels(sources, n)
    faf = _nan_array(grpmax_faf, grpmax_faf)
    af = _nan_array(max_af, grpmax_faf)
    out = []
    for i in range(n):
        upper = (faf[i], faf_group[i], bound[i], bound_group[i])
        criteria = {
            "BA1": _above(*upper, BA1_FAF),
            "BS1": _above(*upper, bs1_faf),
            "PM2": _rare(af[i], af_group[i], pooled[i], pooled_labels[i]),
        }
        for criterion in criteria.values():
            criterion["source"] = named[i]
        out.append(criteria)
    return out


def met_frequency_criteria(criteria: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Names of the met criteria (BA1 alone when met: it stands alone, BS1 adds nothing)."""
    met = [name for name, key in FREQUENCY_CRITERIA if criteria[key]["met"]]
    return ["BA1"] if "BA1" in met else met
