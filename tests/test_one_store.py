"""One store for every command and endpoint: a variant streamed in is seen everywhere alike.

A copy of the SYNTHETIC tiny home receives the real dbNSFP v2.4 chr4 extract through
``vipredict add-dbnsfp`` (232 real rows the home never saw). One of those variants
is then asked through ``vipredict predict``, ``POST /predict`` and ``POST /predict/vcf``
(JSON and VCF) of a real ``bentoml serve``, ``vipredict queue build`` and
``vipredict annotate``: every path must
find it and give the same score and the same evidence. (The models are the tiny
home's, trained on synthetic rows, so the score means nothing; its equality does.)
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import httpx
import pandas as pd
import pytest
from homes import home_settings, with_home
from servers import serving
from typer.testing import CliRunner

from vipredict.cli import app
from vipredict.config import Settings
from vipredict.io.files import open_text
from vipredict.io.inputs import record_from_key
from vipredict.io.sources import resolve
from vipredict.model.scorer import load_scorer
from vipredict.queue.store import QueueStore
from vipredict.variants import parse_variant_key

runner = CliRunner()
HEADER = "##fileformat=VCFv4.2\n##reference=GRCh37\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"

pytestmark = pytest.mark.e2e  # add-dbnsfp reads the real gnomAD/ExAC exports (~30 s)


@pytest.fixture(scope="module")
def streamed_home(tiny_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the tiny home, with the real chr4 dbNSFP rows streamed in by the CLI."""
    home = tmp_path_factory.mktemp("streamed") / "home"
    shutil.copytree(tiny_home.home, home)
    settings = home_settings(home)
    patch = with_home(settings)
    try:
        args = ["add-dbnsfp", str(resolve("dbnsfp_v24_chr4"))]
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
    finally:
        patch.undo()
    assert result.exit_code == 0, result.output
    assert "232 variants added" in result.output
    return settings


@pytest.fixture(scope="module")
def streamed_key(streamed_home: Settings) -> str:
    """A streamed variant the evidence model scores (enough annotation), evidence preferred."""
    scorer = load_scorer(streamed_home, with_priority=False)
    rows = scorer.store.dataset_rows(Path(resolve("dbnsfp_v24_chr4")).name)
    assert len(rows) == 232
    results = scorer.score_records([record_from_key(k) for k in rows["variant"]])
    scored = results[results["error"] == ""]
    assert len(scored) > 0
    with_evidence = scored[scored["evidence"] != "none"]
    return str((with_evidence if len(with_evidence) else scored)["variant"].iloc[0])


def _info(line: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in line.split("\t")[7].split(";") if "=" in kv)


def test_a_streamed_variant_gets_one_answer_everywhere(
    streamed_home, streamed_key, tmp_path, monkeypatch
):
    monkeypatch.setenv("VIPREDICT_HOME", str(streamed_home.home))
    monkeypatch.setenv("BENTOML_HOME", str(streamed_home.bentoml_home))
    v = parse_variant_key(streamed_key)
    vcf = tmp_path / "one.vcf"
    vcf.write_text(HEADER + f"{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\t.\t.\n")
    keys = tmp_path / "one.tsv"
    keys.write_text(f"variant\n{streamed_key}\n")
    answers: dict[str, tuple[float, str]] = {}

    predicted = tmp_path / "predicted.tsv"
    result = runner.invoke(app, ["predict", str(keys), "--output", str(predicted)])
    assert result.exit_code == 0, result.output
    row = pd.read_csv(predicted, sep="\t", keep_default_na=False).iloc[0]
    answers["vipredict predict"] = (float(row["score"]), str(row["evidence"]))

    headers = {"X-API-Key": "one-store-key"}
    with serving(streamed_home, tmp_path, VIPREDICT_API_KEYS="one-store-key") as server:
        body = {"variants": [{"variant": streamed_key}]}
        served = httpx.post(f"{server.url}/predict", json=body, headers=headers).json()[0]
        answers["POST /predict"] = (served["score"], served["evidence"])
        upload = {"file": ("one.vcf.gz", gzip.compress(vcf.read_bytes()))}
        url = f"{server.url}/predict/vcf"
        as_json = httpx.post(f"{url}?format=json", files=upload, headers=headers).json()[0]
        answers["POST /predict/vcf json"] = (as_json["score"], as_json["evidence"])
        as_vcf = httpx.post(f"{url}?format=vcf", files=upload, headers=headers).text
        info = _info(next(line for line in as_vcf.splitlines() if not line.startswith("#")))
        answers["POST /predict/vcf vcf"] = (float(info["VIP_SCORE"]), info["VIP_EVIDENCE"])

    result = runner.invoke(app, ["queue", "build", str(vcf)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    queue_id = result.output.strip().splitlines()[-1]
    item = QueueStore.from_settings(streamed_home).load(queue_id).items.iloc[0]
    answers["vipredict queue build"] = (float(item["score"]), str(item["evidence"]))

    annotated = tmp_path / "annotated.vcf.gz"
    result = runner.invoke(app, ["annotate", str(vcf), "--output", str(annotated)])
    assert result.exit_code == 0, result.output
    with open_text(annotated) as handle:
        info = _info(next(line for line in handle if not line.startswith("#")))
    answers["vipredict annotate"] = (float(info["VIP_SCORE"]), info["VIP_EVIDENCE"])

    score, evidence = answers["vipredict predict"]
    assert evidence.startswith(("PP3", "BP4", "none"))
    for path, (other_score, other_evidence) in answers.items():
        assert other_evidence == evidence, path
        assert other_score == pytest.approx(score, rel=1e-5), path
