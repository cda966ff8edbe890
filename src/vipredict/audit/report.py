"""The audit report: ``report.html`` (plots embedded), TSV tables and ``metrics.json``.

The HTML embeds its PNGs as data URIs so the one file is the whole report: it
opens from disk, from the MLflow run's artifacts and from ``GET /audit`` alike.
The PNGs are also written beside it (the README shows one of them).
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from jinja2 import Environment
from matplotlib.ticker import MaxNLocator

from vipredict.audit.metrics import METRICS, MIN_N, MIN_PER_CLASS
from vipredict.audit.result import REPORT_FILE, AuditResult
from vipredict.audit.sets import SPLIT_TEXT
from vipredict.io.files import dump_json, json_safe

FOREST_GROUPINGS = ("all", "grpmax_group", "af_band")
FOREST_PANELS = {
    "auroc": "AUROC",
    "pp3_on_benign": "PP3 on B/LB",
    "bp4_on_pathogenic": "BP4 on P/LP",
    "calibration_gap": "observed − expected P/LP",
}
SPLIT_ORDER = ("validation_2020", "train_2019", "other")
TABLE_METRICS = tuple(METRICS)


def flat_table(frame: pd.DataFrame) -> pd.DataFrame:
    """CI list columns ``x_ci`` -> ``x_ci_low``/``x_ci_high`` for TSV readers."""
    out = frame.copy()
    for column in [c for c in frame.columns if c.endswith("_ci")]:
        bounds = np.array([list(v) for v in frame[column]], dtype="float64").reshape(-1, 2)
        position = out.columns.get_loc(column)
        out = out.drop(columns=column)
        out.insert(position, f"{column}_high", bounds[:, 1])
        out.insert(position, f"{column}_low", bounds[:, 0])
    return out


def limits_text(result: AuditResult) -> list[str]:
    """What the data here can and cannot show, in plain words, with this run's numbers."""
    clingen = next((s for s in result.sets if s["name"] == "clingen_x_gnomad_exports"), None)
    if clingen is None or result.healthy is None:
        return labelled_limits_text(result)
    groups = result.groups
    in_genes = groups[
        (groups["labelled_set"] == "clingen_x_gnomad_exports")
        & (groups["grouping"] == "af_band")
        & (groups["group"] != "unknown")
    ]
    held = in_genes[in_genes["split"] == "validation_2020"]
    observed = held[held["group"] != "not observed"]
    variants = result.healthy.variants
    return [
        "Per-ancestry allele frequencies exist here only for the 69 ACMG secondary-findings "
        "genes (gnomAD 2017 and ExAC browser exports), for BRCA1/2 (an ExAC VCF) and for 749 "
        f"ClinVar alleles on chr1. Of the {clingen['labelled']:,} labelled ClinGen variants, "
        f"{int(in_genes['n'].sum()):,} lie in those 69 genes; every other variant is in the group "
        "'unknown', which says nothing about ancestry.",
        f"In the 2020 validation set only {int(observed['n'].sum()):,} variants were observed in "
        f"any gnomAD group, {int(observed['n_pathogenic'].sum()):,} of them P/LP. Per-group AUROC, "
        "calibration and the rate of BP4 on P/LP therefore cannot be estimated per ancestry on "
        "held-out data; the rate of PP3 on B/LB can, with wide intervals.",
        "Rows of the 2019 set were used to fit the model: their metrics are in-sample and "
        "optimistic. Read performance from the 2020 validation rows only.",
        "A group here is where a variant was seen in gnomAD/ExAC, not the ancestry of a tested "
        "person: none of these sets records the patient's ancestry.",
        f"The 1000 Genomes view counts only the {len(variants):,} genotyped variants that the "
        f"feature store holds ({_region_counts(variants)}); "
        f"{int((variants['split'] == 'train_2019').sum()):,} of them are 2019 training variants. "
        "It is a lower bound over a few genes, not a genome-wide rate.",
        "The audit reads the frequency columns that the feature store's own builder "
        "(FrequencyFeatures) makes from any long population table. Given full gnomAD (a store "
        "built from it, or `vipredict audit --frequency-vcf gnomad.sites.vcf.gz`), it runs "
        "unchanged and every gene gets ancestry groups.",
        f"A metric is withheld (shown as —, with a warning) unless it rests on at least {MIN_N} "
        f"rows; AUROC and calibration also need at least {MIN_PER_CLASS} P/LP and "
        f"{MIN_PER_CLASS} B/LB. An interval [0, 0] means no event among n rows: the 95% upper "
        "bound is then about 3/n (rule of three).",
        "Calibration: the posterior is stated at ClinGen's prior (4.41% P/LP) and these sets "
        "hold far more P/LP, so the audit restates each variant's likelihood ratio at its "
        "group's own P/LP fraction. 'observed − expected' near 0 means the likelihood ratios "
        "hold within that group.",
    ]


def labelled_limits_text(result: AuditResult) -> list[str]:
    """The limits of an audit of a researcher's own labelled file."""
    lines = []
    for audited in result.sets:
        lines.append(
            f"{audited['name']}: {audited.get('records', audited['in_set']):,} records, "
            f"{audited.get('pathogenic_labels', 0):,} labelled P/LP and "
            f"{audited.get('benign_labels', 0):,} B/LB in the file "
            f"({audited.get('unlabelled', 0):,} left unlabelled: VUS, conflicting or other); "
            f"{audited['with_features']:,} judged by the model; {audited['labelled']:,} labelled "
            f"variants audited ({audited.get('label_conflicts', 0):,} given both labels and "
            f"{audited.get('withheld_independent_test', 0):,} held back as independent-test "
            "variants are not)."
        )
    return [
        *lines,
        "Labels are the file's own (e.g. ClinVar's), not ClinGen's curation; variants of the "
        "ClinGen 2019 training set are marked train_2019 and their metrics are in-sample.",
        "Groups come from the frequencies the file carries (one set per dataset). A group "
        "given as an AF without AC/AN counts as observed when its AF > 0; such a group can "
        "rule BA1/BS1 out but never meet them (no FAF95 without counts). A variant the "
        "dataset says nothing about is 'unknown', never 'not observed'.",
        "A group here is where a variant was seen in the population data, not the ancestry of "
        "a tested person.",
        f"A metric is withheld (shown as —, with a warning) unless it rests on at least {MIN_N} "
        f"rows; AUROC and calibration also need at least {MIN_PER_CLASS} P/LP and "
        f"{MIN_PER_CLASS} B/LB.",
        "Calibration: each variant's likelihood ratio is restated at its group's own P/LP "
        "fraction; 'observed − expected' near 0 means the likelihood ratios hold there.",
    ]


def _region_counts(variants: pd.DataFrame) -> str:
    counts = variants.groupby("region").size()
    return ", ".join(f"{n} in {region}" for region, n in counts.items())


def _figure_png(fig: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _forest_rows(groups: pd.DataFrame, name: str) -> pd.DataFrame:
    chosen = groups[(groups["labelled_set"] == name) & groups["grouping"].isin(FOREST_GROUPINGS)]
    order = {s: i for i, s in enumerate(SPLIT_ORDER)}
    return (
        chosen.assign(_split=chosen["split"].map(order))
        .sort_values("_split", kind="stable")
        .drop(columns="_split")
        .reset_index(drop=True)
    )


def forest_plot(groups: pd.DataFrame, name: str, path: Path) -> Path:
    """Per-group metrics with 95% intervals; withheld metrics say so in place of a point."""
    rows = _forest_rows(groups, name)
    height = 1.2 + 0.24 * len(rows)
    fig, axes = plt.subplots(1, len(FOREST_PANELS), figsize=(15, height), sharey=True)
    y = np.arange(len(rows))[::-1]
    for ax, (metric, title) in zip(axes, FOREST_PANELS.items(), strict=True):
        values = rows[metric].to_numpy(dtype="float64")
        bounds = np.array([list(v) for v in rows[f"{metric}_ci"]], dtype="float64")
        withheld = np.array([metric in names for names in rows["withheld"]], dtype=bool)
        shown = ~np.isnan(values) & ~withheld
        ax.errorbar(
            values[shown],
            y[shown],
            xerr=np.abs(bounds[shown].T - values[shown]),
            fmt="o",
            ms=3.5,
            color="tab:blue",
            ecolor="tab:blue",
            lw=1,
        )
        for row in np.flatnonzero(withheld):
            ax.text(
                0.5,
                y[row],
                "n too small",
                transform=ax.get_yaxis_transform(),
                ha="center",
                va="center",
                fontsize=7,
                color="0.55",
            )
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        if metric == "calibration_gap":
            ax.axvline(0, color="0.3", lw=0.8)
    labels = [
        f"{r.split} · {r.grouping} · {r.group}  (n={r.n}, P/LP={r.n_pathogenic})"
        for r in rows.itertuples()
    ]
    axes[0].set_yticks(y, labels, fontsize=7)
    for boundary in np.flatnonzero(rows["split"].to_numpy()[1:] != rows["split"].to_numpy()[:-1]):
        for ax in axes:
            ax.axhline(y[boundary] - 0.5, color="0.2", lw=0.8)
    fig.suptitle(f"{name}: per-group metrics, 95% bootstrap intervals", fontsize=11)
    _figure_png(fig, path)
    return path


def reliability_plot(curves: list[dict], name: str, path: Path) -> Path | None:
    """Observed vs expected P/LP fraction per bin, one line per group, one panel per split."""
    mine = [c for c in curves if c["labelled_set"] == name and c["points"]]
    splits = [s for s in SPLIT_ORDER if any(c["split"] == s for c in mine)]
    if not splits:
        return None
    fig, axes = plt.subplots(1, len(splits), figsize=(5.2 * len(splits), 4.6), squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8)
        for curve in (c for c in mine if c["split"] == split):
            points = pd.DataFrame(curve["points"])
            ax.plot(
                points["predicted"],
                points["observed"],
                marker="o",
                ms=3,
                lw=1,
                label=f"{curve['group']} (n={int(points['n'].sum())})",
            )
        ax.set_title(f"{split}", fontsize=10)
        ax.set_xlabel("expected P/LP fraction (LR at the group's P/LP fraction)")
        ax.set_ylabel("observed P/LP fraction")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{name}: reliability by group-max group", fontsize=11)
    _figure_png(fig, path)
    return path


def healthy_plot(summary: pd.DataFrame, n_variants: int, path: Path) -> Path:
    """Mean PP3 variants per person by super-population (95% interval)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    x = np.arange(len(summary))
    means = summary["mean_pp3"].to_numpy(dtype="float64")
    bounds = np.array(summary["mean_pp3_ci"].tolist(), dtype="float64").reshape(-1, 2)
    ax.bar(x, means, color="tab:red", alpha=0.75)
    ax.errorbar(x, means, yerr=np.abs(bounds.T - means), fmt="none", ecolor="0.2", lw=1)
    ax.set_xticks(x, [f"{r.super_pop}\n(n={r.n_people})" for r in summary.itertuples()])
    ax.set_ylabel("PP3 variants per person")
    ax.set_title(
        f"1000 Genomes: PP3 per person over the {n_variants} genotyped variants with features",
        fontsize=10,
    )
    _figure_png(fig, path)
    return path


def _cell(value: Any, bounds: Any) -> str:
    """``0.912 [0.880, 0.940]``, or ``—`` where the metric is withheld."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    low, high = bounds
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _html_groups(groups: pd.DataFrame) -> list[dict]:
    rows = []
    for record in groups.to_dict("records"):
        cells = [_cell(record[m], record[f"{m}_ci"]) for m in TABLE_METRICS]
        rows.append({**record, "cells": cells})
    return rows


def _data_uri(path: Path | None) -> str | None:
    if path is None:
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vipredict ancestry audit</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left} .warn{color:#a15c00;text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.5em 0} li{margin:.3em 0}
</style></head><body>
<h1>Ancestry-stratified audit of {{ model.name }} v{{ model.version }}</h1>
<p>MLflow run <code>{{ model.run_id }}</code>; generated {{ generated }};
{{ settings.n_bootstrap }} bootstraps per group (seed {{ settings.seed }}).
PP3/BP4 and posteriors come from the registered evidence model through the same scorer as
<code>vipredict predict</code> and the service.</p>
<h2>What these data can and cannot show</h2>
<ul>{% for line in limits %}<li>{{ line }}</li>{% endfor %}</ul>
<h2>Labelled sets</h2>
<table><tr><th class="l">set</th><th class="l">what</th><th>variants in set</th>
<th>with features</th><th>labelled, audited</th><th class="l">by split (n, P/LP)</th></tr>
{% for s in sets %}<tr><td class="l">{{ s.name }}</td><td class="l">{{ s.description }}</td>
<td>{{ s.in_set }}</td><td>{{ s.with_features }}</td><td>{{ s.labelled }}</td>
<td class="l">{% for k, v in s.splits.items() %}{{ k }}: {{ v.n }} ({{ v.n_pathogenic }})<br>
{% endfor %}</td></tr>{% endfor %}</table>
<p>Splits: {% for k, v in split_text.items() %}<b>{{ k }}</b> = {{ v }}. {% endfor %}</p>
{% for f in figures %}<h2>{{ f.title }}</h2>
{% if f.forest %}<img alt="forest plot {{ f.title }}" src="{{ f.forest }}">{% endif %}
{% if f.reliability %}<img alt="reliability {{ f.title }}" src="{{ f.reliability }}">{% endif %}
<details><summary>Table: every group of {{ f.title }}</summary>
<table><tr><th class="l">split</th><th class="l">grouping</th><th class="l">group</th><th>n</th>
<th>P/LP</th>{% for m in metrics %}<th>{{ m }}</th>{% endfor %}<th class="l">warning</th></tr>
{% for r in f.rows %}<tr><td class="l">{{ r.split }}</td><td class="l">{{ r.grouping }}</td>
<td class="l">{{ r.group }}</td><td>{{ r.n }}</td><td>{{ r.n_pathogenic }}</td>
{% for c in r.cells %}<td>{{ c }}</td>{% endfor %}<td class="warn">{{ r.warning }}</td></tr>
{% endfor %}</table></details>{% endfor %}
{% if has_healthy %}<h2>Healthy individuals: 1000 Genomes</h2>
<p>{{ healthy_text }}</p>
<img alt="PP3 per person by super-population" src="{{ healthy_png }}">
<table><tr><th class="l">super-population</th><th>people</th><th>variants with features carried
(mean)</th><th>PP3 per person</th><th>share with ≥ 1 PP3</th><th>max PP3</th>
<th>BP4 per person</th></tr>
{% for r in healthy %}<tr><td class="l">{{ r.super_pop }}</td><td>{{ r.n_people }}</td>
<td>{{ '%.3f'|format(r.mean_carried) }}</td><td>{{ r.pp3 }}</td><td>{{ r.share }}</td>
<td>{{ r.max_pp3 }}</td><td>{{ '%.3f'|format(r.mean_bp4) }}</td></tr>{% endfor %}</table>
<p>Variants given PP3 among those genotyped:</p>
<table><tr><th class="l">variant</th><th class="l">gene</th><th class="l">evidence</th>
<th class="l">label</th><th class="l">split</th><th>carriers</th></tr>
{% for v in pp3_variants %}<tr><td class="l">{{ v.variant }}</td><td class="l">{{ v.gene }}</td>
<td class="l">{{ v.evidence }}</td><td class="l">{{ v.label }}</td><td class="l">{{ v.split }}</td>
<td>{{ v.carriers }}</td></tr>{% endfor %}</table>{% endif %}
<p>Tables: <code>groups.tsv</code>, <code>audited_variants.tsv</code>,
{% if has_healthy %}<code>healthy_summary.tsv</code>, <code>healthy_people.tsv</code>,
<code>healthy_variants.tsv</code>, {% endif %}and <code>metrics.json</code> beside this file
(and under <code>audit/</code> in the MLflow run).</p>
</body></html>
"""


def _healthy_text(result: AuditResult) -> str:
    if result.healthy is None:
        return ""
    variants = result.healthy.variants
    people = result.healthy.people
    combined = people[people["region"] == "all regions"]
    pp3 = variants["evidence"].astype(str).str.startswith("PP3")
    return (
        f"Genotypes of {len(combined):,} people genotyped in every region "
        f"({_region_counts(variants)} variants with features). vipredict gives PP3 to "
        f"{int(pp3.sum())} of these {len(variants)} variants and BP4 to "
        f"{int(variants['evidence'].astype(str).str.startswith('BP4').sum())}. "
        "A person counts a variant once whether heterozygous or homozygous."
    )


def _healthy_rows(summary: pd.DataFrame) -> list[dict]:
    return [
        {
            **r,
            "pp3": _cell(r["mean_pp3"], r["mean_pp3_ci"]),
            "share": _cell(r["share_with_pp3"], r["share_with_pp3_ci"]),
        }
        for r in summary.to_dict("records")
    ]


def render_html(result: AuditResult, figures: list[dict], healthy_png: Path | None) -> str:
    """The self-contained HTML page (jinja2, autoescaped)."""
    healthy = result.healthy
    pp3 = (
        healthy.variants[healthy.variants["evidence"].astype(str).str.startswith("PP3")]
        if healthy is not None
        else pd.DataFrame()
    )
    template = Environment(autoescape=True).from_string(_TEMPLATE)
    return template.render(
        model=result.model,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        settings=result.settings,
        limits=limits_text(result),
        sets=result.sets,
        split_text=SPLIT_TEXT,
        figures=figures,
        metrics=TABLE_METRICS,
        has_healthy=healthy is not None,
        healthy_text=_healthy_text(result),
        healthy_png=_data_uri(healthy_png),
        healthy=_healthy_rows(healthy.summary) if healthy is not None else [],
        pp3_variants=json_safe(pp3.to_dict("records")),
    )


def metrics_payload(result: AuditResult) -> dict:
    """``metrics.json``: one record per group, plus sets, reliability, healthy view, limits."""
    healthy = result.healthy
    return json_safe(
        {
            "model": result.model,
            "settings": {**result.settings, "min_n": MIN_N, "min_per_class": MIN_PER_CLASS},
            "sets": result.sets,
            "groups": result.groups.to_dict("records"),
            "reliability": result.reliability,
            "healthy": None
            if healthy is None
            else {
                "n_variants_with_features": len(healthy.variants),
                "n_variants_pp3": int(
                    healthy.variants["evidence"].astype(str).str.startswith("PP3").sum()
                ),
                "summary": healthy.summary.to_dict("records"),
                "variants": healthy.variants.to_dict("records"),
            },
            "limits": limits_text(result),
        }
    )


def write_report(result: AuditResult, output: Path) -> Path:
    """Write every output file into ``output``; returns the path of ``report.html``."""
    output.mkdir(parents=True, exist_ok=True)
    flat_table(result.groups).to_csv(output / "groups.tsv", sep="\t", index=False)
    result.variants.to_csv(output / "audited_variants.tsv", sep="\t", index=False)
    healthy = result.healthy
    if healthy is not None:
        flat_table(healthy.summary).to_csv(output / "healthy_summary.tsv", sep="\t", index=False)
        healthy.people.to_csv(output / "healthy_people.tsv", sep="\t", index=False)
        healthy.variants.to_csv(output / "healthy_variants.tsv", sep="\t", index=False)
    dump_json(metrics_payload(result), output / "metrics.json")
    figures = []
    for audited in result.sets:
        name = audited["name"]
        forest = forest_plot(result.groups, name, output / f"audit_forest_{name}.png")
        reliability = reliability_plot(
            result.reliability, name, output / f"audit_reliability_{name}.png"
        )
        figures.append(
            {
                "title": name,
                "forest": _data_uri(forest),
                "reliability": _data_uri(reliability),
                "rows": _html_groups(result.groups[result.groups["labelled_set"] == name]),
            }
        )
    healthy_png = (
        healthy_plot(healthy.summary, len(healthy.variants), output / "audit_healthy_pp3.png")
        if healthy is not None
        else None
    )
    report = output / REPORT_FILE
    report.write_text(render_html(result, figures, healthy_png), encoding="utf-8")
    return report
