"""SVCv4 MIS_PRD in every output: JSON, TSV, VCF, the queue and the model card.

The SYNTHETIC tiny home's champions answer (made-up variants, real builders): every
figure below is checked against the thresholds the service itself publishes in its
model card (``GET /model``: per profile, the score at which each MIS_PRD value
starts), through a small reference rule written here from the card, not through
:func:`vipredict.acmg.mis_prd_points`. ``VIPREDICT_GUIDELINES`` then removes the fields
of the guideline version a deployment does not report.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from vipredict.config import Settings, get_settings
from vipredict.model.cards import mis_prd_lines
from vipredict.model.scorer import RESULT_COLUMNS, Scorer, load_scorer, mis_prd_ladders
from vipredict.queue.export import export_text
from vipredict.queue.genes import GeneContext
from vipredict.queue.store import QueueStore
from vipredict.service.card import build_model_card
from vipredict.service.predictor import PredictionService
from vipredict.service.queue import QueueService
from vipredict.service.schemas import VariantIn
from vipredict.variants import parse_variant_key

VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
#: Variants per request: under the app's VIPREDICT_MAX_VARIANTS (64, tests/service/conftest.py).
CHUNK = 60
V3_KEYS = {"evidence", "points", "next_level"}
V3_COLUMNS = {"evidence", "points", "next_level", "next_level_distance"}


def card_rule(starts: dict[str, float | None], score: float) -> int:
    """MIS_PRD of a score from the card's table (not reversed: the evidence model's scores
    are probabilities): the largest positive value whose start the score reaches, else
    the most negative value whose start it reaches, else 0."""
    up = [int(k) for k, t in starts.items() if int(k) > 0 and t is not None and score >= t]
    down = [int(k) for k, t in starts.items() if int(k) < 0 and t is not None and score <= t]
    return max(up) if up else min(down) if down else 0


@pytest.fixture(scope="module")
def card(client: TestClient) -> dict:
    response = client.get("/model")
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def starts(card: dict) -> dict[str, dict[str, float | None]]:
    """Per profile: the score at which each MIS_PRD value starts, as the card says."""
    evidence = card["models"][0]
    return {name: p["starts"] for name, p in evidence["mis_prd"]["profiles"].items()}


@pytest.fixture(scope="module")
def answers(client: TestClient, judged_keys: list[str], unjudged_keys: dict) -> list[dict]:
    """``POST /predict`` for every judged key and a few of each per-variant error."""
    keys = [*judged_keys, *(k for kind in unjudged_keys.values() for k in kind[:3])]
    out = []
    for start in range(0, len(keys), CHUNK):
        body = {"variants": [{"variant": k} for k in keys[start : start + CHUNK]]}
        response = client.post("/predict", json=body)
        assert response.status_code == 200, response.text
        out += response.json()
    assert len(out) == len(keys)
    return out


def _upload(keys: list[str]) -> bytes:
    lines = []
    for key in keys:
        v = parse_variant_key(key)
        lines.append(f"{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\t.\t.\n")
    return gzip.compress((VCF_HEADER + "".join(lines)).encode())


@pytest.fixture(scope="module")
def mixed_keys(answers: list[dict]) -> list[str]:
    """CHUNK keys covering every MIS_PRD value answered, errors included."""
    by_value: dict[object, list[str]] = {}
    for answer in answers:
        by_value.setdefault(answer["mis_prd"], []).append(answer["variant"])
    picked = [k for keys in by_value.values() for k in keys[:6]]
    return picked[:CHUNK]


# --------------------------------------------------------------------------- the card


def test_card_publishes_each_profiles_ladder_with_the_caps(card: dict, tiny_scorer: Scorer):
    """Every profile has its table; BP4 capped at Moderate gives no -3 or -4 even where
    its calibration reached the 3-point level, PP3 capped at Strong keeps +3 and +4."""
    evidence = card["models"][0]
    assert card["guidelines"] == ["acmg_v3", "svcv4"]
    assert evidence["mis_prd"]["code"] == "MIS_PRD"
    profiles = evidence["mis_prd"]["profiles"]
    assert list(profiles) == [p.name for p in tiny_scorer.evidence_model.profiles]
    for profile in tiny_scorer.evidence_model.profiles:
        table = profiles[profile.name]
        assert table["caps"] == {"PP3": "Strong", "BP4": "Moderate"}
        calibration = profile.calibration
        assert table["starts"]["+1"] == calibration.thresholds["PP3_Supporting"]
        assert table["starts"]["+3"] == calibration.three_point["PP3_3pt"]
        assert table["starts"]["+4"] == calibration.thresholds["PP3_Strong"]
        assert table["starts"]["-2"] == calibration.thresholds["BP4_Moderate"]
        assert table["starts"]["-3"] is None and table["starts"]["-4"] is None
    assert any(
        p.calibration.three_point["BP4_3pt"] is not None
        for p in tiny_scorer.evidence_model.profiles
    )


def test_markdown_card_tables_each_profile(tiny_scorer: Scorer):
    model = tiny_scorer.evidence_model
    lines = mis_prd_lines(mis_prd_ladders(model))
    first = model.profiles[0]
    row = next(line for line in lines if line.startswith(f"| {first.name} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "PP3 Strong, BP4 Moderate"
    assert cells[2:4] == ["-", "-"]  # -4, -3: beyond BP4's cap
    assert cells[4] == f"≤ {first.calibration.thresholds['BP4_Moderate']:.3f}"
    assert cells[8] == f"≥ {first.calibration.three_point['PP3_3pt']:.3f}"
    assert len([line for line in lines if line.startswith("| ") and "---" not in line]) == (
        1 + len(model.profiles)
    )


# --------------------------------------------------------------------------- every output


def test_json_answers_carry_mis_prd_by_the_card(answers: list[dict], starts: dict):
    """Each scored answer's MIS_PRD is the card's value for its score; errors are null."""
    seen = set()
    for answer in answers:
        if answer["error"]:
            assert answer["mis_prd"] is None and answer["evidence"] == "none"
            continue
        expected = card_rule(starts[answer["profile"]], answer["score"])
        assert answer["mis_prd"] == expected, answer
        seen.add(expected)
        # outside the 3-point band MIS_PRD is the v3 points; inside it +3 beside PP3_Moderate
        if expected == 3:
            assert answer["evidence"] == "PP3_Moderate" and answer["points"] == 2
        else:
            assert answer["mis_prd"] == answer["points"]
    assert {-2, -1, 0, 1, 2, 3, 4} <= seen  # the synthetic home reaches the ±3 level
    assert any(a["error"] for a in answers)


def test_tsv_carries_mis_prd_by_the_card(
    client: TestClient, mixed_keys: list[str], starts: dict, answers: list[dict]
):
    response = client.post(
        "/predict/vcf?format=tsv", files={"file": ("in.vcf.gz", _upload(mixed_keys))}
    )
    assert response.status_code == 200, response.text
    assert tuple(response.text.split("\n", 1)[0].split("\t")) == RESULT_COLUMNS
    table = pd.read_csv(io.StringIO(response.text), sep="\t", keep_default_na=False, dtype=str)
    assert table["variant"].tolist() == mixed_keys
    by_key = {a["variant"]: a for a in answers}
    for row in table.to_dict("records"):
        if row["error"]:
            assert row["mis_prd"] == ""
            continue
        assert int(row["mis_prd"]) == card_rule(starts[row["profile"]], float(row["score"]))
        assert int(row["mis_prd"]) == by_key[row["variant"]]["mis_prd"]
    assert "3" in set(table["mis_prd"]) and "" in set(table["mis_prd"])


def test_vcf_carries_vip_mis_prd_per_alt(
    client: TestClient, mixed_keys: list[str], answers: list[dict]
):
    response = client.post(
        "/predict/vcf?format=vcf", files={"file": ("in.vcf.gz", _upload(mixed_keys))}
    )
    assert response.status_code == 200, response.text
    lines = response.text.splitlines()
    assert any(line.startswith("##INFO=<ID=VIP_MIS_PRD,Number=A,Type=Integer") for line in lines)
    body = [line for line in lines if not line.startswith("#")]
    by_key = {a["variant"]: a for a in answers}
    for key, line in zip(mixed_keys, body, strict=True):
        info = dict(kv.split("=", 1) for kv in line.split("\t")[7].split(";"))
        expected = by_key[key]["mis_prd"]
        assert info["VIP_MIS_PRD"] == ("." if expected is None else str(expected)), line
        assert info["VIP_EVIDENCE"] == ("." if expected is None else by_key[key]["evidence"])


def test_queue_items_and_exports_carry_mis_prd(
    prediction_service: PredictionService,
    mixed_keys: list[str],
    starts: dict,
    tmp_path: Path,
):
    """SYNTHETIC queue through the real QueueService: items keep MIS_PRD, and so do its
    CSV and VCF exports."""
    store = QueueStore(f"sqlite:///{tmp_path / 'q.db'}")
    queues = QueueService(prediction_service, store, GeneContext())
    body = json.dumps({"variants": [{"variant": k} for k in mixed_keys], "name": "mis_prd"})
    answer = queues.create(body.encode())
    assert answer.status == 200, answer.body
    created = json.loads(answer.body)
    for item in created["items"]:
        if item["error"]:
            assert item["mis_prd"] is None
        else:
            assert item["mis_prd"] == card_rule(starts[item["profile"]], item["score"])
    record = store.load(created["id"])
    csv = pd.read_csv(io.StringIO(export_text(record, "csv")), keep_default_na=False, dtype=str)
    expected = ["" if i["mis_prd"] is None else str(i["mis_prd"]) for i in created["items"]]
    assert csv["mis_prd"].tolist() == expected
    vcf = export_text(record, "vcf").splitlines()
    assert any(line.startswith("##INFO=<ID=VIP_MIS_PRD,") for line in vcf)
    by_locus = {}
    for item in created["items"]:
        if item["variant"]:
            v = parse_variant_key(item["variant"])
            by_locus[(v.chrom, str(v.pos), v.ref, v.alt)] = item["mis_prd"]
    records = [line.split("\t") for line in vcf if not line.startswith("#")]
    assert len(records) == len(by_locus)
    for fields in records:
        expected = by_locus[(fields[0], fields[1], fields[3], fields[4])]
        info = dict(kv.split("=", 1) for kv in fields[7].split(";") if "=" in kv)
        assert info["VIP_MIS_PRD"] == ("." if expected is None else str(expected))


# --------------------------------------------------------------------------- the setting


@pytest.fixture(scope="module")
def only(tiny_scorer: Scorer):
    """A PredictionService reporting only the given guideline versions (no warm-up)."""

    def make(*guidelines: str) -> PredictionService:
        return PredictionService(replace(tiny_scorer, guidelines=guidelines), card={})

    return make


@pytest.mark.parametrize(
    ("guidelines", "gone_keys", "gone_info"),
    [(("svcv4",), V3_KEYS, "VIP_EVIDENCE"), (("acmg_v3",), {"mis_prd"}, "VIP_MIS_PRD")],
)
def test_the_setting_leaves_out_the_other_guidelines_fields(
    only, mixed_keys: list[str], guidelines, gone_keys: set[str], gone_info: str
):
    service = only(*guidelines)
    payload = json.loads(service.predict_json(_variants(mixed_keys)))
    kept = (V3_KEYS | {"mis_prd"}) - gone_keys
    for answer in payload:
        assert not gone_keys & set(answer), answer  # absent, not null
        assert kept <= set(answer)
    models = service.predict(_variants(mixed_keys[:3]))  # the response model accepts them
    assert all(set(m.model_fields_set).isdisjoint(gone_keys) for m in models)
    tsv, _ = service.predict_upload(_upload(mixed_keys), "tsv")
    header = tsv.split("\n", 1)[0].split("\t")
    gone_columns = V3_COLUMNS if "mis_prd" not in gone_keys else {"mis_prd"}
    assert header == [c for c in RESULT_COLUMNS if c not in gone_columns]
    vcf, _ = service.predict_upload(_upload(mixed_keys), "vcf")
    assert gone_info not in vcf
    assert ("VIP_MIS_PRD" in vcf) == ("svcv4" in guidelines)


def _variants(keys: list[str]) -> list[VariantIn]:
    return [VariantIn(variant=k) for k in keys]


def test_the_setting_shapes_the_card_and_queue_exports(
    only,
    tiny_home: Settings,
    prediction_service: PredictionService,
    mixed_keys: list[str],
    tmp_path: Path,
):
    v3 = only("acmg_v3").scorer
    card = build_model_card(v3, tiny_home)
    assert card["guidelines"] == ["acmg_v3"] and "mis_prd" not in card["models"][0]
    svcv4 = build_model_card(only("svcv4").scorer, tiny_home)
    assert "mis_prd" in svcv4["models"][0]
    store = QueueStore(f"sqlite:///{tmp_path / 'q.db'}")
    queues = QueueService(prediction_service, store, GeneContext())
    body = json.dumps({"variants": [{"variant": k} for k in mixed_keys[:20]]}).encode()
    record = store.load(json.loads(queues.create(body).body)["id"])
    tsv_v3 = export_text(record, "tsv", ("acmg_v3",)).split("\r\n", 1)[0].split("\t")
    tsv_svc = export_text(record, "tsv", ("svcv4",)).split("\r\n", 1)[0].split("\t")
    assert "mis_prd" not in tsv_v3 and "evidence" in tsv_v3
    assert not V3_COLUMNS & set(tsv_svc) and "mis_prd" in tsv_svc
    vcf_svc = export_text(record, "vcf", ("svcv4",))
    assert "VIP_MIS_PRD=" in vcf_svc
    assert "VIP_EVIDENCE" not in vcf_svc and "VIPQ_POINTS" not in vcf_svc
    assert "VIP_MIS_PRD" not in export_text(record, "vcf", ("acmg_v3",))


def test_the_environment_reaches_the_scorer(tiny_home: Settings):
    """``VIPREDICT_GUIDELINES`` -> Settings -> the loaded Scorer every output asks."""
    settings = get_settings(
        {"VIPREDICT_HOME": str(tiny_home.home), "VIPREDICT_GUIDELINES": "svcv4"}
    )
    scorer = load_scorer(settings, with_priority=False, with_store=False)
    assert scorer.guidelines == ("svcv4",)
