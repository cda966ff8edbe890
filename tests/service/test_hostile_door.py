"""Hostile input at the door of the service: what reaches a route, who may read, what it costs.

One test per finding of issue 16 at the request level (keys, Host, uploads, body
bounds, gzip, concurrency, deadlines, metrics labels, answer headers). Each shows
the bound holding, then that the service still answers ``/readyz`` and a good
request. The app is the BentoML service on the SYNTHETIC tiny home (``client``);
a second one is started with API keys where a finding needs them. Work is counted
(bytes handed to zlib, bodies handed to BentoML's parser), never timed.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from apps import started_app
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from typer.testing import CliRunner

from vipredict.config import Limits, Settings
from vipredict.service import bentoml_fixes, security
from vipredict.service.security import SecurityMiddleware

VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
KEYS = "alice:alice-key,plain-key"
ALICE = {"X-API-Key": "alice-key"}
PLAIN = {"X-API-Key": "plain-key"}


def _still_serving(client: TestClient, key: str, headers: dict | None = None) -> None:
    """The service answers its readiness probe and scores a good variant."""
    assert client.get("/readyz").status_code == 200
    response = client.post("/predict", json={"variants": [{"variant": key}]}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()[0]["score"] is not None


@pytest.fixture(scope="module")
def keyed_client(tiny_home: Settings, client: TestClient) -> Iterator[TestClient]:
    """The service started on the tiny home with ``VIPREDICT_API_KEYS`` set, beside ``client``."""
    with started_app(tiny_home, VIPREDICT_API_KEYS=KEYS, VIPREDICT_MAX_VARIANTS="64") as keyed:
        yield keyed


# --------------------------------------------------------------------------- 1. uploads


def test_hostile_url_part_before_the_file_is_never_fetched(
    client: TestClient, judged_keys: list[str], monkeypatch: pytest.MonkeyPatch
):
    """BentoML fetches every ``file`` part that is text and keeps the first: a URL part
    sent before a real file was fetched (the guard looked at the last part only)."""
    fetched: list[str] = []

    async def no_fetch(self: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        fetched.append(str(url))
        raise httpx.ConnectError("no network in tests")

    monkeypatch.setattr(httpx.AsyncClient, "get", no_fetch)
    real = ("x.vcf", (VCF_HEADER + "1\t1\t.\tA\tG\n").encode(), "text/plain")
    url = (None, b"http://127.0.0.1:9/secret", "text/plain")  # a part without a filename
    cases = {
        "url first": [("file", url), ("file", real)],
        "url last": [("file", real), ("file", url)],
        "two files": [("file", real), ("file", real)],
        "no file": [("other", real)],
    }
    for name, parts in cases.items():
        response = client.post("/predict/vcf", files=parts)
        assert response.status_code == 400, (name, response.status_code, response.text)
        assert "file" in response.json()["error"], name
    # Other fields are never fetched: a URL as `format` is only a bad format.
    bad_format = client.post("/predict/vcf", files=[("file", real)], data={"format": url[1]})
    assert bad_format.status_code == 400
    assert fetched == []
    one = client.post("/predict/vcf", files=[("file", real)])
    assert one.status_code == 200 and "VIP_ERR=no_features" in one.text
    _still_serving(client, judged_keys[0])


# --------------------------------------------------------------------------- 2. gzip


class _CountingZlib:
    """``zlib`` as the upload code sees it, counting the bytes it hands to inflaters."""

    error = zlib.error
    MAX_WBITS = zlib.MAX_WBITS

    def __init__(self) -> None:
        self.handled = 0

    def decompressobj(self, *args: Any) -> Any:
        inner, counter = zlib.decompressobj(*args), self

        class Inflater:
            def decompress(self, data: Any, *limit: int) -> bytes:
                counter.handled += len(data)
                return inner.decompress(data, *limit)

            @property
            def unused_data(self) -> bytes:
                counter.handled += len(inner.unused_data)
                return inner.unused_data

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

        return Inflater()


def test_hostile_gzip_members_cost_linear_work_and_are_bounded(
    client: TestClient, judged_keys: list[str], monkeypatch: pytest.MonkeyPatch
):
    """Each member was handed (and copied) the whole rest of the upload: quadratic. Now
    zlib sees each input byte a few times, and a flood of empty members is refused."""
    counting = _CountingZlib()
    monkeypatch.setattr(security, "zlib", counting)
    members = [gzip.compress(b"x" * 4096, mtime=0) for _ in range(3000)]
    data = b"".join(members)
    assert security.gunzip_bounded(data, 50 * 1024 * 1024) == b"x" * 4096 * 3000
    assert counting.handled < 4 * len(data), (counting.handled, len(data))
    monkeypatch.undo()

    empty = gzip.compress(b"", mtime=0) * 20_000  # 400 kB of members inflating to nothing
    body = gzip.compress((VCF_HEADER + "1\t1\t.\tA\tG\n").encode(), mtime=0) + empty
    response = client.post("/predict/vcf", files={"file": ("x.vcf.gz", body)})
    assert response.status_code == 413, response.text
    assert "empty members" in response.json()["error"]
    _still_serving(client, judged_keys[0])


# --------------------------------------------------------------------------- 3. reads, binds, Host


async def _echo_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_hostile_reads_need_a_key_when_keys_are_set(
    keyed_client: TestClient, judged_keys: list[str], tiny_home: Settings
):
    """With keys set, /metrics, the OpenAPI document and the Swagger page were public."""
    keyed = Settings(home=tiny_home.home, data_mirror=None, api_keys=frozenset({"k"}))
    guarded = TestClient(SecurityMiddleware(_echo_app, settings=keyed))
    for path in ("/metrics", "/docs.json", "/", "/schema.json", "/static_content/x.js", "/model"):
        assert guarded.get(path).status_code == 401, path
        assert guarded.get(path, headers={"X-API-Key": "k"}).status_code == 200, path
    for path in ("/healthz", "/livez", "/readyz"):
        assert guarded.get(path).status_code == 200, path
    # The real service with keys: its own routes and BentoML's.
    for path in ("/docs.json", "/", "/model", "/queue/" + "0" * 32):
        assert keyed_client.get(path).status_code == 401, path
    assert keyed_client.get("/docs.json", headers=PLAIN).status_code == 200
    _still_serving(keyed_client, judged_keys[0], ALICE)


def test_hostile_keyless_service_refuses_to_listen_beyond_loopback(
    tmp_path, monkeypatch: pytest.MonkeyPatch, client: TestClient, judged_keys: list[str]
):
    """Without keys every read is open, yet `vipredict serve --host 0.0.0.0`, `bentoml serve`
    (0.0.0.0 by default) and a worker on any address started."""
    from vipredict.cli import app
    from vipredict.service import bento

    monkeypatch.setenv("VIPREDICT_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    monkeypatch.delenv("VIPREDICT_API_KEYS", raising=False)
    monkeypatch.delenv("BENTOML_HOST", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 4, result.output
    assert "VIPREDICT_API_KEYS" in result.output and "serving on" not in result.output

    hook = bento.VariantPredictor.inner.check_ready
    for argv in (["/v/bin/bentoml", "serve", "svc:S"], ["/v/bin/bentoml", "serve", "--host=::"]):
        monkeypatch.setattr("sys.argv", argv)
        with pytest.raises(SystemExit) as stopped:
            hook()
        assert stopped.value.code == 4, argv
    monkeypatch.setattr("sys.argv", ["/v/bin/bentoml", "serve", "svc:S", "--host", "127.0.0.1"])
    with pytest.raises(SystemExit) as stopped:  # loopback passes on to the home check
        hook()
    assert stopped.value.code == 3

    # The worker checks the sockets it really listens on.
    monkeypatch.setattr(bento, "listening_hosts", lambda: ["127.0.0.1", "0.0.0.0"])
    with pytest.raises(RuntimeError, match="VIPREDICT_API_KEYS"):
        bento.VariantPredictor.inner()
    monkeypatch.setenv("VIPREDICT_API_KEYS", "k")
    assert security.exposure_refusal(["0.0.0.0"], bento.configure_runtime_env()) is None
    _still_serving(client, judged_keys[0])


def test_listening_hosts_sees_this_process_sockets():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert "127.0.0.1" in security.listening_hosts()


def test_hostile_dns_rebinding_host_is_refused(
    asgi_app: Any, client: TestClient, judged_keys: list[str]
):
    """A page on evil.example rebound to 127.0.0.1 reached the keyless loopback service."""
    local = TestClient(asgi_app, base_url="http://127.0.0.1:3000")
    for host in ("evil.example", "evil.example:3000", "127.0.0.1.evil.example", "localhost.:1"):
        response = local.get("/model", headers={"Host": host})
        assert response.status_code == 421, host
        assert response.headers["x-content-type-options"] == "nosniff"
    for host in ("127.0.0.1:3000", "localhost", "LOCALHOST:3000", "[::1]:3000"):
        assert local.get("/model", headers={"Host": host}).status_code == 200, host
    _still_serving(local, judged_keys[0])
    _still_serving(client, judged_keys[0])


def test_hostile_unique_paths_add_no_metric_series(client: TestClient, judged_keys: list[str]):
    """BentoML labelled metrics with the raw path, before the key check: every queue id
    asked for was listed by /metrics, and each unique path grew the multiprocess files
    under VIPREDICT_HOME. Labels are route templates now, so the series stay few."""
    from prometheus_client import REGISTRY

    def endpoints() -> set[str]:
        return {
            sample.labels["endpoint"]
            for metric in REGISTRY.collect()
            if metric.name.endswith("request")  # the *_request_total counters
            for sample in metric.samples
            if "endpoint" in sample.labels
        }

    ids = [hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(40)]
    for queue_id in ids:
        client.get(f"/queue/{queue_id}")
        client.get(f"/no/such/{queue_id}")
    seen = endpoints()
    assert not any(queue_id in label for label in seen for queue_id in ids)
    assert {"/queue/{queue_id}", bentoml_fixes.UNMATCHED} <= seen
    before = len(seen)
    for queue_id in ids:
        client.get(f"/queue/{queue_id}x")
    assert len(endpoints()) == before
    _still_serving(client, judged_keys[0])


# --------------------------------------------------------------------------- 4. bodies, load, time


def test_hostile_json_floods_are_refused_before_any_parser(
    client: TestClient, judged_keys: list[str], monkeypatch: pytest.MonkeyPatch
):
    """1.4 MiB of ``{}`` took 2.4 s and 260 MB of BentoML's pydantic parse on the event loop
    before the count check. Now the body is bounded per route and its objects counted as
    bytes: BentoML's parser never sees such a body."""
    from _bentoml_impl.serde import JSONSerde

    parsed: list[int] = []
    original = JSONSerde.deserialize_model

    def spy(self: Any, payload: Any, cls: Any) -> Any:
        parsed.append(sum(len(part) for part in payload.data))
        return original(self, payload, cls)

    monkeypatch.setattr(JSONSerde, "deserialize_model", spy)
    headers = {"content-type": "application/json"}
    over_cap = b'{"variants":[' + b",".join([b"{}"] * 100_000) + b"]}"  # 300 kB
    under_cap = b'{"variants":[' + b",".join([b"{}"] * 20_000) + b"]}"  # 60 kB
    nested = b'{"variants":[{"annotations":{"gene":[' + b",".join([b"[]"] * 20_000) + b"]}}]}"
    for body in (over_cap, under_cap, nested):
        response = client.post("/predict", content=body, headers=headers)
        assert response.status_code == 413, response.text
    assert parsed == []
    deep = b'{"variants":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    assert client.post("/predict", content=deep, headers=headers).status_code == 413
    _still_serving(client, judged_keys[0])
    assert parsed  # the good request went through the parser


def test_hostile_concurrency_past_the_cap_is_503(client: TestClient, judged_keys: list[str]):
    """No max_concurrency was set, and BentoML's answer past it is 429 (the client's fault)."""
    from bentoml._internal.server.http.traffic import MaxConcurrencyMiddleware

    from vipredict.service.bento import MAX_CONCURRENCY, VariantPredictor

    assert VariantPredictor.config["traffic"]["max_concurrency"] == MAX_CONCURRENCY
    assert bentoml_fixes.overload_answers_503()
    release = asyncio.Event()

    async def held(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await _echo_app(scope, receive, send)

    async def two_at_once() -> list[httpx.Response]:
        app = MaxConcurrencyMiddleware(held, max_concurrency=1)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            first = asyncio.create_task(http.get("/predict"))
            await asyncio.sleep(0.01)
            second = await http.get("/predict")
            release.set()
            return [await first, second]

    first, second = asyncio.run(two_at_once())
    assert (first.status_code, second.status_code) == (200, 503)
    assert second.headers["x-content-type-options"] == "nosniff"
    _still_serving(client, judged_keys[0])


def test_hostile_large_bodies_in_flight_are_bounded(tiny_home: Settings):
    """Concurrent 50 MB bodies multiplied memory: at most MAX_LARGE_BODIES are held."""
    release = asyncio.Event()

    async def held(scope: Any, receive: Any, send: Any) -> None:
        if scope["method"] == "POST":
            await receive()
            await release.wait()
        await _echo_app(scope, receive, send)

    settings = Settings(home=tiny_home.home, data_mirror=None, api_keys=frozenset({"k"}))
    app = SecurityMiddleware(held, settings=settings)
    body = b'"' + b"x" * security.LARGE_BODY_BYTES + b'"'  # a JSON string, no variants

    async def many() -> list[int]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"X-API-Key": "k"}
        ) as http:
            tasks = [
                asyncio.create_task(http.post("/queue", content=body))
                for _ in range(security.MAX_LARGE_BODIES)
            ]
            await asyncio.sleep(0.05)
            extra = await http.post("/queue", content=body)
            small = await http.get("/readyz")
            release.set()
            return [extra.status_code, small.status_code] + [(await t).status_code for t in tasks]

    extra, small, *held_ones = asyncio.run(many())
    assert (extra, small) == (503, 200)
    assert app.large_bodies == 0  # every slot given back
    assert all(status != 503 for status in held_ones)


def test_hostile_timed_out_work_stops(asgi_app: Any, client: TestClient, judged_keys: list[str]):
    """BentoML answered 504 at the timeout but the thread kept inflating and scoring. The
    request's deadline now reaches the thread, and its loops stop there."""
    from vipredict import deadline

    members = gzip.compress(b"1\t1\t.\tA\tG\n" * 500, mtime=0) * 50
    upload = gzip.compress(VCF_HEADER.encode(), mtime=0) + members
    expired = TestClient(SecurityMiddleware(asgi_app, timeout_s=0.0))
    response = expired.post("/predict/vcf?format=json", files={"file": ("x.vcf.gz", upload)})
    assert response.status_code == 504, response.text
    assert "deadline" in response.json()["error"]

    steps: list[int] = []

    def slow_route(request: Any) -> PlainTextResponse:
        try:
            for step in range(10_000):
                deadline.check()
                steps.append(step)
                time.sleep(0.001)
        except deadline.DeadlineExceeded as error:
            return PlainTextResponse(error.message, status_code=error.status)
        return PlainTextResponse("finished")

    routes = [Route("/predict", slow_route, methods=["POST"])]
    app = SecurityMiddleware(Starlette(routes=routes), timeout_s=0.05)
    assert TestClient(app).post("/predict", content=b"{}").status_code == 504
    assert 0 < len(steps) < 10_000
    assert deadline.remaining() is None  # nothing leaks out of the request
    _still_serving(client, judged_keys[0])


# --------------------------------------------------------------------------- 5. curators


def test_hostile_decisions_name_the_keys_curator(keyed_client: TestClient, judged_keys: list[str]):
    """The curator was whatever the body said: any key holder could decide as anyone."""
    created = keyed_client.post(
        "/queue", json={"variants": [{"variant": k} for k in judged_keys[:3]]}, headers=ALICE
    )
    assert created.status_code == 200, created.text
    queue_id, variant = created.json()["id"], created.json()["items"][0]["variant"]
    url = f"/queue/{queue_id}/decisions"
    forged = keyed_client.post(
        url, json={"variant": variant, "decision": "accept", "curator": "bob"}, headers=ALICE
    )
    assert (forged.status_code, forged.json()["reason"]) == (422, "curator_mismatch")
    for headers, expected in (
        (ALICE, "alice"),
        (PLAIN, "key-" + hashlib.sha256(b"plain-key").hexdigest()[:8]),
    ):
        decided = keyed_client.post(
            url, json={"variant": variant, "decision": "reject"}, headers=headers
        )
        assert decided.status_code == 200, decided.text
        shown = keyed_client.get(f"{url.rsplit('/', 1)[0]}?limit=5", headers=headers).json()
        item = next(i for i in shown["items"] if i["variant"] == variant)
        assert item["curator"] == expected
    same = keyed_client.post(
        url, json={"variant": variant, "decision": "defer", "curator": "alice"}, headers=ALICE
    )
    assert same.status_code == 200
    _still_serving(keyed_client, judged_keys[0], ALICE)


# --------------------------------------------------------------------------- 6. headers


def test_hostile_every_answer_carries_nosniff_and_a_csp(
    client: TestClient, keyed_client: TestClient, judged_keys: list[str]
):
    """No answer said ``nosniff`` or had a Content-Security-Policy, errors included."""
    answers = {
        "ready": client.get("/readyz"),
        "card": client.get("/model"),
        "not found": client.get("/no/such/route"),
        "bad json": client.post("/predict", content=b"{not json"),
        "bad upload": client.post("/predict/vcf", files={"file": ("x.vcf", b"")}),
        "too large": client.request("GET", "/model", content=b"x" * 70_000),
        "no key": keyed_client.get("/model"),
        "docs": keyed_client.get("/docs.json", headers=PLAIN),
        "scored": client.post("/predict", json={"variants": [{"variant": judged_keys[0]}]}),
    }
    for name, response in answers.items():
        assert response.headers.get("x-content-type-options") == "nosniff", name
        assert response.headers.get("content-security-policy") == security.CSP_DATA, name
    assert answers["no key"].status_code == 401 and answers["too large"].status_code == 413
    swagger = keyed_client.get("/", headers=PLAIN)
    assert swagger.headers["content-security-policy"] == security.CSP_UI
    audit_policy = dict(security.security_headers("/audit", b"text/html; charset=utf-8"))
    assert audit_policy[b"content-security-policy"] == security.CSP_AUDIT.encode()
    # The audit page needs exactly what its policy allows: inline styles, data: images.
    from vipredict.audit import report

    assert "<style>" in report._TEMPLATE and "<script" not in report._TEMPLATE
    assert "data:image/png;base64," in report._data_uri.__code__.co_consts
    _still_serving(client, judged_keys[0])


def test_body_caps_follow_the_settings():
    """``/predict`` takes what VIPREDICT_MAX_VARIANTS variants need (~3 MB for 10,000)."""
    limits = Limits(max_variants=10_000)
    cap, setting = security.body_cap("/predict", limits)
    assert 3_000_000 <= cap <= 3_200_000 and "VIPREDICT_MAX_VARIANTS=10000" in setting
    assert security.body_cap("/queue", limits)[0] == limits.max_bytes
    assert security.body_cap("/queue/q/decisions", limits)[0] == security.SMALL_BODY_BYTES
