"""``vipredict audit`` end to end on the REAL trained home: files, metrics.json, MLflow, limits.

The counts are checked against the feature store read directly (the ClinGen rows the
audit is given), and every table against the variants it was computed from.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from vipredict.audit.sets import LABELLED_SETS, SPLITS
from vipredict.cli import app
from vipredict.config import Settings
from vipredict.model.registry import champion_version, setup_mlflow
from vipredict.store.partitioned import Store

TRAIN, VALIDATION = SPLITS["clingen_2019"], SPLITS["clingen_2020"]
#: Groupings that put each variant in exactly one group (``observed_in`` may put it in several).
SINGLE_VALUED = ("all", "grpmax_group", "af_band")
GROUP_KEY = ["labelled_set", "split", "grouping", "group"]

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


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk; fails on anything that is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path.name}: not a PNG"
    return struct.unpack(">II", head[16:24])


def test_every_figure_is_a_png_of_a_readable_size_embedded_in_the_report(audit_dir: Path):
    """Each set's forest and (where drawn) reliability plot, and the healthy view: a real
    PNG, between 400x250 and 6000x6000 pixels and over 10 kB (a blank figure is ~2 kB), and
    the very same bytes embedded in report.html."""
    figures = [audit_dir / name for name in OUTPUTS if name.endswith(".png")]
    figures += [audit_dir / f"audit_forest_{spec.name}.png" for spec in LABELLED_SETS]
    figures += sorted(audit_dir.glob("audit_reliability_*.png"))
    assert len(set(figures)) >= len(LABELLED_SETS) + 2
    html = (audit_dir / "report.html").read_text()
    for figure in set(figures):
        width, height = png_size(figure)
        assert 400 <= width <= 6000 and 250 <= height <= 6000, (figure.name, width, height)
        assert figure.stat().st_size > 10_000, figure.name
        assert base64.b64encode(figure.read_bytes()).decode() in html, figure.name


@pytest.fixture(scope="module")
def groups_table(audit_dir: Path) -> pd.DataFrame:
    return pd.read_csv(audit_dir / "groups.tsv", sep="\t", keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def audited(audit_dir: Path) -> pd.DataFrame:
    return pd.read_csv(audit_dir / "audited_variants.tsv", sep="\t", keep_default_na=False)


@pytest.fixture(scope="module")
def clingen_in_store(trained_home: Settings) -> dict[str, pd.DataFrame]:
    """The labelled ClinGen rows of the store, read directly: split -> variant, label."""
    store = Store.open(trained_home)
    columns = ["variant", "label"]
    return {
        split: store.dataset_rows(dataset, columns, labelled=True).drop_duplicates("variant")
        for dataset, split in SPLITS.items()
    }


def test_clingen_counts_are_the_stores(audit_metrics, groups_table, audited, clingen_in_store):
    """Both ClinGen sets: every split's n and P/LP count, in the set summary, the "all"
    group and the audited variants, are those of the store's labelled ClinGen rows."""
    for spec in LABELLED_SETS[:2]:  # the two ClinGen x browser-export sets
        summary = next(s for s in audit_metrics["sets"] if s["name"] == spec.name)
        for split, rows in clingen_in_store.items():
            n, n_pathogenic = len(rows), int(rows["label"].sum())
            assert n > 5_000 and 0 < n_pathogenic < n
            said = summary["splits"][split]
            assert (said["n"], said["n_pathogenic"]) == (n, n_pathogenic), (spec.name, split)
            everyone = groups_table.set_index(GROUP_KEY).loc[(spec.name, split, "all", "all")]
            assert (everyone["n"], everyone["n_pathogenic"]) == (n, n_pathogenic)
            mine = audited[(audited["labelled_set"] == spec.name) & (audited["split"] == split)]
            assert set(mine["variant"]) == set(rows["variant"]) and len(mine) == n


def test_each_group_counts_the_audited_variants_in_it(groups_table, audited):
    """Per set, split and single-valued grouping, each group's n and P/LP count are the
    audited variants carrying that group label; P/LP + B/LB = n; the groups cover the split."""
    assert (groups_table["n_pathogenic"] + groups_table["n_benign"] == groups_table["n"]).all()
    for grouping in SINGLE_VALUED[1:]:
        counted = audited.groupby(["labelled_set", "split", grouping])["label"].agg(["size", "sum"])
        table = groups_table[groups_table["grouping"] == grouping]
        table = table.set_index(["labelled_set", "split", "group"])[["n", "n_pathogenic"]]
        counted.index.names = table.index.names
        pd.testing.assert_frame_equal(
            table.sort_index(),
            counted.rename(columns={"size": "n", "sum": "n_pathogenic"}).sort_index(),
            check_dtype=False,
        )


def test_groups_tsv_is_metrics_json_with_flat_intervals(audit_metrics, groups_table):
    """One TSV row per JSON group, in order; each interval split into low <= high around its
    estimate (AUROC, PP3 on B/LB), none where the JSON withholds it."""
    groups = audit_metrics["groups"]
    assert len(groups_table) == len(groups)
    assert groups_table[[*GROUP_KEY, "n"]].values.tolist() == [
        [g[k] for k in [*GROUP_KEY, "n"]] for g in groups
    ]
    for metric in ("auroc", "pp3_on_benign", "calibration_gap"):
        bounds = np.array([g[f"{metric}_ci"] for g in groups], dtype="float64")
        low = groups_table[f"{metric}_ci_low"].to_numpy(dtype="float64")
        high = groups_table[f"{metric}_ci_high"].to_numpy(dtype="float64")
        np.testing.assert_allclose(low, bounds[:, 0], rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(high, bounds[:, 1], rtol=1e-12, equal_nan=True)
        value = groups_table[metric].to_numpy(dtype="float64")
        shown = ~np.isnan(low)
        assert shown.sum() > 10
        assert (low[shown] <= value[shown] + 1e-12).all() and (
            value[shown] <= high[shown] + 1e-12
        ).all()


def test_healthy_tables_add_up(audit_dir: Path, audit_metrics: dict):
    """The 1000 Genomes view: in each region, the PP3 variants people carry add up to the
    carriers of the PP3 variants; "all regions" sums each person genotyped in every region;
    the summary counts those people per super-population and their mean PP3 count; the
    variant and PP3 counts in metrics.json are those of healthy_variants.tsv."""
    people = pd.read_csv(audit_dir / "healthy_people.tsv", sep="\t")
    variants = pd.read_csv(audit_dir / "healthy_variants.tsv", sep="\t", keep_default_na=False)
    summary = pd.read_csv(audit_dir / "healthy_summary.tsv", sep="\t").set_index("super_pop")
    combined = people[people["region"] == "all regions"].set_index("sample")
    regional = people[people["region"] != "all regions"]
    pp3 = variants[variants["evidence"].str.startswith("PP3")]
    for region, rows in regional.groupby("region"):
        assert rows["n_pp3"].sum() == pp3.loc[pp3["region"] == region, "carriers"].sum()
    n_regions = regional["region"].nunique()
    assert n_regions >= 2
    in_every = regional.groupby("sample")["region"].nunique() == n_regions
    assert set(combined.index) == set(in_every[in_every].index)
    summed = regional.groupby("sample")[["n_carried", "n_pp3", "n_bp4"]].sum()
    pd.testing.assert_frame_equal(
        combined[["n_carried", "n_pp3", "n_bp4"]], summed.loc[combined.index]
    )
    by_population = combined.groupby("super_pop").agg(n=("n_pp3", "size"), pp3=("n_pp3", "mean"))
    assert summary["n_people"].to_dict() == by_population["n"].to_dict()
    np.testing.assert_allclose(summary.loc[by_population.index, "mean_pp3"], by_population["pp3"])
    healthy = audit_metrics["healthy"]
    assert healthy["n_variants_with_features"] == len(variants) > 10
    assert healthy["n_variants_pp3"] == len(pp3) > 0


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
    assert set(overall) == {TRAIN, VALIDATION}
    assert overall[VALIDATION]["n"] > 8000
    assert overall[VALIDATION]["auroc"] < overall[TRAIN]["auroc"]  # in-sample is optimistic


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
