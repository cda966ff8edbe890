"""The queue endpoints' logic in-process (bad ids, bad decisions, limits) and the write guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from vipredict.queue.api import QueueService
from vipredict.queue.genes import GeneContext
from vipredict.queue.store import QueueStore
from vipredict.serving import Limits, PredictionService, SecurityMiddleware
from vipredict.variants import parse_variant_key

VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


@pytest.fixture(scope="module")
def prediction(trained_home) -> PredictionService:
    return PredictionService.load(trained_home, precompute=False, limits=Limits(max_variants=50))


@pytest.fixture
def queues(prediction: PredictionService, tmp_path: Path) -> QueueService:
    return QueueService(prediction, QueueStore(f"sqlite:///{tmp_path / 'q.db'}"), GeneContext())


def _body(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def _created(queues: QueueService, keys: list[str]) -> dict:
    answer = queues.create(_body({"variants": [{"variant": k} for k in keys], "name": "api"}))
    assert answer.status == 200, answer.body
    return json.loads(answer.body)


def test_create_ranks_and_stores_every_variant(queues: QueueService, sample_keys: list[str]):
    created = _created(queues, [*sample_keys[:20], "GRCh37:1:1:A:AT"])
    assert created["n_items"] == 21 and created["name"] == "api"
    errors = {i["input"]: i["error"] for i in created["items"]}
    assert errors["GRCh37:1:1:A:AT"] == "not_snv"
    failed = [bool(i["error"]) for i in created["items"]]
    assert failed == sorted(failed)  # scored items first, every failure after them
    shown = json.loads(queues.show(created["id"]).body)
    assert [i["variant"] for i in shown["items"]] == [i["variant"] for i in created["items"]]
    assert all(i["decision"] is None for i in shown["items"])


def test_create_from_vcf_text(queues: QueueService, ranked):
    v = parse_variant_key(ranked.loc[ranked["error"] == "", "variant"].iloc[3])
    vcf = VCF_HEADER + f"chr{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt},A\t.\t.\t.\n"
    answer = queues.create(_body({"vcf": vcf, "by": "evidence"}))
    assert answer.status == 200, answer.body
    items = json.loads(answer.body)["items"]
    assert {i["variant"] for i in items if not i["error"]} == {v.key}
    assert items[0]["reason"].startswith("#1 by evidence: ")


def test_decision_is_acknowledged_and_shown(queues: QueueService, sample_keys: list[str]):
    created = _created(queues, sample_keys[:5])
    answer = queues.decide(
        created["id"],
        _body({"variant": sample_keys[1], "decision": "accept", "curator": "c1", "note": "fine"}),
    )
    assert answer.status == 200
    ack = json.loads(answer.body)
    assert ack["acknowledged"] and ack["decision"] == "accept" and ack["decided_at"]
    items = json.loads(queues.show(created["id"]).body)["items"]
    decided = next(i for i in items if i["variant"] == sample_keys[1])
    assert (decided["decision"], decided["curator"], decided["note"]) == ("accept", "c1", "fine")


@pytest.mark.parametrize(
    ("payload", "status", "reason"),
    [
        ({"decision": "maybe", "curator": "c1"}, 422, "invalid_decision"),
        ({"decision": "accept"}, 422, "missing_curator"),
        ({"decision": "accept", "curator": "c1", "extra": 1}, 422, "invalid_request"),
        (
            {"decision": "accept", "curator": "c1", "variant": "GRCh37:1:1:A:G"},
            404,
            "unknown_variant",
        ),
    ],
)
def test_bad_decisions_get_named_refusals(
    queues: QueueService, sample_keys: list[str], payload: dict, status: int, reason: str
):
    created = _created(queues, sample_keys[:3])
    answer = queues.decide(created["id"], _body({"variant": sample_keys[0], **payload}))
    assert (answer.status, json.loads(answer.body)["reason"]) == (status, reason)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_unreadable_decision_bodies(queues: QueueService, sample_keys: list[str], raw: bytes):
    created = _created(queues, sample_keys[:3])
    answer = queues.decide(created["id"], raw)
    assert answer.status == 422
    assert json.loads(answer.body)["reason"] in ("invalid_request", "invalid_decision")


@pytest.mark.parametrize("queue_id", ["x", "0" * 32, "../../etc/passwd"])
def test_bad_queue_ids_are_404(queues: QueueService, queue_id: str):
    for answer in (
        queues.show(queue_id),
        queues.decide(
            queue_id, _body({"variant": "GRCh37:1:1:A:G", "decision": "accept", "curator": "c"})
        ),
    ):
        assert answer.status == 404
        assert json.loads(answer.body)["reason"] == "unknown_queue"


@pytest.mark.parametrize(
    ("payload", "status", "reason"),
    [
        ({}, 422, "invalid_request"),
        ({"variants": [], "vcf": "x"}, 422, "invalid_request"),
        ({"variants": []}, 422, "invalid_request"),
        ({"variants": [{"variant": "GRCh37:1:1:A:G"}], "by": "alpha"}, 422, "invalid_by"),
        ({"variants": [{"variant": "GRCh37:1:1:A:G"}], "groups": ["xx"]}, 422, "invalid_group"),
        ({"variants": [{"variant": "GRCh37:1:1:A:G"}] * 51}, 413, "limit"),
        ({"vcf": "##reference=hg18\n1\t5\t.\tA\tG\n", "build": "hg18"}, 422, "unknown_build"),
    ],
)
def test_bad_queue_requests(queues: QueueService, payload: dict, status: int, reason: str):
    answer = queues.create(_body(payload))
    assert (answer.status, json.loads(answer.body)["reason"]) == (status, reason)


@pytest.mark.parametrize(("offset", "limit"), [("-1", "5"), ("0", "lots")])
def test_bad_pages(queues: QueueService, sample_keys: list[str], offset: str, limit: str):
    created = _created(queues, sample_keys[:3])
    answer = queues.show(created["id"], offset, limit)
    assert (answer.status, json.loads(answer.body)["reason"]) == (422, "invalid_page")


def _guarded(keys: frozenset[str]) -> TestClient:
    async def ok(request):
        return PlainTextResponse("ok")

    routes = [
        Route("/queue", ok, methods=["POST"]),
        Route("/queue/{q}", ok),
        Route("/queue/{q}/decisions", ok, methods=["POST"]),
        Route("/predict", ok, methods=["POST"]),
    ]
    return TestClient(SecurityMiddleware(Starlette(routes=routes), keys=keys))


def test_writes_are_refused_without_configured_keys():
    client = _guarded(frozenset())
    for path in ("/queue", "/queue/abc/decisions"):
        response = client.post(path, json={})
        assert response.status_code == 403
        assert "VIPREDICT_API_KEYS" in response.json()["error"]
    assert client.get("/queue/abc").status_code == 200
    assert client.post("/predict", json={}).status_code == 200


def test_writes_need_a_valid_key_when_keys_are_set():
    client = _guarded(frozenset({"k1"}))
    assert client.post("/queue/abc/decisions", json={}).status_code == 401
    assert (
        client.post("/queue/abc/decisions", json={}, headers={"X-API-Key": "wrong"}).status_code
        == 401
    )
    assert (
        client.post("/queue/abc/decisions", json={}, headers={"X-API-Key": "k1"}).status_code == 200
    )
