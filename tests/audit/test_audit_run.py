"""``vipredict audit`` end to end on the REAL trained home: files, metrics.json, MLflow, limits."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from vipredict.audit.sets import LABELLED_SETS
from vipredict.cli import app
from vipredict.config import Settings
from vipredict.model.registry import champion_version, setup_mlflow

OUTPUTS = (
    "report.html",
    "metrics.json",
    "groups.tsv",
    "audited_variants.tsv",
    "healthy_summary.tsv",
    "healthy_people.tsv",
    "healthy_variants.tsv",
    "audit_forest_clingen_x_gnomad_exports.png",
    "audit_healthy_pp3.png",
)


def test_every_output_is_written(audit_dir: Path):
    for name in OUTPUTS:
        assert (audit_dir / name).stat().st_size > 0, name


def test_metrics_json_has_one_record_per_group_with_intervals(audit_metrics: dict, audit_dir):
    groups = audit_metrics["groups"]
    assert {g["labelled_set"] for g in groups} == {spec.name for spec in LABELLED_SETS}
    first = groups[0]
    for key in (
        "grouping",
        "group",
        "n",
        "n_pathogenic",
        "auroc",
        "auroc_ci",
        "pp3_on_benign",
        "bp4_on_pathogenic",
        "evidence_coverage",
        "calibration_gap",
        "warning",
    ):
        assert key in first
    table = pd.read_csv(audit_dir / "groups.tsv", sep="\t")
    assert len(table) == len(groups)
    assert {"auroc_ci_low", "auroc_ci_high"} <= set(table.columns)


def test_training_and_holdout_are_reported_apart(audit_metrics: dict):
    overall = {
        g["split"]: g
        for g in audit_metrics["groups"]
        if g["labelled_set"] == "clingen_x_gnomad_exports" and g["grouping"] == "all"
    }
    assert set(overall) == {"train_2019", "holdout_2020"}
    assert overall["holdout_2020"]["n"] > 8000
    assert (
        overall["holdout_2020"]["auroc"] < overall["train_2019"]["auroc"]
    )  # in-sample is optimistic


def test_small_groups_are_withheld_with_a_warning(audit_metrics: dict):
    small = [g for g in audit_metrics["groups"] if g["n_pathogenic"] < 5]
    assert small
    for group in small:
        assert group["auroc"] is None and group["auroc_ci"] == [None, None]
        assert "auroc" in group["withheld"] and group["warning"].startswith("too few to say")


def test_healthy_view_counts_people_by_super_population(audit_metrics: dict):
    healthy = audit_metrics["healthy"]
    assert healthy["n_variants_with_features"] > 10
    summary = {row["super_pop"]: row for row in healthy["summary"]}
    assert set(summary) == {"AFR", "AMR", "EAS", "EUR", "SAS"}
    assert sum(row["n_people"] for row in summary.values()) > 2400


def test_report_states_its_limits_and_embeds_its_plots(audit_dir: Path, audit_metrics: dict):
    html = (audit_dir / "report.html").read_text()
    assert "69 ACMG" in html and "full gnomAD" in html and "in-sample" in html
    assert html.count("data:image/png;base64,") >= 5
    assert len(audit_metrics["limits"]) >= 5


def test_report_is_logged_to_the_audited_models_run(audit_dir: Path, trained_home: Settings):
    client = setup_mlflow(trained_home)
    run_id = champion_version(client, "vipredict-noaf").run_id
    logged = {Path(a.path).name for a in client.list_artifacts(run_id, "audit")}
    assert set(OUTPUTS) <= logged


def test_missing_frequency_vcf_is_a_clear_error(tmp_path: Path):
    missing = str(tmp_path / "none.vcf")
    result = CliRunner().invoke(app, ["audit", "--frequency-vcf", missing], env={"COLUMNS": "1000"})
    assert result.exit_code == 2
    assert "does not exist" in result.output
