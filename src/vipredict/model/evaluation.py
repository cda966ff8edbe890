"""Hold-out evaluation: discrimination and, above all, whether the evidence is honest.

For clinical use the question is not only AUROC but whether a variant given
PP3_Strong really is ~33.5x more likely among pathogenic than benign variants
it was not trained on. ``empirical_lr`` answers that on the hold-out, level by
level, with the comparators scored on exactly the same rows.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from vipredict.acmg import CLINGEN_LR, EVIDENCE_CODES, POINTS, assign_evidence
from vipredict.features.sets import lost_source_scenarios
from vipredict.io.readers.clingen import read_clingen_set
from vipredict.model.registry import LoadedModel
from vipredict.model.scorer import profile_evidence
from vipredict.model.training import mask_sources
from vipredict.schema import COMPARATOR_SCORES
from vipredict.store.partitioned import Store, labelled_rows

COMPARATORS = ("REVEL", "BayesDel", "MutPred2", "VEST4", "CADD")


def published_thresholds() -> dict[str, dict]:
    """Comparators' published ClinGen thresholds (Pejaver 2022, Table 2), one entry per tool."""
    text = resources.files("vipredict").joinpath("data/published_thresholds.toml").read_text()
    return tomllib.loads(text)


def thresholds_of(entry: dict) -> dict[str, float | None]:
    return {code: entry.get(code) for code in EVIDENCE_CODES}


def _at_least(codes: np.ndarray, level: str) -> np.ndarray:
    """Whether each code is ``level`` or a stronger level of the same criterion."""
    criterion, need = level.split("_")[0], abs(POINTS[level])
    points = np.array([POINTS.get(code, 0) for code in codes], dtype=int)
    same_side = np.array([str(code).startswith(criterion) for code in codes], dtype=bool)
    return same_side & (np.abs(points) >= need)


def coverage_and_lr(
    codes: np.ndarray, labels: np.ndarray
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Per level: share of the right class given it (or stronger), and its empirical LR.

    A level no variant received is ``None`` in both; an LR whose denominator is 0
    (no variant of the other class got the level) is ``inf``.
    """
    pathogenic, benign = labels == 1, labels == 0
    coverage: dict[str, float | None] = {}
    likelihood: dict[str, float | None] = {}
    for level in EVIDENCE_CODES:
        hit = _at_least(codes, level)
        if not hit.any():
            coverage[level] = likelihood[level] = None
            continue
        right, wrong = (pathogenic, benign) if level.startswith("PP3") else (benign, pathogenic)
        share_right, share_wrong = hit[right].mean(), hit[wrong].mean()
        coverage[level] = float(share_right)
        likelihood[level] = float(share_right / share_wrong) if share_wrong > 0 else math.inf
    return coverage, likelihood


def band_coverage_and_lr(codes: np.ndarray, labels: np.ndarray) -> dict[str, dict]:
    """Per evidence band (exactly that code, not "or stronger"): shares, LR and whether it holds.

    The band [PP3_Supporting, PP3_Moderate) must reach PP3_Supporting's LR on its
    own; counting "or stronger" would let the Strong band carry it. ``share`` is
    the share of the band's own class (P/LP for PP3, B/LB for BP4) that got it;
    ``lr`` its share over the other class's share (``inf`` when the other class
    has none; BP4 mirrored so both compare with the same LR+ ladder).
    """
    pathogenic, benign = labels == 1, labels == 0
    table: dict[str, dict] = {}
    for code in EVIDENCE_CODES:
        hit = np.asarray(codes) == code
        if not hit.any():
            continue
        right, wrong = (pathogenic, benign) if code.startswith("PP3") else (benign, pathogenic)
        share_right = float(hit[right].mean()) if right.any() else 0.0
        share_wrong = float(hit[wrong].mean()) if wrong.any() else 0.0
        lr = share_right / share_wrong if share_wrong > 0 else math.inf
        needed = CLINGEN_LR[code.split("_")[1]]
        table[code] = {
            "n": int(hit.sum()),
            "n_right": int(hit[right].sum()),
            "n_wrong": int(hit[wrong].sum()),
            "share": share_right,
            "lr": lr,
            "clingen_lr": needed,
            "holds": bool(lr >= needed),
        }
    return table


def evaluate_codes(
    codes: np.ndarray,
    ranking: np.ndarray,
    labels: np.ndarray,
    gene_disjoint: np.ndarray,
) -> dict:
    """Discrimination of ``ranking`` and the evidence of ``codes``, cumulative and per band.

    Rows whose ranking is NaN (no score) count against discrimination as the
    least damaging, so a predictor cannot improve its AUROC by abstaining.
    """
    floor = np.nanmin(ranking) - 1.0 if np.isfinite(ranking).any() else 0.0
    ranked = np.where(np.isnan(ranking), floor, ranking)
    coverage, likelihood = coverage_and_lr(codes, labels)
    return {
        "auroc": float(roc_auc_score(labels, ranked)),
        "auprc": float(average_precision_score(labels, ranked)),
        "auroc_gene_disjoint": float(roc_auc_score(labels[gene_disjoint], ranked[gene_disjoint])),
        "n_gene_disjoint": int(gene_disjoint.sum()),
        "scored": float(np.mean(~np.isnan(ranking))),
        "coverage": coverage,
        "empirical_lr": likelihood,
        "bands": band_coverage_and_lr(codes, labels),
    }


def evaluate_evidence(
    evidence: pd.DataFrame, labels: np.ndarray, gene_disjoint: np.ndarray
) -> dict:
    """Metrics of a profiled model's answers (``evidence``, ``posterior``, ``profile``
    columns, as the scorer gives them), with how many rows each profile scored."""
    metrics = evaluate_codes(
        evidence["evidence"].to_numpy(dtype=object),
        evidence["posterior"].to_numpy(dtype=float),
        labels,
        gene_disjoint,
    )
    metrics["profiles"] = evidence["profile"].replace("", "none").value_counts().to_dict()
    return metrics


def evaluate_predictor(
    scores: np.ndarray,
    labels: np.ndarray,
    thresholds: dict[str, float | None],
    gene_disjoint: np.ndarray,
    reverse: bool = False,
    eligible: np.ndarray | None = None,
) -> dict:
    """Discrimination and evidence metrics; rows not ``eligible`` get no evidence."""
    codes = assign_evidence(scores, thresholds, reverse=reverse)
    if eligible is not None:
        codes = np.where(eligible, codes, "none")
    coverage, likelihood = coverage_and_lr(codes, labels)
    signed = -scores if reverse else scores
    return {
        "auroc": float(roc_auc_score(labels, signed)),
        "auprc": float(average_precision_score(labels, signed)),
        "auroc_gene_disjoint": float(roc_auc_score(labels[gene_disjoint], signed[gene_disjoint])),
        "n_gene_disjoint": int(gene_disjoint.sum()),
        "coverage": coverage,
        "empirical_lr": likelihood,
    }


def calibration_holds(metrics: dict) -> dict[str, bool]:
    """Whether each assigned level's empirical LR reaches its ClinGen LR on this data.

    BP4 LRs are already mirrored (benign share over pathogenic share), so both
    criteria compare against the same LR+ ladder.
    """
    return {
        level: bool(value >= CLINGEN_LR[level.split("_")[1]])
        for level, value in metrics["empirical_lr"].items()
        if value is not None
    }


def comparable_rows(holdout: pd.DataFrame) -> pd.Series:
    """Rows where every comparator has a score, so all predictors face the same variants."""
    columns = [entry["column"] for entry in published_thresholds().values()]
    return holdout[columns].notna().all(axis=1)


def evaluate_comparators(holdout: pd.DataFrame, gene_disjoint: np.ndarray) -> dict[str, dict]:
    labels = holdout["label"].to_numpy(dtype=int)
    results = {}
    for name, entry in published_thresholds().items():
        scores = holdout[entry["column"]].to_numpy(dtype=float)
        results[name] = evaluate_predictor(scores, labels, thresholds_of(entry), gene_disjoint)
    return results


def holdout_table(year: str, store: Store) -> pd.DataFrame:
    """Hold-out features joined with the comparators' raw scores (which are never features)."""
    test = labelled_rows(store, year)
    columns = ["variant", *COMPARATOR_SCORES, "mutpred2_score", "vest4_score", "cadd_phred"]
    comparators = read_clingen_set(year)[columns]
    overlap = [c for c in comparators.columns if c != "variant" and c in test.columns]
    return test.drop(columns=overlap).merge(comparators, on="variant", how="left")


def evaluate_model(model: LoadedModel, rows: pd.DataFrame, gene_disjoint: np.ndarray) -> dict:
    """A registered model's metrics, evidence as the scorer gives it.

    A profiled evidence model is ranked by its local posterior (each profile's
    score on the one scale its calibration shares with the others) and gives
    evidence only where a profile is carried in full; the priority model by its
    score, with no evidence.
    """
    labels = rows["label"].to_numpy(dtype=int)
    if model.profiles:
        metrics = evaluate_evidence(profile_evidence(model, rows), labels, gene_disjoint)
    else:
        metrics = evaluate_predictor(
            model.predict(rows), labels, model.calibration.thresholds, gene_disjoint
        )
    metrics["calibration_holds"] = calibration_holds(metrics)
    return metrics


def masking_scenarios(model: LoadedModel) -> dict[str, list[str]]:
    """Sources to blank per scenario for a profiled evidence model (the only kind
    ``load_role`` serves): :func:`vipredict.features.sets.lost_source_scenarios`."""
    return lost_source_scenarios(tuple(p.profile for p in model.profiles))


def masking_robustness(
    model: LoadedModel, holdout: pd.DataFrame, gene_disjoint: np.ndarray
) -> dict:
    """Hold-out metrics of the evidence model with annotation sources blanked.

    Each single source a user's annotation may lack, and each profile's
    annotation alone (:func:`masking_scenarios`).
    """
    return {
        scenario: evaluate_model(model, mask_sources(holdout, columns), gene_disjoint)
        for scenario, columns in masking_scenarios(model).items()
    }
