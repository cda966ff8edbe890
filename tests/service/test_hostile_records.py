"""Hostile records against the service (issue 16), on the SYNTHETIC tiny home.

One VCF line that costs a REF length times an ALT count, a file past the variant
limit, characters ``str.splitlines`` takes for line breaks, a misspelt field: each
case asserts the bound holds (the line's named error, the early 413, the variant's
own ``unknown_field``) and that the service still answers ``/readyz`` and a good
request afterwards. ``POST /predict*`` go to the real BentoML app (the session's
``client``, limited to 64 variants); ``POST /queue`` needs an API key, and one process
can start only one BentoML app (its Prometheus registry is global), so queue writes
go through the real :class:`SecurityMiddleware` with a key in front of the real
:class:`QueueService`, as the queue tests build their keyed client. The variants
and scores are made up, no figure is read.
"""

from __future__ import annotations

import dataclasses
import gzip
import json

import pytest
from memory import allocation_peak
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from vipredict.config import Limits, Settings
from vipredict.queue.genes import GeneContext
from vipredict.queue.store import QueueStore
from vipredict.service.predictor import PredictionService
from vipredict.service.queue import QueueService
from vipredict.service.security import SecurityMiddleware, ServingError
from vipredict.variants import parse_variant_key

KEY = "hostile-records-key"
HEADERS = {"X-API-Key": KEY}
#: VIPREDICT_MAX_VARIANTS of the session's app (tests/service/conftest.py) and of the queue.
MAX_VARIANTS = 64
VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


@pytest.fixture(scope="module")
def queue_client(
    prediction_service: PredictionService, tiny_home: Settings, tmp_path_factory
) -> TestClient:
    """``POST /queue`` behind the real middleware with an API key, over the real queue logic
    (the session's scorer, a limit of 64 variants, a queue database of its own)."""
    limits = Limits(max_variants=MAX_VARIANTS)
    prediction = dataclasses.replace(prediction_service, limits=limits)
    db = tmp_path_factory.mktemp("hostile-queue") / "queue.db"
    queues = QueueService(prediction, QueueStore(f"sqlite:///{db}"), GeneContext())

    async def create(request: Request) -> Response:
        return queues.create(await request.body()).response()

    settings = dataclasses.replace(tiny_home, api_keys=frozenset({KEY}), limits=limits)
    app = Starlette(routes=[Route("/queue", create, methods=["POST"])])
    return TestClient(SecurityMiddleware(app, settings=settings), base_url="http://localhost")


def _line(key: str) -> str:
    v = parse_variant_key(key)
    return f"{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\t.\t."


def _bomb(key: str) -> str:
    """A 50 kB REF and 1,000 ALTs at ``key``'s locus: 52 kB of text, ~100 bytes gzipped."""
    v = parse_variant_key(key)
    return f"{v.chrom}\t{v.pos}\t.\t{'A' * 50_000}\t" + ",".join(["C"] * 1_000) + "\t.\t.\t."


def _upload(client: TestClient, text: str, fmt: str = "json"):
    files = {"file": ("in.vcf.gz", gzip.compress(text.encode()))}
    return client.post(f"/predict/vcf?format={fmt}", files=files)


def _still_serves(client: TestClient, key: str) -> None:
    """The hostile request left the service answering probes and a good request."""
    assert client.get("/readyz").status_code == 200
    good = client.post("/predict", json={"variants": [{"variant": key}]})
    assert good.status_code == 200, good.text
    assert good.json()[0]["score"] is not None and good.json()[0]["error"] is None


def test_hostile_one_vcf_line_is_one_named_error(
    prediction_service: PredictionService, judged_keys: list[str]
):
    """In-process ``POST /predict/vcf`` logic (limit 10,000): before the bounds, the line's
    1,000 ALTs each got a 50 kB label and detail (the answer alone was 100 MB).
    Now the line is one ``too_many_alts`` answer and the good record is scored."""
    text = VCF_HEADER + "\n".join([_line(judged_keys[0]), _bomb(judged_keys[1])]) + "\n"
    data = gzip.compress(text.encode())
    (body, _media), peak = allocation_peak(lambda: prediction_service.predict_upload(data, "json"))
    assert peak < 5_000_000, f"{peak / 1e6:.1f} MB"
    answers = json.loads(body)
    assert [a["error"] for a in answers] == [None, "too_many_alts"]
    assert answers[0]["variant"] == judged_keys[0] and answers[0]["score"] is not None
    assert len(answers[1]["input"]) < 80


def test_hostile_one_vcf_line_over_http(client: TestClient, judged_keys: list[str]):
    """``POST /predict/vcf``, JSON and annotated VCF: before the bounds the line counted
    1,000 variants (a 413 past this app's limit of 64, after building them all); now it
    is one record with its named error, and the good record is scored."""
    text = VCF_HEADER + f"{_line(judged_keys[0])}\n{_bomb(judged_keys[1])}\n"
    answered = _upload(client, text)
    assert answered.status_code == 200, answered.text[:300]
    assert [a["error"] for a in answered.json()] == [None, "too_many_alts"]
    annotated = _upload(client, text, "vcf")
    assert annotated.status_code == 200, annotated.text[:300]
    lines = [line for line in annotated.text.split("\n") if line and not line.startswith("#")]
    assert "VIP_SCORE=" in lines[0]
    assert lines[1].endswith("\tVIP_ERR=too_many_alts")  # VIP_ERR alone: no Number=A field
    _still_serves(client, judged_keys[2])


def test_hostile_one_vcf_line_in_a_queue(
    client: TestClient, queue_client: TestClient, judged_keys: list[str]
):
    """``POST /queue`` with ``vcf`` text takes the same reader: one item with the line's
    named error beside the scored one (before: a 413 after building 1,000 records)."""
    text = VCF_HEADER + f"{_line(judged_keys[0])}\n{_bomb(judged_keys[1])}\n"
    queued = queue_client.post("/queue", json={"vcf": text}, headers=HEADERS)
    assert queued.status_code == 200, queued.text[:300]
    items = queued.json()["items"]  # ranked: the scored item first, a queue's "" for no error
    assert [(i["variant"], i["error"] or "") for i in items] == [
        (judged_keys[0], ""),
        (None, "too_many_alts"),
    ]
    _still_serves(client, judged_keys[2])


def test_hostile_variant_count_stops_while_parsing(
    prediction_service: PredictionService, judged_keys: list[str]
):
    """100,000 records against a limit of 100: before, every record was built and then
    counted (a 413 after tens of MB); now reading stops at the 101st variant."""
    limited = dataclasses.replace(prediction_service, limits=Limits(max_variants=100))
    data = (VCF_HEADER + (_line(judged_keys[0]) + "\n") * 100_000).encode()

    def upload() -> ServingError:
        with pytest.raises(ServingError) as refused:
            limited.predict_upload(data, "json")
        return refused.value

    error, peak = allocation_peak(upload)
    assert peak < 3 * len(data), f"{peak / 1e6:.1f} MB for {len(data) / 1e6:.1f} MB of text"
    assert error.status == 413 and "more than 100 variants" in error.message
    assert "VIPREDICT_MAX_VARIANTS=100" in error.message


def test_hostile_variant_count_over_http(
    client: TestClient, queue_client: TestClient, judged_keys: list[str]
):
    """Past the app's limit (64) by ALTs: 13 lines of 5 ALTs are 65 variants, a 413 on
    both routes that read VCF text; the service answers afterwards."""
    v = parse_variant_key(judged_keys[0])
    line = f"{v.chrom}\t{v.pos}\t.\t{v.ref}\tA,C,G,T,AC\t.\t.\t.\n"
    text = VCF_HEADER + line * 13
    refused = _upload(client, text)
    assert refused.status_code == 413 and "more than 64 variants" in refused.json()["error"]
    queued = queue_client.post("/queue", json={"vcf": text}, headers=HEADERS)
    assert (queued.status_code, queued.json()["reason"]) == (413, "limit")
    assert _upload(client, VCF_HEADER + line * 12).status_code == 200  # 60 variants
    _still_serves(client, judged_keys[1])


@pytest.mark.parametrize("breaker", ["\x1c", "\x85", "\u2028", "\r"], ids=ascii)
def test_hostile_line_break_characters_split_no_record(
    client: TestClient, queue_client: TestClient, judged_keys: list[str], breaker: str
):
    """A record holding a character ``str.splitlines`` (or universal newlines) breaks on
    stays one record in every route that reads VCF text."""
    v = parse_variant_key(judged_keys[0])
    record = f"{v.chrom}\t{v.pos}\trs{breaker}1\t{v.ref}\t{v.alt}\t.\t.\tNOTE=a{breaker}b"
    text = VCF_HEADER + record + "\n" + _line(judged_keys[1]) + "\n"
    answered = _upload(client, text)
    assert answered.status_code == 200, answered.text[:300]
    assert [a["variant"] for a in answered.json()] == judged_keys[:2]
    annotated = _upload(client, text, "vcf").text.split("\n")
    assert sum(1 for line in annotated if line and not line.startswith("#")) == 2
    queued = queue_client.post("/queue", json={"vcf": text}, headers=HEADERS)
    assert queued.status_code == 200 and queued.json()["n_items"] == 2
    _still_serves(client, judged_keys[2])


def test_hostile_a_misspelt_field_is_that_variants_own_error(
    client: TestClient, queue_client: TestClient, judged_keys: list[str]
):
    """``POST /predict`` and ``POST /queue``: a name the schema does not declare, at the top
    of a variant, in its ``annotations`` or in its ``frequencies``, is that variant's
    ``unknown_field`` naming it (and the name probably meant); before, it was a 400 for
    the whole request. The other variants are answered."""
    key = judged_keys[0]
    variants = [
        {"variant": key},
        {"varaint": judged_keys[1]},
        {"variant": key, "annotations": {"sift_scor": 0.1, "cadd_phred": 20}},
        {"variant": key, "frequencies": {"gnomADg": {"nfe2": {"af": 0.1}}}},
        {"variant": key, "frequencies": {"gnomADg": {"afr": {"AF": 0.1}}}},
    ]
    hints = ["variant", "annotations.sift_score", "frequencies.gnomADg.nfe", "gnomADg.afr.af"]
    answered = client.post("/predict", json={"variants": variants})
    assert answered.status_code == 200, answered.text[:300]
    answers = answered.json()
    assert answers[0]["error"] is None and answers[0]["score"] is not None
    for answer, hint in zip(answers[1:], hints, strict=True):
        assert answer["error"] == "unknown_field" and answer["score"] is None, answer
        assert "did you mean" in answer["error_detail"] and hint in answer["error_detail"]
    queued = queue_client.post("/queue", json={"variants": variants}, headers=HEADERS)
    assert queued.status_code == 200, queued.text[:300]
    items = queued.json()["items"]
    assert sorted(i["error"] or "" for i in items) == ["", *["unknown_field"] * 4]
    schema = client.get("/docs.json").json()["components"]["schemas"]
    assert schema["VariantIn"]["additionalProperties"] is False  # the contract stays closed
    assert "variant" in schema["VariantIn"]["properties"]
    _still_serves(client, judged_keys[2])


def test_a_misspelt_queue_request_field_still_refuses_the_request(queue_client: TestClient):
    """The request's own fields are its shape, not a variant's: ``POST /queue`` with
    ``varaints`` is a 422 naming it, as before."""
    queued = queue_client.post("/queue", json={"varaints": []}, headers=HEADERS)
    assert (queued.status_code, queued.json()["reason"]) == (422, "invalid_request")


def test_the_queue_client_refuses_writes_without_the_key(queue_client: TestClient):
    """The queue fixture is guarded: a write without the key is refused."""
    assert queue_client.post("/queue", json={"vcf": VCF_HEADER}).status_code in (401, 403)
