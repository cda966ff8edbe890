"""GA4GH VA-Spec output (``vipredict.standards.va``), validated by the ``ga4gh.va_spec`` models.

* Logic on SYNTHETIC result rows (made-up scores, real VRS keys): each evidence code,
  frequency status and guideline setting reads as the ACMG 2015 profile codes it
  (tables written out by hand below), and errors stay per variant.
* The tiny home (SYNTHETIC variants and models): the scorer's own rows rendered with
  the tiny model card.
* End to end (``trained_home``, real): the real DITTO VEP VCF through ``vipredict
  predict --output-format va-json``: every record answered, every answer valid.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from homes import with_home
from typer.testing import CliRunner
from va_checks import (
    check_answer,
    check_error,
    check_statement,
    extension,
    is_error,
    outcome,
    statement_result,
    strength,
)

from vipredict.cli import app
from vipredict.config import ACMG_V3, SVCV4, Settings
from vipredict.io.inputs import read_csq_vcf, record_from_key
from vipredict.io.sources import resolve
from vipredict.model.scorer import Scorer, finalise
from vipredict.service.card import build_model_card
from vipredict.standards.va import va_json, va_statements
from vipredict.store.partitioned import Store
from vipredict.vrs import vrs_id

#: BRAF c.1799T>A on GRCh38: an SNV whose key makes a VRS Allele (the scores are made up).
KEY = "GRCh38:7:140753336:A:T"
#: (outcome code, direction, strength) of the line that is met, as the ACMG 2015 profile
#: writes it: a criterion at its default strength bare, any other as ``_<level>``.
MET_LINE = {
    "PP3_Supporting": ("PP3", "supports", "supporting"),
    "PP3_Moderate": ("PP3_moderate", "supports", "moderate"),
    "PP3_Strong": ("PP3_strong", "supports", "strong"),
    "PP3_VeryStrong": ("PP3_very_strong", "supports", "very strong"),
    "BP4_Supporting": ("BP4", "disputes", "supporting"),
    "BP4_Moderate": ("BP4_moderate", "disputes", "moderate"),
    "BP4_Strong": ("BP4_strong", "disputes", "strong"),
    "BP4_VeryStrong": ("BP4_very_strong", "disputes", "very strong"),
}
#: Tavtigian points (v3) and, made up but within SVCv4's range, MIS_PRD points of each code:
#: Moderate is given 3 MIS_PRD points so that the two scales tell apart.
V3_POINTS = {"Supporting": 1, "Moderate": 2, "Strong": 4, "VeryStrong": 8}
MIS_PRD = {"Supporting": 1, "Moderate": 3, "Strong": 4, "VeryStrong": 4}
#: (outcome, direction, strength, score) of a frequency line per criterion and status.
FREQUENCY_LINE = {
    ("BA1", "met"): ("BA1", "disputes", "standalone", -8),
    ("BS1", "met"): ("BS1", "disputes", "strong", -4),
    ("PM2_Supporting", "met"): ("PM2_supporting", "supports", "supporting", 1),
    ("BA1", "not_met"): ("BA1_not_met", "neutral", None, 0),
    ("BS1", "not_met"): ("BS1_not_met", "neutral", None, 0),
    ("PM2_Supporting", "not_met"): ("PM2_not_met", "neutral", None, 0),
    ("BA1", "unknown"): (None, "neutral", None, None),
    ("BS1", "unknown"): (None, "neutral", None, None),
    ("PM2_Supporting", "unknown"): (None, "neutral", None, None),
}
FREQUENCY_COLUMNS = ("BA1", "BS1", "PM2_Supporting")
runner = CliRunner()


def scored_row(evidence: str = "none", **values: object) -> dict[str, object]:
    """A SYNTHETIC scored result row of :data:`KEY` with ``evidence`` and its points."""
    family, _, level = evidence.partition("_")
    sign = {"PP3": 1, "BP4": -1}.get(family, 0)
    return {
        "input": KEY,
        "variant": KEY,
        "gene": "BRAF",
        "score": 0.5,
        "posterior": 0.1,
        "likelihood_ratio": 2.0,
        "evidence": evidence,
        "points": sign * V3_POINTS.get(level, 0),
        "mis_prd": sign * MIS_PRD.get(level, 0),
        "profile": "clingen",
        "BA1": "not_met",
        "BS1": "not_met",
        "PM2_Supporting": "met",
        "model": "vipredict-noaf",
        "model_version": "7",
        "run_id": "run0123",
        "error": "",
        **values,
    }


def rendered(rows: list[dict[str, object]], **kwargs) -> list[dict]:
    return va_statements(finalise(pd.DataFrame(rows)), {}, **kwargs)


@pytest.mark.parametrize("evidence", [*MET_LINE, "none"])
def test_each_code_reads_as_its_pp3_and_bp4_lines(evidence: str):
    """SYNTHETIC rows: the met criterion's line carries its code, direction and strength;
    the other (both, for ``none``) is neutral, not met, without a strength."""
    [obj] = rendered([scored_row(evidence)])
    pp3, bp4, *_ = check_statement(obj)
    for line, criterion in ((pp3, "PP3"), (bp4, "BP4")):
        if evidence.startswith(criterion):
            code, direction, level = MET_LINE[evidence]
            assert (outcome(line), line.directionOfEvidenceProvided, strength(line)) == (
                code,
                direction,
                level,
            )
        else:
            assert outcome(line) == f"{criterion}_not_met"
            assert line.directionOfEvidenceProvided == "neutral"
            assert strength(line) is None and line.scoreOfEvidenceProvided == 0


@pytest.mark.parametrize("evidence", list(MET_LINE))
@pytest.mark.parametrize(
    "guidelines,column",
    [((ACMG_V3, SVCV4), "mis_prd"), ((SVCV4,), "mis_prd"), ((ACMG_V3,), "points")],
)
def test_the_points_are_mis_prd_where_svcv4_is_reported(evidence, guidelines, column):
    """SYNTHETIC rows: the met line's score is MIS_PRD when SVCv4 is reported, else the v3
    points; signed (benign negative), and the scale is named on the line."""
    row = scored_row(evidence)
    [obj] = rendered([row], guidelines=guidelines)
    lines = check_statement(obj)
    met = lines[0] if evidence.startswith("PP3") else lines[1]
    assert met.scoreOfEvidenceProvided == row[column]
    assert extension(met.extensions, "pointsScale").startswith(
        "SVCv4 MIS_PRD" if column == "mis_prd" else "ACMG/AMP v3"
    )
    result = statement_result(obj)
    assert ("mis_prd" in result) == (SVCV4 in guidelines)
    assert ("evidence" in result) == ("points" in result) == (ACMG_V3 in guidelines)
    assert result.get("mis_prd", row["mis_prd"]) == row["mis_prd"]
    assert result.get("evidence", evidence) == evidence
    assert "priority_score" not in result


@pytest.mark.parametrize("column,status", list(FREQUENCY_LINE))
def test_frequency_criteria_keep_lines_of_their_own(column: str, status: str):
    """SYNTHETIC rows: BA1, BS1 and PM2 each on its own line, read from the row's status."""
    [obj] = rendered([scored_row("PP3_Moderate", **{column: status})])
    lines = check_statement(obj)
    line = lines[2 + FREQUENCY_COLUMNS.index(column)]
    found = (outcome(line), line.directionOfEvidenceProvided, strength(line))
    assert (*found, line.scoreOfEvidenceProvided) == FREQUENCY_LINE[(column, status)]
    assert line.specifiedBy.reportedIn.pmid == "25741868"  # ACMG 2015, the criterion's source


def test_the_model_is_the_method_of_the_computational_lines():
    """SYNTHETIC rows: name, version, MLflow run, profile and the calibration's prior are on
    the method; the document it follows is Pejaver et al. 2022."""
    card = {"models": [{"emits_evidence": True, "calibration": {"prior": 0.0441, "c": 1124.0}}]}
    [obj] = va_statements(finalise(pd.DataFrame([scored_row("BP4_Strong")])), card)
    for line in check_statement(obj)[:2]:
        method = line.specifiedBy
        assert extension(method.extensions, "model") == "vipredict-noaf"
        assert extension(method.extensions, "modelVersion") == "7"
        assert extension(method.extensions, "mlflowRunId") == "run0123"
        assert extension(method.extensions, "annotationProfile") == "clingen"
        assert extension(method.extensions, "calibration")["prior"] == 0.0441
        assert method.reportedIn.pmid == "36413997"


def test_errors_stay_per_variant():
    """SYNTHETIC rows: an error row and a scored indel (no VRS Allele offline) each become
    their own named error; the scored rows around them are statements, in order."""
    rows = [
        scored_row("PP3_Strong", input="first"),
        scored_row(input="bad", variant="", error="bad_key", error_detail="not a key"),
        scored_row(input="indel", variant="GRCh38:7:140753336:AC:T"),
        scored_row("BP4_Moderate", input="last"),
    ]
    out = rendered(rows)
    assert len(out) == len(rows)
    assert [is_error(o) for o in out] == [False, True, True, False]
    for obj in out:
        check_answer(obj)
    assert out[1] == {
        "input": "bad",
        "variant": None,
        "error": "bad_key",
        "error_detail": "not a key",
    }
    assert out[2]["error"] == "not_snv" and out[2]["variant"] == "GRCh38:7:140753336:AC:T"
    assert [statement_result(out[i])["input"] for i in (0, 3)] == ["first", "last"]
    assert json.loads(va_json(finalise(pd.DataFrame(rows)), {})) == out


def test_the_tiny_homes_answers_validate(tiny_home: Settings, tiny_scorer: Scorer):
    """The SYNTHETIC tiny home: its scorer's rows for stored keys, a key the store lacks and a
    bad key, rendered with its model card: statements about each key's VRS Allele whose
    lines repeat the row's evidence; the others their rows' named errors."""
    stored = Store.open(tiny_home).read_all().sort_values("variant")["variant"].astype(str)
    keys = [*stored.iloc[:: max(1, len(stored) // 60)], "GRCh37:1:1:A:G", "not-a-key"]
    results = tiny_scorer.score_records([record_from_key(k) for k in keys])
    card = build_model_card(tiny_scorer, tiny_home)
    out = va_statements(results, card, tiny_scorer.guidelines)
    assert len(out) == len(results)
    scored = 0
    for obj, (_, row) in zip(out, results.iterrows(), strict=True):
        if row["error"]:
            check_error(obj)
            assert (obj["input"], obj["error"]) == (row["input"], row["error"])
            continue
        scored += 1
        lines = check_statement(obj)
        assert obj["proposition"]["subjectVariant"]["id"] == vrs_id(row["variant"])
        result = statement_result(obj)
        assert (result["input"], result["variant"]) == (row["input"], row["variant"])
        assert result["score"] == pytest.approx(row["score"])
        family = str(row["evidence"]).split("_")[0]
        for line, criterion in zip(lines[:2], ("PP3", "BP4"), strict=True):
            assert outcome(line).startswith(criterion)
            assert outcome(line).endswith("_not_met") == (family != criterion)
            assert extension(line.specifiedBy.extensions, "mlflowRunId") == row["run_id"]
        for line, column in zip(lines[2:], FREQUENCY_COLUMNS, strict=True):
            status = row[column]
            assert (outcome(line) or "unknown").endswith("_not_met") == (status == "not_met")
    assert scored > 10
    assert all(is_error(o) for o in out[-2:])


def test_predict_refuses_an_unknown_output_format(tmp_path: Path):
    """Refused before any model loads: ``--output-format`` names what is written."""
    source = tmp_path / "in.tsv"
    source.write_text("variant\n" + KEY + "\n")
    output = tmp_path / "out"
    args = ["predict", str(source), "--output", str(output), "--output-format", "xml"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "tsv, va-json" in result.output
    assert not output.exists()


# --------------------------------------------------------------------------- real data (e2e)


def test_a_real_vep_vcf_becomes_valid_va_spec(trained_home: Settings, tmp_path: Path):
    """The real DITTO VEP VCF on the real trained home, through ``vipredict predict
    --output-format va-json``: one answer per record in input order, each a statement the
    VA-Spec models validate or a named per-variant error."""
    source = resolve("ditto_vep_vcf")
    output = tmp_path / "ditto.va.json"
    patch = with_home(trained_home)
    try:
        result = runner.invoke(
            app, ["predict", str(source), "--output", str(output), "--output-format", "va-json"]
        )
    finally:
        patch.undo()
    assert result.exit_code == 0, result.output
    out = json.loads(output.read_text())
    records = read_csq_vcf(source).records
    assert len(out) == len(records)
    labels = [o["input"] if is_error(o) else statement_result(o)["input"] for o in out]
    assert labels == [r.label for r in records]
    for obj in out:
        check_answer(obj)
    statements = [o for o in out if not is_error(o)]
    assert len(statements) > 50
    codes = {outcome(line) for o in statements for line in check_statement(o)[:2]}
    assert any(code and not code.endswith("_not_met") for code in codes)  # some evidence given
