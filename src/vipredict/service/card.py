"""The model card the service answers at ``GET /model``: everything a curator needs to cite.

Versions of the code and libraries, each champion with its training data digest
and calibration, the latest validation evaluation (flagged when it scored other
model versions), the frequency rules with their thresholds, and the rules for
combining vipredict's evidence with other criteria. ``guidelines`` names the
guideline versions the answers carry (``VIPREDICT_GUIDELINES``); when SVCv4 is one,
the evidence model's ``mis_prd`` table gives, per annotation profile, the score at
which each MIS_PRD value starts.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import mlflow

from vipredict import __version__
from vipredict.acmg import BA1_FAF, MIS_PRD_CODE, PM2_AF
from vipredict.config import SVCV4, Limits, Settings
from vipredict.features.frequency import DEFAULT_DATASETS, GRPMAX_EXCLUDED
from vipredict.io.files import json_safe
from vipredict.model.registry import (
    EVALUATION_ARTIFACT,
    EVALUATION_RUN,
    EXPERIMENT,
    LoadedModel,
    setup_mlflow,
)
from vipredict.model.scorer import Scorer, mis_prd_ladders

COMBINATION_RULES = (
    "PP3/BP4 come only from vipredict-noaf, which uses no population frequency: they may be "
    "combined with BA1, BS1 and PM2_Supporting.",
    "Never combine vipredict PP3/BP4 with another computational predictor's PP3/BP4 (REVEL, "
    "BayesDel, CADD, ...): ClinGen SVI allows one calibrated predictor per variant.",
    "The priority score of vipredict-af uses allele frequency: it orders curation queues and is "
    "never evidence.",
    "BS1's 1% FAF default is generic; in practice the BS1 threshold is gene/disease-specific "
    "(prevalence, penetrance, heterogeneity) and should come from the relevant VCEP.",
)
#: What MIS_PRD is, for the card (source: clingen-data-model/svcv4-model, see vipredict.acmg).
MIS_PRD_NOTE = (
    "SVCv4 computational missense evidence from this one pre-selected calibrated predictor: "
    "points -4..+4 including the 3-point level (Bergquist et al. 2025), capped as PP3/BP4 "
    "are. A score at or beyond a value's start gets it (at or above for positive values, "
    "at or below for negative ones; reversed when `reverse`); null: never given. Before "
    "SVCv4's transcript-relevance step, which is the curator's (full points when the exon is "
    "in all disease-relevant transcripts, half in most, none in few)."
)


def _versions() -> dict[str, str]:
    out = {"vipredict": __version__, "python": platform.python_version()}
    for package in ("bentoml", "mlflow", "lightgbm", "scikit-learn", "pandas", "numpy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def _training_data(client: Any, run_id: str) -> list[dict[str, Any]]:
    """Dataset inputs MLflow recorded for the run: name, digest, source type, context."""
    run = client.get_run(run_id)
    out = []
    for item in run.inputs.dataset_inputs or []:
        context = {t.key: t.value for t in item.tags}.get("mlflow.data.context")
        ds = item.dataset
        out.append(
            {
                "name": ds.name,
                "digest": ds.digest,
                "source_type": ds.source_type,
                "context": context,
            }
        )
    return out


def mis_prd_section(model: LoadedModel) -> dict[str, Any]:
    """The evidence model's MIS_PRD table: per profile, where each value starts."""
    return {"code": MIS_PRD_CODE, "note": MIS_PRD_NOTE, "profiles": mis_prd_ladders(model)}


def _model_section(model: LoadedModel, client: Any, role: str) -> dict[str, Any]:
    calibration = model.calibration
    return {
        "name": model.name,
        "version": model.version,
        "run_id": model.run_id,
        "role": role,
        "emits_evidence": model.emits_evidence,
        "feature_names": list(model.feature_names),
        "calibration": {
            "thresholds": dict(calibration.thresholds),
            "prior": calibration.prior,
            "c": calibration.c,
            "n_labelled": calibration.n_labelled,
            "n_pathogenic": calibration.n_pathogenic,
            "n_benign": calibration.n_benign,
            "n_bootstrap": calibration.n_bootstrap,
        },
        "run_metrics": dict(model.run_metrics),
        "training_data": _training_data(client, model.run_id),
    }


def _validation(client: Any, models: Iterable[LoadedModel]) -> dict[str, Any] | None:
    """Latest ``evaluate-validation`` run's report, flagged when it scored other model versions."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        f"tags.mlflow.runName = '{EVALUATION_RUN}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run_id = runs[0].info.run_id
    try:
        report = mlflow.artifacts.load_dict(f"runs:/{run_id}/{EVALUATION_ARTIFACT}")
    except Exception:  # an evaluation run without its report: say so rather than fail start-up
        return {"run_id": run_id, "error": "evaluation report artifact missing"}
    champions = {m.run_id for m in models}
    evaluated = {v.get("model", {}).get("run_id") for v in report.get("models", {}).values()}
    return {
        "run_id": run_id,
        "dataset": report.get("dataset"),
        "n": report.get("n"),
        "n_pathogenic": report.get("n_pathogenic"),
        "matches_champions": champions <= evaluated,
        "models": report.get("models", {}),
    }


def build_model_card(scorer: Scorer, settings: Settings) -> dict:
    """Everything a curator needs to cite a result: versions, data, calibration, rules."""
    return json_safe(_card(scorer, settings, scorer.bs1_faf, settings.limits))


def _card(scorer: Scorer, settings: Settings, bs1_faf: float, limits: Limits) -> dict:
    client = setup_mlflow(settings)
    models = [scorer.evidence_model] + ([scorer.priority_model] if scorer.priority_model else [])
    sections = [_model_section(scorer.evidence_model, client, "PP3/BP4 evidence")]
    if SVCV4 in scorer.guidelines:
        sections[0]["mis_prd"] = mis_prd_section(scorer.evidence_model)
    if scorer.priority_model is not None:
        sections.append(
            _model_section(
                scorer.priority_model, client, "prioritisation only (uses allele frequency)"
            )
        )
    return {
        "service": "vipredict",
        "versions": _versions(),
        "guidelines": list(scorer.guidelines),
        "models": sections,
        "validation_evaluation": _validation(client, models),
        "feature_store": {"n_variants": len(scorer.store) if scorer.store else 0},
        "frequency_rules": {
            "BA1": {"statistic": "group-max FAF95", "threshold": BA1_FAF},
            "BS1": {
                "statistic": "group-max FAF95",
                "threshold": bs1_faf,
                "note": "gene/disease-specific in practice; set VIPREDICT_BS1_FAF",
            },
            "PM2_Supporting": {
                "statistic": "max group AF (all groups)",
                "threshold": PM2_AF,
                "note": "met when not observed in a covered gene",
            },
            "grpmax_excluded_groups": sorted(GRPMAX_EXCLUDED),
            "datasets": list(DEFAULT_DATASETS),
        },
        "combination_rules": list(COMBINATION_RULES),
        "limits": {"max_variants": limits.max_variants, "max_bytes": limits.max_bytes},
    }
