"""Human-readable summaries of evaluation reports (terminal tables)."""

from __future__ import annotations

from rich.table import Table

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
