"""The prediction CLI on real trained models: every input row answered, bad ones named."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from vipredict.cli import app
from vipredict.predict import OUTPUT_COLUMNS, build_from_header
from vipredict.sources import resolve

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


def run_predict(tmp_path: Path, input_path: Path, *extra: str) -> pd.DataFrame:
    output = tmp_path / "out.tsv"
    result = runner.invoke(app, ["predict", str(input_path), "--output", str(output), *extra])
    assert result.exit_code == 0, result.output
    return pd.read_csv(output, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def vcf_results(trained_home, tmp_path_factory) -> pd.DataFrame:
    return run_predict(tmp_path_factory.mktemp("vcf"), FIXTURES / "mixed_records.vcf")


def test_every_vcf_record_gets_a_row_in_order(vcf_results):
    assert list(vcf_results.columns) == list(OUTPUT_COLUMNS)
    # 10 body lines, one of them multi-allelic -> 11 rows
    assert len(vcf_results) == 11


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (0, ""),  # a real 2019 ClinGen variant
        (1, ""),  # the same with a chr prefix
        (2, "ref_mismatch"),
        (3, "unknown_contig"),
        (4, "not_snv"),
        (5, "malformed_record"),
        (6, "malformed_record"),
        (9, "no_features"),
        (10, ""),  # lowercase bases are upper-cased
    ],
)
def test_bad_records_get_named_errors_and_good_ones_evidence(vcf_results, row, error):
    result = vcf_results.iloc[row]
    assert result["error"] == error
    if error:
        assert result["evidence"] == "none" and result["score"] == ""
    else:
        assert 0.0 <= float(result["score"]) <= 1.0
        assert result["evidence"] != "" and result["model"].startswith("vipredict-noaf")
        assert result["gene"] == "AGRN"


def test_multi_allelic_records_are_split_per_alt(vcf_results):
    assert vcf_results.iloc[7]["variant"] == "GRCh37:1:955563:G:C"
    assert vcf_results.iloc[8]["variant"] in ("GRCh37:1:955563:G:T", "1:955563:G:T")
    assert vcf_results.iloc[8]["error"] == "no_features"


def test_evidence_and_points_agree(vcf_results):
    from vipredict.calibration import POINTS

    for evidence, points in zip(vcf_results["evidence"], vcf_results["points"], strict=True):
        assert int(points) == POINTS.get(evidence, 0)


def test_gzipped_vcf_and_tsv_of_keys(trained_home, tmp_path):
    packed = tmp_path / "in.vcf.gz"
    with open(FIXTURES / "mixed_records.vcf", "rb") as raw, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(raw, out)
    assert len(run_predict(tmp_path, packed)) == 11
    keys = tmp_path / "keys.tsv"
    keys.write_text("variant\nGRCh37:1:955563:G:C\nnonsense\nGRCh38:1:5:A:G\n")
    table = run_predict(tmp_path, keys, "--format", "tsv")
    assert table["error"].tolist() == ["", "malformed_record", "no_features"]


def test_vep_input_is_scored_from_its_own_annotations(trained_home, tmp_path):
    """External check on another curation (VusPrize, GRCh38 VEP+dbNSFP): P ranks above B."""
    from sklearn.metrics import roc_auc_score

    scores = {}
    for label, name in ((1, "vep_dbnsfp_pathogenic"), (0, "vep_dbnsfp_benign")):
        table = run_predict(tmp_path, resolve(name), "--format", "vep")
        scored = table[table["error"] == ""]
        assert len(scored) > 0.9 * len(table)
        scores[label] = scored["score"].astype(float).tolist()
    labels = [1] * len(scores[1]) + [0] * len(scores[0])
    assert roc_auc_score(labels, scores[1] + scores[0]) > 0.85


def test_missing_input_file_is_a_clear_error(trained_home, tmp_path):
    missing = tmp_path / "nope.vcf"
    result = runner.invoke(
        app, ["predict", str(missing), "--output", "x.tsv"], env={"COLUMNS": "1000"}
    )
    assert result.exit_code != 0
    assert f"{missing} does not exist" in result.output


@pytest.mark.parametrize(
    ("header", "build"),
    [
        (["##reference=hg38.fa"], "GRCh38"),
        (["##contig=<ID=1,assembly=b37>"], "GRCh37"),
        ([], "GRCh37"),
    ],
)
def test_build_is_read_from_the_vcf_header(header, build):
    assert build_from_header(header, "GRCh37") == build
