"""``vipredict queue ...`` end to end on a real public VCF and on the 2020 hold-out."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from vipredict.cli import app
from vipredict.sources import resolve

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


def invoke(*args: str):
    return runner.invoke(app, ["queue", *args], env=WIDE)


@pytest.fixture(scope="module")
def built(trained_home) -> tuple[str, Path]:
    """A queue of the ClinVar 2015 BRCA1/2 VCF (6,184 records; the store knows ~200)."""
    vcf = resolve("clinvar_2015_brca_vcf")
    result = invoke("build", str(vcf), "--gene", "BRCA1,brca2", "--show", "3")
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1], vcf


def test_build_prints_the_head_and_the_id(built):
    queue_id, _ = built
    assert len(queue_id) == 32
    shown = invoke("show", queue_id, "--limit", "5")
    assert shown.exit_code == 0, shown.output
    assert "#1 by settle" in shown.output and "BRCA" in shown.output


def test_decide_then_export_tsv_and_vcf(built, tmp_path: Path):
    queue_id, _ = built
    table_path = tmp_path / "q.tsv"
    assert invoke("export", queue_id, "--format", "tsv", "--output", str(table_path)).exit_code == 0
    table = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False)
    assert set(table["gene"]) <= {"BRCA1", "BRCA2"} and len(table) > 100
    key = table.loc[table["error"] == "", "variant"].iloc[0]
    decided = invoke(
        "decide",
        queue_id,
        key,
        "--decision",
        "defer",
        "--curator",
        "cli",
        "--note",
        "needs segregation data",
    )
    assert decided.exit_code == 0, decided.output
    assert json.loads(decided.output)["decision"] == "defer"
    vcf_path = tmp_path / "q.vcf"
    assert invoke("export", queue_id, "--format", "vcf", "--output", str(vcf_path)).exit_code == 0
    line = next(
        ln
        for ln in vcf_path.read_text().splitlines()
        if not ln.startswith("#") and "VIPQ_DECISION=defer" in ln
    )
    assert line.split("\t")[1] == key.split(":")[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("decide", "0" * 32, "GRCh37:1:1:A:G", "--decision", "accept", "--curator", "c"),
            "unknown_queue",
        ),
        (("show", "nope"), "unknown_queue"),
        (("export", "0" * 32, "--format", "csv", "--output", "x.csv"), "unknown_queue"),
    ],
)
def test_clear_errors(trained_home, args, message: str):
    result = invoke(*args)
    assert result.exit_code == 1 and message in result.output


def test_bad_decision_and_bad_filter_are_named(built):
    queue_id, vcf = built
    result = invoke(
        "decide", queue_id, "GRCh37:17:41276112:A:G", "--decision", "maybe", "--curator", "c"
    )
    assert result.exit_code == 1 and "invalid_decision" in result.output
    result = invoke("build", str(vcf), "--evidence", "PP9")
    assert result.exit_code == 1 and "invalid_evidence" in result.output


def test_evaluate_writes_the_top_k_table(trained_home, tmp_path: Path):
    output = tmp_path / "queue_evaluation.json"
    result = invoke("evaluate", "--output", str(output))
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert list(report["top_k"]) == ["100", "500", "1000"]
    for shares in report["top_k"].values():
        assert set(shares) == {"vipredict", "revel", "random"}
        assert all(0.0 <= f <= 1.0 for f in shares.values())
        # The point of the queue: its head is far richer in settling evidence than chance.
        assert shares["vipredict"] > shares["random"] + 0.1
    assert report["labels_hidden"] and report["n"] > 8000
    assert "P/LP" in report["definitions"]["decisive_correct"]
