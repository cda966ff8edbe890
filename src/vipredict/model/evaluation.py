"""Hold-out evaluation: discrimination and, above all, whether the evidence is honest.

For clinical use the question is not only AUROC but whether a variant given
PP3_Strong really is ~33.5x more likely among pathogenic than benign variants
it was not trained on. ``empirical_lr`` answers that on the hold-out, level by
level, with the comparators scored on exactly the same rows; ``band_lr`` answers
it band by band (exactly that code), with a bootstrap 95% interval, because a
band whose interval reaches below its ClinGen LR is not shown to hold;
``rare_variants`` repeats everything where the evidence is used most, on
variants PM2-eligible by frequency.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from vipredict.acmg import (
    CLINGEN_LR,
    EVIDENCE_CODES,
    NO_EVIDENCE,
    PM2_AF,
    POINTS,
    assign_evidence,
)
from vipredict.features.sets import lost_source_scenarios
from vipredict.io.readers.clingen import read_clingen_set
from vipredict.model.leakage import (
    GuardedEvaluation,
    assert_sets_disjoint,
    guard_evaluation,
    protein_changes,
)
from vipredict.model.registry import LoadedModel
from vipredict.model.scorer import mis_prd_ladders, profile_evidence
from vipredict.model.training import mask_sources
from vipredict.schema import COMPARATOR_SCORES
from vipredict.store.partitioned import Store, labelled_rows

COMPARATORS = ("REVEL", "BayesDel", "MutPred2", "VEST4", "CADD")
#: Resamples and seed of the per-band LR intervals: fixed, so a report is reproducible.
BAND_LR_BOOTSTRAPS = 2000
BAND_LR_SEED = 0
#: Two-sided coverage of the per-band LR intervals.
BAND_LR_COVERAGE = 0.95
#: Rows rare enough for PM2_Supporting (global MAF under it, or absent): ``rare_variants``.
RARE_MAF = PM2_AF


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
    (no variant of the other class got the level) is ``inf``. A class absent from
    the rows (a rare-variant subset may lack one) has share 0.
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
        share_right = hit[right].mean() if right.any() else 0.0
        share_wrong = hit[wrong].mean() if wrong.any() else 0.0
        coverage[level] = float(share_right)
        likelihood[level] = float(share_right / share_wrong) if share_wrong > 0 else math.inf
    return coverage, likelihood


def _sides(code: str) -> tuple[int, int]:
    """The label a band speaks for, and the one it speaks against: PP3 (1, 0), BP4 (0, 1)."""
    return (1, 0) if code.startswith("PP3") else (0, 1)


def _exact_counts(codes: np.ndarray, labels: np.ndarray, label: int) -> np.ndarray:
    """How many rows of class ``label`` got each code exactly (not "or stronger"),
    in :data:`EVIDENCE_CODES` order."""
    of_class = np.asarray(codes, dtype=object)[np.asarray(labels) == label]
    return np.array([np.count_nonzero(of_class == code) for code in EVIDENCE_CODES], dtype=np.int64)


def _mirrored_lr(
    hits_right: np.ndarray | int, n_right: int, hits_wrong: np.ndarray | int, n_wrong: int
) -> np.ndarray:
    """Share of the band's own class in it over the other class's share, elementwise.

    ``inf`` where the other class has no row in the band, NaN where neither has
    (an empty band says nothing about its LR). A class with no rows at all has
    share 0.
    """
    right = np.asarray(hits_right, dtype=float)
    wrong = np.asarray(hits_wrong, dtype=float)
    share_right = right / n_right if n_right else np.zeros_like(right)
    share_wrong = wrong / n_wrong if n_wrong else np.zeros_like(wrong)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = share_right / share_wrong
    return np.where(share_wrong > 0, ratio, np.where(share_right > 0, np.inf, np.nan))


def band_coverage_and_lr(codes: np.ndarray, labels: np.ndarray) -> dict[str, dict]:
    """Per evidence band (exactly that code, not "or stronger"): shares, LR and whether it holds.

    The band [PP3_Supporting, PP3_Moderate) must reach PP3_Supporting's LR on its
    own; counting "or stronger" would let the Strong band carry it. ``share`` is
    the share of the band's own class (P/LP for PP3, B/LB for BP4) that got it;
    ``lr`` its share over the other class's share (``inf`` when the other class
    has none; BP4 mirrored so both compare with the same LR+ ladder).
    """
    labels = np.asarray(labels)
    counts = {label: _exact_counts(codes, labels, label) for label in (1, 0)}
    sizes = {label: int(np.count_nonzero(labels == label)) for label in (1, 0)}
    table: dict[str, dict] = {}
    for j, code in enumerate(EVIDENCE_CODES):
        right, wrong = _sides(code)
        n_right, n_wrong = int(counts[right][j]), int(counts[wrong][j])
        if n_right + n_wrong == 0:
            continue
        lr = float(_mirrored_lr(n_right, sizes[right], n_wrong, sizes[wrong]))
        needed = CLINGEN_LR[code.split("_")[1]]
        table[code] = {
            "n": n_right + n_wrong,
            "n_right": n_right,
            "n_wrong": n_wrong,
            "share": n_right / sizes[right] if sizes[right] else 0.0,
            "lr": lr,
            "clingen_lr": needed,
            "holds": bool(lr >= needed),
        }
    return table


def _resampled_counts(
    rng: np.random.Generator, counts: np.ndarray, n: int, n_bootstrap: int
) -> np.ndarray:
    """Per resample, how many of ``n`` rows drawn with replacement from one class got
    each code: a multinomial draw over the codes and "no code", which is exactly
    resampling that class's rows (shape ``(n_bootstrap, len(counts))``)."""
    if n == 0:
        return np.zeros((n_bootstrap, counts.size), dtype=np.int64)
    shares = np.append(counts, n - counts.sum()) / n
    return rng.multinomial(n, shares, size=n_bootstrap)[:, :-1]


def _percentile_interval(resampled_lr: np.ndarray) -> tuple[float, float]:
    """Percentile interval of the resampled LRs, quantiles taken as order statistics.

    Resamples in which the band is empty have no LR and are left out. Order
    statistics (numpy's ``inverted_cdf``) never interpolate between a finite and
    an infinite LR, which would give NaN. No resample with the band at all gives
    ``(0, inf)``: nothing is known.
    """
    valid = resampled_lr[~np.isnan(resampled_lr)]
    if valid.size == 0:
        return 0.0, math.inf
    tail = (1.0 - BAND_LR_COVERAGE) / 2
    low, high = np.quantile(valid, [tail, 1.0 - tail], method="inverted_cdf")
    return float(low), float(high)


def readable_lr(value: float) -> str:
    """An LR as a reader wants it: three significant figures, thousands in full."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def band_flag(code: str, lower: float, n_right: int, n_wrong: int) -> str:
    """A band's warning in words, "" when its lower 95% bound reaches its ClinGen LR.

    Also when the other class has no row in the band: the LR is infinite in
    every resample, so the bootstrap cannot bound it from below, however few
    rows the band holds; a reviewer must be told rather than shown ``[inf, inf]``.
    """
    strength = code.split("_")[1]
    needed = CLINGEN_LR[strength]
    own, other = ("P/LP", "B/LB") if code.startswith("PP3") else ("B/LB", "P/LP")
    if lower < needed:
        return (
            f"{code}: lower 95% bound {readable_lr(lower)} is under ClinGen's "
            f"{readable_lr(needed)} for {strength}"
        )
    if n_wrong == 0:
        return (
            f"{code}: no {other} variant in the band ({n_right} {own}), so its LR is "
            "infinite and the bootstrap cannot bound it from below"
        )
    return ""


def band_lr(
    codes: np.ndarray,
    labels: np.ndarray,
    n_bootstrap: int = BAND_LR_BOOTSTRAPS,
    seed: int = BAND_LR_SEED,
) -> dict[str, dict]:
    """Per band (exactly that code) received by some row: its LR with a bootstrap 95% interval.

    ``lr`` is :func:`band_coverage_and_lr`'s (BP4 mirrored: B/LB share over P/LP
    share). The interval is a percentile bootstrap that resamples rows within
    each class (P/LP and B/LB separately, keeping each class's size, as the
    shares' denominators are fixed by design), drawn as multinomial counts so
    thousands of resamples cost no loop over rows. ``inf`` (``null`` once the
    report goes through :func:`vipredict.io.files.json_safe`) where the other
    class has no row in the band: then every resample's LR is ``inf`` too and
    the interval is ``[inf, inf]``; an upper bound is ``inf`` whenever over 2.5%
    of resamples leave the other class out of the band. ``flag``:
    :func:`band_flag`.
    """
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be at least 1, got {n_bootstrap}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    counts, sizes, resampled = {}, {}, {}
    for label in (1, 0):
        counts[label] = _exact_counts(codes, labels, label)
        sizes[label] = int(np.count_nonzero(labels == label))
        resampled[label] = _resampled_counts(rng, counts[label], sizes[label], n_bootstrap)
    points = band_coverage_and_lr(codes, labels)
    table: dict[str, dict] = {}
    for j, code in enumerate(EVIDENCE_CODES):
        if code not in points:
            continue
        right, wrong = _sides(code)
        boot = _mirrored_lr(
            resampled[right][:, j], sizes[right], resampled[wrong][:, j], sizes[wrong]
        )
        lower, upper = _percentile_interval(boot)
        point = points[code]
        table[code] = {
            "lr": point["lr"],
            "ci": [lower, upper],
            "n_pathogenic": int(counts[1][j]),
            "n_benign": int(counts[0][j]),
            "clingen_lr": point["clingen_lr"],
            "holds": point["holds"],
            "flag": band_flag(code, lower, int(counts[right][j]), int(counts[wrong][j])),
        }
    return table


def _discrimination(labels: np.ndarray, ranking: np.ndarray) -> tuple[float | None, float | None]:
    """AUROC and AUPRC, or None where undefined: a subset (rare variants, genes unseen in
    training) may hold one class only, and a report must still be written."""
    if np.unique(labels).size < 2:
        return None, None
    return (
        float(roc_auc_score(labels, ranking)),
        float(average_precision_score(labels, ranking)),
    )


def evaluate_codes(
    codes: np.ndarray,
    ranking: np.ndarray,
    labels: np.ndarray,
    gene_disjoint: np.ndarray,
) -> dict:
    """Discrimination of ``ranking`` and the evidence of ``codes``: cumulative, per band,
    and per band with its interval (``band_lr``).

    Rows whose ranking is NaN (no score) count against discrimination as the
    least damaging, so a predictor cannot improve its AUROC by abstaining.
    AUROC/AUPRC are None where the rows hold one class only.
    """
    ranking = np.asarray(ranking, dtype=float)
    floor = np.nanmin(ranking) - 1.0 if np.isfinite(ranking).any() else 0.0
    ranked = np.where(np.isnan(ranking), floor, ranking)
    coverage, likelihood = coverage_and_lr(codes, labels)
    auroc, auprc = _discrimination(labels, ranked)
    auroc_disjoint, _ = _discrimination(labels[gene_disjoint], ranked[gene_disjoint])
    return {
        "auroc": auroc,
        "auprc": auprc,
        "auroc_gene_disjoint": auroc_disjoint,
        "n_gene_disjoint": int(gene_disjoint.sum()),
        "scored": float(np.mean(~np.isnan(ranking))) if ranking.size else 0.0,
        "coverage": coverage,
        "empirical_lr": likelihood,
        "bands": band_coverage_and_lr(codes, labels),
        "band_lr": band_lr(codes, labels),
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
    """:func:`evaluate_codes` of a score and its thresholds; rows not ``eligible`` get no
    evidence. ``reverse``: low scores are pathogenic (ranked by the negated score)."""
    scores = np.asarray(scores, dtype=float)
    codes = assign_evidence(scores, thresholds, reverse=reverse)
    if eligible is not None:
        codes = np.where(eligible, codes, NO_EVIDENCE)
    signed = -scores if reverse else scores
    return evaluate_codes(codes, signed, labels, gene_disjoint)


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


def guarded_validation(store: Store, train_year: str, test_year: str) -> GuardedEvaluation:
    """The validation set as every evaluation reads it: :func:`holdout_table`, guarded
    against the training set before anything is de-duplicated (a variant in both is an
    error; a shared locus or gene + protein change is left out and named)."""
    assert_sets_disjoint(train_year, test_year)
    changes = pd.concat(
        [protein_changes(train_year), protein_changes(test_year)], ignore_index=True
    )
    return guard_evaluation(
        labelled_rows(store, train_year), holdout_table(test_year, store), changes
    )


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


def evaluate_all(
    models: Mapping[str, LoadedModel], rows: pd.DataFrame, gene_disjoint: np.ndarray
) -> dict[str, dict]:
    """Every registered model (with its name, version and run) and every comparator on
    ``rows``: the report's ``models`` block."""
    results: dict[str, dict] = {}
    for name, model in models.items():
        metrics = evaluate_model(model, rows, gene_disjoint)
        metrics["model"] = {"name": model.name, "version": model.version, "run_id": model.run_id}
        if model.profiles:  # the evidence model: where each MIS_PRD value starts, per profile
            metrics["mis_prd"] = mis_prd_ladders(model)
        results[name] = metrics
    results.update(evaluate_comparators(rows, gene_disjoint))
    return results


def is_rare(af_global: pd.Series) -> np.ndarray:
    """Whether each row is PM2-eligible by frequency: global MAF under :data:`RARE_MAF`,
    or no frequency at all.

    PM2_Supporting is met by a variant absent from population controls, so a
    missing MAF (the source saw no allele: not observed) counts as rare, like a
    MAF of 0 (how the ClinGen sets write "absent"). A MAF equal to the threshold
    is not rare.
    """
    maf = pd.to_numeric(af_global, errors="coerce").to_numpy(dtype=float)
    return np.isnan(maf) | (maf < RARE_MAF)


def rare_variants(
    models: Mapping[str, LoadedModel], rows: pd.DataFrame, gene_disjoint: np.ndarray
) -> dict:
    """The ``models`` block again on the rare rows only (:func:`is_rare` of ``af_global``).

    Frequency reaches the evidence model through tools trained on
    frequency-defined labels; rare variants are where PP3/BP4 are used most
    and where that signal is weakest, so the evidence must hold there too. The
    gene-disjoint mask follows the rows. Metrics undefined on one class are
    None; no rare row at all gives an empty ``models``.
    """
    rare = is_rare(rows["af_global"])
    subset = rows[rare].reset_index(drop=True)
    disjoint = np.asarray(gene_disjoint, dtype=bool)[rare]
    return {
        "maf_below": RARE_MAF,
        "n": len(subset),
        "n_pathogenic": int((subset["label"] == 1).sum()),
        "n_gene_disjoint": int(disjoint.sum()),
        "models": evaluate_all(models, subset, disjoint) if len(subset) else {},
    }
