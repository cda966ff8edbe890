"""The queue endpoints' logic in-process (bad ids, bad decisions, limits) and the write guard.

Queues are built from the SYNTHETIC tiny home's variants; the service objects are the
real ones (:class:`QueueService` over :class:`PredictionService`), without BentoML.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from vipredict.config import Limits, Settings
from vipredict.model.scorer import Scorer
from vipredict.queue.genes import GeneContext
from vipredict.queue.ranking import ITEM_COLUMNS
from vipredict.queue.store import DECISION_COLUMNS, QUEUES, QueueStore
from vipredict.service.predictor import PredictionService
from vipredict.service.queue import QueueService
from vipredict.service.security import SecurityMiddleware
from vipredict.variants import parse_variant_key

VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


@pytest.fixture(scope="module")
def prediction(scorer: Scorer) -> PredictionService:
    """The synthetic home's scorer behind a service limited to 50 variants a request.

    The queue reads only the scorer and the limits of the prediction service, so the
    session's scorer is reused (no model card, no cache warm-up).
    """
    return PredictionService(scorer, card={}, limits=Limits(max_variants=50))


@pytest.fixture
def queues(prediction: PredictionService, tmp_path: Path) -> QueueService:
    return QueueService(prediction, QueueStore(f"sqlite:///{tmp_path / 'q.db'}"), GeneContext())


@pytest.fixture(scope="module")
def refused(
    prediction: PredictionService, sample_keys: list[str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[QueueService, str]:
    """One synthetic queue shared by the refusal tests: a refusal never writes anything."""
    db = tmp_path_factory.mktemp("refusals") / "q.db"
    service = QueueService(prediction, QueueStore(f"sqlite:///{db}"), GeneContext())
    return service, _created(service, sample_keys[:3])["id"]


def _body(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def _created(queues: QueueService, keys: list[str]) -> dict:
    answer = queues.create(_body({"variants": [{"variant": k} for k in keys], "name": "api"}))
    assert answer.status == 200, answer.body
    return json.loads(answer.body)


def test_create_ranks_and_stores_every_variant(queues: QueueService, sample_keys: list[str]):
    """Synthetic keys: every input becomes an item, failures ranked after the scored ones."""
    created = _created(queues, [*sample_keys[:20], "GRCh37:1:1:A:AT"])
    assert created["n_items"] == 21 and created["name"] == "api"
    errors = {i["input"]: i["error"] for i in created["items"]}
    assert errors["GRCh37:1:1:A:AT"] == "not_snv"
    failed = [bool(i["error"]) for i in created["items"]]
    assert failed == sorted(failed)  # scored items first, every failure after them
    assert list(created["items"][0]) == list(ITEM_COLUMNS)
    shown = json.loads(queues.show(created["id"]).body)
    assert [i["variant"] for i in shown["items"]] == [i["variant"] for i in created["items"]]
    assert list(shown["items"][0]) == [*ITEM_COLUMNS, *DECISION_COLUMNS]
    assert all(i["decision"] is None for i in shown["items"])


def test_create_from_vcf_text(queues: QueueService, ranked: pd.DataFrame):
    """A synthetic variant as VCF text (chr prefix, a second ALT that is not in the store)."""
    v = parse_variant_key(ranked.loc[ranked["error"] == "", "variant"].iloc[3])
    other = next(base for base in "ACGT" if base not in (v.ref, v.alt))
    vcf = VCF_HEADER + f"chr{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt},{other}\t.\t.\t.\n"
    answer = queues.create(_body({"vcf": vcf, "by": "evidence"}))
    assert answer.status == 200, answer.body
    items = json.loads(answer.body)["items"]
    assert {i["variant"] for i in items if not i["error"]} == {v.key}
    assert len(items) == 2 and items[0]["reason"].startswith("#1 by evidence: ")


def test_decision_is_acknowledged_and_shown(queues: QueueService, sample_keys: list[str]):
    """Synthetic queue: a decision is acknowledged with its time and shown with its item."""
    created = _created(queues, sample_keys[:5])
    answer = queues.decide(
        created["id"],
        _body({"variant": sample_keys[1], "decision": "accept", "note": "fine"}),
        "c1",  # the API key's curator: the body names none
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
        ({"decision": "accept", "curator": "c2"}, 422, "curator_mismatch"),
        ({"decision": "accept", "curator": "c1", "extra": 1}, 422, "invalid_request"),
        (
            {"decision": "accept", "curator": "c1", "variant": "GRCh37:1:1:A:G"},
            404,
            "unknown_variant",
        ),
    ],
)
def test_bad_decisions_get_named_refusals(
    refused: tuple[QueueService, str],
    sample_keys: list[str],
    payload: dict,
    status: int,
    reason: str,
):
    """Synthetic queue: each bad decision by curator c1 is refused with its status and
    reason, unwritten."""
    queues, queue_id = refused
    answer = queues.decide(queue_id, _body({"variant": sample_keys[0], **payload}), "c1")
    assert (answer.status, json.loads(answer.body)["reason"]) == (status, reason)
    assert queues.store.history(queue_id).empty


def test_a_decision_without_a_keys_curator_is_refused(
    refused: tuple[QueueService, str], sample_keys: list[str]
):
    """Only a key names a curator: a body's own ``curator`` is never enough."""
    queues, queue_id = refused
    body = _body({"variant": sample_keys[0], "decision": "accept", "curator": "c1"})
    answer = queues.decide(queue_id, body, None)
    assert (answer.status, json.loads(answer.body)["reason"]) == (422, "missing_curator")
    assert queues.store.history(queue_id).empty


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_unreadable_decision_bodies(refused: tuple[QueueService, str], raw: bytes):
    queues, queue_id = refused
    answer = queues.decide(queue_id, raw, "c1")
    assert answer.status == 422
    assert json.loads(answer.body)["reason"] in ("invalid_request", "invalid_decision")
    assert queues.store.history(queue_id).empty


@pytest.mark.parametrize("queue_id", ["x", "0" * 32, "../../etc/passwd"])
def test_bad_queue_ids_are_404(refused: tuple[QueueService, str], queue_id: str):
    queues, _ = refused
    for answer in (
        queues.show(queue_id),
        queues.decide(queue_id, _body({"variant": "GRCh37:1:1:A:G", "decision": "accept"}), "c"),
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
def test_bad_queue_requests(
    refused: tuple[QueueService, str], payload: dict, status: int, reason: str
):
    queues, _ = refused
    answer = queues.create(_body(payload))
    assert (answer.status, json.loads(answer.body)["reason"]) == (status, reason)
    with queues.store.engine.connect() as connection:  # still only the shared queue
        assert connection.execute(sa.select(sa.func.count()).select_from(QUEUES)).scalar() == 1


@pytest.mark.parametrize(("offset", "limit"), [("-1", "5"), ("0", "lots")])
def test_bad_pages(refused: tuple[QueueService, str], offset: str, limit: str):
    queues, queue_id = refused
    answer = queues.show(queue_id, offset, limit)
    assert (answer.status, json.loads(answer.body)["reason"]) == (422, "invalid_page")


def _guarded(keys: frozenset[str], limits: Limits | None = None) -> TestClient:
    """A stub app behind the real middleware, its keys and limits read from the settings."""

    async def ok(request):
        return PlainTextResponse("ok")

    routes = [
        Route("/queue", ok, methods=["POST"]),
        Route("/queue/{q}", ok),
        Route("/queue/{q}/decisions", ok, methods=["POST"]),
        Route("/predict", ok, methods=["POST"]),
    ]
    settings = Settings(
        home=Path("/nonexistent"), data_mirror=None, api_keys=keys, limits=limits or Limits()
    )
    return TestClient(SecurityMiddleware(Starlette(routes=routes), settings=settings))


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


def test_oversized_queue_bodies_are_refused_before_the_queue_sees_them():
    client = _guarded(frozenset({"k1"}), Limits(max_bytes=100))
    response = client.post("/queue", content=b"x" * 101, headers={"X-API-Key": "k1"})
    assert response.status_code == 413
    assert "VIPREDICT_MAX_BYTES=100" in response.json()["error"]
    at_limit = b'"' + b"x" * 98 + b'"'  # JSON (not a queue request: the route stands in)
    assert client.post("/queue", content=at_limit, headers={"X-API-Key": "k1"}).status_code == 200
