"""One stored variant scored without pandas: the service's cold look-up in about a millisecond.

:meth:`vipredict.model.scorer.Scorer.results_of` is built for blocks of rows: its
frames, routing, warnings and frequency summary cost about 50 ms whatever the
number of rows, which is nothing for a VCF and everything for a service asked
one variant at a time. :class:`SingleScorer` gives the same answer for one row
held as a dict (a row of the serving index, :mod:`vipredict.store.index`): the
evidence comes from the block path's own :func:`~vipredict.model.scorer.row_evidence`
on a one-row :class:`~vipredict.model.scorer.FeatureMatrix` (routing, the profile's
booster, calibration, MIS_PRD), the warnings from
:func:`~vipredict.model.scorer.row_warnings`; what is written again here for one row
is the frequency summary behind BA1/BS1/PM2 (:func:`frequency_of_row`, as
:func:`vipredict.features.frequency.frequency_summary` computes it from the store's
wide columns, without its frames) and TreeSHAP for that row only.

Same answers, not similar ones: ``tests/service/test_index_serving.py`` compares
the service's JSON through this path with the block path, key by key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vipredict.acmg import (
    NO_EVIDENCE,
    evidence_points,
    frequency_criteria,
    likelihood_ratio_from_posterior,
    next_levels,
)
from vipredict.features.frequency import (
    ALL_GROUP,
    DEFAULT_DATASETS,
    GROUP_ORDER,
    GRPMAX_EXCLUDED,
    dataset_prefix,
)
from vipredict.model.explain import contributions_of
from vipredict.model.scorer import (
    ERROR_DETAILS,
    WARNINGS_COLUMN,
    FeatureMatrix,
    Scorer,
    row_evidence,
    row_warnings,
)


@dataclass(frozen=True)
class SingleAnswer:
    """One variant's result row (the values :func:`~vipredict.model.scorer.result_rows`
    yields), its BA1/BS1/PM2 criteria and its top contributions."""

    row: dict[str, Any]
    frequency: dict[str, dict[str, Any]]
    top_features: list[dict[str, Any]]


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class _FrequencyEntry:
    label: str
    source: str
    group: str
    af: float
    faf: float
    seen: bool


def _largest(entries: Sequence[_FrequencyEntry], value: str) -> tuple[float, str | None]:
    """The largest non-missing ``value`` and its label (the first of equals; None at 0)."""
    best: tuple[float, str] | None = None
    for entry in entries:
        number = (
            (entry.faf if not math.isnan(entry.faf) else entry.af)
            if value == "bound"
            else getattr(entry, value)
        )
        if math.isnan(number):
            continue
        if best is None or number > best[0]:
            best = (number, entry.label)
    if best is None:
        return math.nan, None
    return best[0], best[1] if best[0] > 0 else None


def frequency_of_row(
    values: Mapping[str, float], bs1_faf: float, datasets: tuple[str, ...] = DEFAULT_DATASETS
) -> dict[str, dict[str, Any]]:
    """BA1/BS1/PM2_Supporting of one stored row, as
    :func:`vipredict.model.scorer.frequency_evidence` gives them for that row."""
    entries = []
    for dataset in datasets:
        prefix = dataset_prefix(dataset)
        for group in GROUP_ORDER:
            af_column, faf_column = f"{prefix}_{group}_af", f"{prefix}_{group}_faf95"
            if af_column not in values and faf_column not in values:
                continue
            af = values.get(af_column, math.nan)
            faf = values.get(faf_column, math.nan)
            if math.isnan(af) and math.isnan(faf):
                continue
            ac = values.get(f"{prefix}_{group}_ac", math.nan)
            seen = (af > 0 if not math.isnan(af) else False) if math.isnan(ac) else ac > 0
            entries.append(_FrequencyEntry(f"{prefix}:{group}", dataset, group, af, faf, seen))
    eligible = [e for e in entries if e.group not in GRPMAX_EXCLUDED | {ALL_GROUP}]
    per_group = [e for e in entries if e.group != ALL_GROUP]
    pooled = [e for e in entries if e.group == ALL_GROUP]
    faf, faf_group = _largest(eligible, "faf")
    bound, bound_group = _largest(eligible, "bound")
    max_af, max_af_group = _largest(per_group, "af")
    pooled_af, pooled_group = _largest(pooled, "af")
    sources = ";".join(sorted({e.source for e in entries}))
    return frequency_criteria(
        [faf], [faf_group], [max_af], [max_af_group], bs1_faf=bs1_faf,
        faf_bound=[bound], faf_bound_group=[bound_group],
        pooled_af=[pooled_af], pooled_group=[pooled_group], sources=[sources],
    )[0]  # fmt: skip


@dataclass(frozen=True)
class SingleScorer:
    """:class:`Scorer`'s answer for one row at a time (see the module docstring).

    ``columns``: the columns the rows carry (a feature absent from them counts as
    absent from the store, as in the block path).
    """

    scorer: Scorer
    columns: frozenset[str]

    @classmethod
    def of(cls, scorer: Scorer, columns: Sequence[str]) -> SingleScorer:
        return cls(scorer, frozenset(columns))

    def _warnings(self, given: Any, values: Mapping[str, float], profile: str) -> str:
        richest = self.scorer.evidence_model.profiles[0].profile
        lacking = [s for s in richest.sources if math.isnan(values.get(s, math.nan))]
        return row_warnings(str(given) if given else "", lacking, profile)

    def _priority(self, values: Mapping[str, float]) -> tuple[float, str]:
        model = self.scorer.priority_model
        if model is None or not set(model.feature_names) <= self.columns:
            return math.nan, ""
        x = np.array([[values[c] for c in model.feature_names]], dtype="float64")
        # LGBMClassifier.predict_proba's positive column is the booster's own prediction.
        score = float(np.asarray(model.model.booster_.predict(x))[0])
        return score, f"{model.name}/{model.version}"

    def answer(self, stored: Mapping[str, Any], variant: str) -> SingleAnswer:
        """The answer of one stored row (column -> Python value, None where missing)."""
        model = self.scorer.evidence_model
        values = {c: _number(stored[c]) for c in self.columns if c not in _TEXT}
        names = tuple(values)
        row = FeatureMatrix(np.array([[values[c] for c in names]], dtype="float64"), names)
        found = row_evidence(model, row)
        name, error = str(found.profile[0]), str(found.error[0])
        score, posterior = float(found.score[0]), float(found.posterior[0])
        evidence, mis_prd = str(found.evidence[0]), float(found.mis_prd[0])
        code, distance, top = None, math.nan, []
        if name:
            profile = next(p for p in model.profiles if p.name == name)
            codes, distances = next_levels(found.score[:1], profile.calibration.thresholds)
            code, distance = codes[0], float(distances[0])
            x = row.values[:, row.positions(profile.feature_names)]
            top = contributions_of(profile.booster, profile.feature_names, x)[0]
        priority, priority_name = self._priority(values)
        if error == "no_features":
            priority = math.nan
        if error:
            evidence, mis_prd = NO_EVIDENCE, math.nan
        result = {
            "variant": variant,
            "gene": stored.get("gene"),
            "score": score,
            "posterior": posterior,
            "likelihood_ratio": float(likelihood_ratio_from_posterior(posterior)),
            "evidence": evidence,
            "profile": name,
            "points": int(evidence_points([evidence])[0]),
            "mis_prd": None if math.isnan(mis_prd) else int(mis_prd),
            "next_level": code,
            "next_level_distance": distance,
            "priority_score": priority,
            "priority_model": priority_name,
            WARNINGS_COLUMN: self._warnings(stored.get(WARNINGS_COLUMN), values, name),
            "error": error,
            "error_detail": ERROR_DETAILS.get(error, ""),
        }
        return SingleAnswer(result, frequency_of_row(values, self.scorer.bs1_faf), top)


#: Text columns of a stored row (never features).
_TEXT = frozenset({"variant", "ref", "alt", "pos", "gene", WARNINGS_COLUMN})
