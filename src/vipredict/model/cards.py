"""Human-readable summaries of an evaluation report: a terminal table and model cards."""

from __future__ import annotations

import math

from rich.table import Table

from vipredict.config import ModelRole, feature_set_of
from vipredict.model.evaluation import readable_lr

SUMMARY_LEVELS = ("PP3_Strong", "PP3_Moderate", "BP4_Moderate", "BP4_Strong")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def evaluation_table(report: dict) -> Table:
    table = Table(
        title=f"{report['dataset']}: n={report['n']:,} ({report['n_pathogenic']:,} P/LP), "
        "same rows for every predictor"
    )
    for column in ("predictor", "AUROC", "AUROC gene-disjoint", "AUPRC"):
        table.add_column(column, justify="right")
    for level in SUMMARY_LEVELS:
        table.add_column(f"{level} cov (LR)", justify="right")
    for name, metrics in report["models"].items():
        cells = [
            f"{_fmt(metrics['coverage'][level])} ({_fmt(metrics['empirical_lr'][level], 1)})"
            for level in SUMMARY_LEVELS
        ]
        table.add_row(
            name,
            _fmt(metrics["auroc"]),
            _fmt(metrics["auroc_gene_disjoint"]),
            _fmt(metrics["auprc"]),
            *cells,
        )
    return table


_CARD_TEXT = {
    ModelRole.EVIDENCE: (
        "PP3/BP4 evidence for missense variants (the only vipredict model that emits it).",
        "Conservation (GERP++, phyloP), per-tool functional scores (SIFT, PolyPhen-2, FATHMM, "
        "VEST4, MutPred2, EA, PrimateAI, MPC, CADD) and amino-acid change features. "
        "No allele-frequency feature.",
        "May be combined with BA1/BS1/PM2 (it uses no frequency). Never combine with another "
        "computational predictor's PP3/BP4 (one computational criterion per variant). "
        "PP3 is capped at Strong, BP4 at Moderate. Each variant is scored by the first annotation "
        "profile it carries in full (each profile its own model and out-of-fold calibration; "
        "the answer names it); no evidence when it carries none.",
    ),
    ModelRole.PRIORITY: (
        "Prioritising curation queues. Never PP3/BP4 evidence.",
        "All vipredict-noaf features plus global AF and gnomAD/ExAC per-ancestry AC/AN/AF/FAF95, "
        "group-max AF/FAF95 and observed/not-observed/unknown.",
        "Not evidence: its frequency input overlaps BA1/BS1/PM2.",
    ),
}


def _guard_lines(report: dict) -> list[str]:
    """What the leakage guard left out of the validation set, and what that set informed."""
    lines = []
    if "excluded" in report:
        excluded = report["excluded"].items()
        left_out = ", ".join(f"{e['n']:,} {reason.replace('_', ' ')}" for reason, e in excluded)
        lines.append(
            f"- **Left out as related to a training variant:** of {report['n_holdout_total']:,} "
            f"validation variants, {left_out} (a variant may share both)."
        )
    decisions = report.get("decisions_informed", [])
    if decisions:
        lines.append("- **Decisions the validation set informed:**")
        lines.extend(f"  - {decision}" for decision in decisions)
    return lines


def model_card(report: dict, role: ModelRole) -> str:
    """Markdown model card of one champion from an evaluation report (figures, not prose)."""
    use, inputs, combine = _CARD_TEXT[role]
    metrics = report["models"][feature_set_of(role)]
    model = metrics["model"]
    lines = [
        f"# {model['name']}",
        "",
        f"- **Intended use:** {use}",
        f"- **Inputs:** {inputs}",
        f"- **Combination rules:** {combine}",
        f"- **Registered version:** {model['version']} (MLflow run `{model['run_id']}`), "
        "alias `champion`",
        "- **Training + calibration data:** ClinGen SVI 2019 set (Pejaver et al. 2022), "
        "gene-grouped out-of-fold scores; ClinGen local-posterior calibration, prior 0.0441, "
        "10,000 bootstraps.",
        f"- **Validation (not an independent test: it has informed design decisions):** "
        f"{report['dataset']}, n={report['n']:,} "
        f"({report['n_pathogenic']:,} P/LP), rows scored by every comparator.",
        *_guard_lines(report),
        "",
        f"AUROC {metrics['auroc']:.3f}; gene-disjoint AUROC {metrics['auroc_gene_disjoint']:.3f} "
        f"(n={metrics['n_gene_disjoint']:,}); AUPRC {metrics['auprc']:.3f}.",
        "",
        "| level | coverage | empirical LR | LR holds |",
        "|---|---|---|---|",
    ]
    holds = metrics.get("calibration_holds", {})
    for level in report["levels"]:
        lines.append(
            f"| {level} | {_fmt(metrics['coverage'][level])} | "
            f"{_fmt(metrics['empirical_lr'][level], 1)} | {holds.get(level, '-')} |"
        )
    if role is ModelRole.EVIDENCE and metrics.get("mis_prd"):
        lines += ["", *mis_prd_lines(metrics["mis_prd"])]
    if role is ModelRole.EVIDENCE and metrics.get("band_lr"):
        lines += ["", *band_lr_lines(metrics["bands"], metrics["band_lr"])]
    elif role is ModelRole.EVIDENCE and metrics.get("bands"):
        lines += ["", *band_lines(metrics["bands"])]
    rare = report.get("rare_variants")
    if rare is not None:
        lines += ["", *rare_variant_lines(rare, feature_set_of(role), role)]
    lines += ["", "Generated by `vipredict evaluate --cards models/`.", ""]
    return "\n".join(lines)


#: MIS_PRD values in the card's column order (benign to pathogenic).
MIS_PRD_COLUMNS = ("-4", "-3", "-2", "-1", "+1", "+2", "+3", "+4")


def _start_text(value: float | None, negative: bool, reverse: bool) -> str:
    """Where a value starts, with the side it applies on (``≥`` or ``≤``); ``-``: never."""
    if value is None:
        return "-"
    at_or_above = negative == reverse
    return f"{'≥' if at_or_above else '≤'} {value:.3f}"


def mis_prd_lines(ladders: dict[str, dict]) -> list[str]:
    """SVCv4 MIS_PRD per annotation profile: the score at which each value starts.

    ``ladders`` is :func:`vipredict.model.scorer.mis_prd_ladders` of the evidence
    model (the evaluation report's ``mis_prd``). ``-``: the value is never given
    (unreached by the calibration, or beyond the cap: BP4 capped at Moderate gives
    no -3 or -4).
    """
    lines = [
        "SVCv4 MIS_PRD (points -4..+4, the 3-point level included; before the curator's "
        "transcript-relevance step): the score at which each value starts, per profile.",
        "",
        f"| profile | caps | {' | '.join(MIS_PRD_COLUMNS)} |",
        "|---|---|" + "---|" * len(MIS_PRD_COLUMNS),
    ]
    for profile, ladder in ladders.items():
        reverse = bool(ladder.get("reverse", False))
        caps = ladder.get("caps", {})
        cells = [
            _start_text(ladder["starts"].get(column), column.startswith("-"), reverse)
            for column in MIS_PRD_COLUMNS
        ]
        cap_text = ", ".join(f"{family} {level}" for family, level in caps.items()) or "-"
        lines.append(f"| {profile or '-'} | {cap_text} | {' | '.join(cells)} |")
    return lines


def band_lines(bands: dict[str, dict]) -> list[str]:
    """Per band: n, share of its class, empirical LR, ClinGen LR, holds (no interval)."""
    lines = [
        "Per band (exactly that level; the band alone must reach its ClinGen LR):",
        "",
        "| band | n | share of its class | empirical LR | ClinGen LR | holds |",
        "|---|---|---|---|---|---|",
    ]
    for level, band in bands.items():
        lines.append(
            f"| {level} | {band['n']} | {_fmt(band['share'])} | {_fmt(band['lr'], 1)} | "
            f"{_fmt(band['clingen_lr'], 1)} | {band['holds']} |"
        )
    return lines


def _lr_text(value: float | None) -> str:
    """An LR for a reader: three significant figures; infinite (``null`` in JSON) as ∞."""
    if value is None or math.isinf(value):
        return "∞"
    return readable_lr(value)


def _interval_text(band: dict) -> str:
    low, high = band["ci"]
    return f"{_lr_text(band['lr'])} ({_lr_text(low)}–{_lr_text(high)})"


def flag_lines(band_lrs: dict[str, dict], where: str = "") -> list[str]:
    """Each flagged band in words, or a sentence saying none is (``where``: e.g. "on rare
    variants")."""
    flags = [band["flag"] for band in band_lrs.values() if band.get("flag")]
    suffix = f" {where}" if where else ""
    if not flags:
        return [
            f"No band's lower 95% bound is under its ClinGen LR{suffix}, and none is unbounded."
        ]
    return [f"Flagged{suffix}:", "", *(f"- {flag}" for flag in flags)]


def band_lr_lines(bands: dict[str, dict], band_lrs: dict[str, dict]) -> list[str]:
    """Per band: class counts, share, LR with its bootstrap 95% interval, ClinGen LR, holds,
    then the flags in words."""
    lines = [
        "Per band (exactly that level; the band alone must reach its ClinGen LR), with a "
        "percentile-bootstrap 95% interval (rows resampled within each class):",
        "",
        "| band | P/LP | B/LB | share of its class | LR (95% CI) | ClinGen LR | holds |",
        "|---|---|---|---|---|---|---|",
    ]
    for level, band in band_lrs.items():
        share = bands.get(level, {}).get("share")
        lines.append(
            f"| {level} | {band['n_pathogenic']} | {band['n_benign']} | {_fmt(share)} | "
            f"{_interval_text(band)} | {_lr_text(band['clingen_lr'])} | {band['holds']} |"
        )
    return [*lines, "", *flag_lines(band_lrs)]


def rare_variant_lines(rare: dict, name: str, role: ModelRole) -> list[str]:
    """The rare-variant (PM2-eligible) figures of one model: discrimination, and for the
    evidence model its per-band LRs with intervals and flags."""
    head = (
        f"Rare variants (global MAF < {rare['maf_below']:g} or absent, PM2-eligible): "
        f"n={rare['n']:,} ({rare['n_pathogenic']:,} P/LP)"
    )
    metrics = rare["models"].get(name)
    if metrics is None:
        return [f"{head}; not evaluated (no rare row)."]
    lines = [
        f"{head}; AUROC {_fmt(metrics['auroc'])}; gene-disjoint AUROC "
        f"{_fmt(metrics['auroc_gene_disjoint'])} (n={metrics['n_gene_disjoint']:,})."
    ]
    band_lrs = metrics.get("band_lr")
    if role is ModelRole.EVIDENCE and band_lrs:
        lines += [
            "",
            "| rare, band | P/LP | B/LB | LR (95% CI) | ClinGen LR | holds |",
            "|---|---|---|---|---|---|",
        ]
        for level, band in band_lrs.items():
            lines.append(
                f"| {level} | {band['n_pathogenic']} | {band['n_benign']} | "
                f"{_interval_text(band)} | {_lr_text(band['clingen_lr'])} | {band['holds']} |"
            )
        lines += ["", *flag_lines(band_lrs, "on rare variants")]
    return lines


BAND_LEVELS = (
    "PP3_Supporting",
    "PP3_Moderate",
    "PP3_Strong",
    "BP4_Supporting",
    "BP4_Moderate",
    "BP4_Strong",
)


def bands_table(title: str, rows: dict[str, dict]) -> Table:
    """One row per scenario/predictor: share scored, then each band's share and LR (! fails)."""
    table = Table(title=title)
    table.add_column("", justify="left")
    table.add_column("scored", justify="right")
    for level in BAND_LEVELS:
        table.add_column(f"{level} share (LR)", justify="right")
    for name, summary in rows.items():
        cells = []
        for level in BAND_LEVELS:
            band = summary["bands"].get(level)
            if band is None:
                cells.append("-")
                continue
            mark = "" if band["holds"] else " !"
            cells.append(f"{_fmt(band['share'])} ({_fmt(band['lr'], 1)}){mark}")
        table.add_row(name, _fmt(summary.get("scored")), *cells)
    return table
