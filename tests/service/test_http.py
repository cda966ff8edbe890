"""The BentoML app through ``VariantPredictor.to_asgi()`` on the SYNTHETIC tiny home:
routes, security, bad input, uploads, the TSV and VCF outputs, OpenAPI fuzzing.

The tiny home's variants and scores are made up; these tests check what the HTTP
layer does with them (status codes, per-variant errors, formats), not a figure.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from vipredict.config import Limits, Settings
from vipredict.jobs.annotate import annotate_text
from vipredict.jobs.predict import predict_file, results_tsv
from vipredict.model.scorer import RESULT_COLUMNS
from vipredict.service.predictor import PredictionService
from vipredict.service.security import SecurityMiddleware
from vipredict.variants import parse_variant_key

VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def _vcf_line(key: str, alt: str | None = None, ref: str | None = None) -> str:
    v = parse_variant_key(key)
    return f"{v.chrom}\t{v.pos}\t.\t{ref or v.ref}\t{alt or v.alt}\t.\t.\t.\n"


def test_health_model_and_docs(client: TestClient):
    """Probes answer; the card is the synthetic champions' with the whole store cached."""
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    # /metrics needs the Prometheus multiprocess setup of `bentoml serve`: checked in
    # the integration test, not through to_asgi().
    card = client.get("/model").json()
    assert card["models"][0]["name"] == "vipredict-noaf"
    assert card["cache"]["scored"] == card["cache"]["store"] == card["feature_store"]["n_variants"]
    assert card["cache"]["store"] > 0
    paths = client.get("/docs.json").json()["paths"]
    assert {"/predict", "/predict/vcf", "/model"} <= set(paths)


def test_predict_answers_in_order(client: TestClient, judged_keys: list[str]):
    keys = judged_keys[:20]
    response = client.post("/predict", json={"variants": [{"variant": k} for k in keys]})
    assert response.status_code == 200
    answers = response.json()
    assert [r["variant"] for r in answers] == [r["input"] for r in answers] == keys
    assert all(r["score"] is not None and r["error"] is None for r in answers)


@pytest.mark.parametrize(
    "fmt,media",
    [("vcf", "text/plain"), ("tsv", "text/tab-separated"), ("json", "application/json")],
)
def test_predict_vcf_formats(client: TestClient, judged_keys: list[str], fmt: str, media: str):
    key = judged_keys[1]
    vcf = VCF_HEADER + _vcf_line(key)
    response = client.post(
        f"/predict/vcf?format={fmt}", files={"file": ("in.vcf.gz", gzip.compress(vcf.encode()))}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    if fmt == "json":
        assert response.json()[0]["variant"] == key
    elif fmt == "vcf":
        assert "VIP_SCORE=" in response.text
    else:
        assert key in response.text


def _mixed_upload(judged: list[str], unjudged: dict[str, list[str]]) -> str:
    """A synthetic VCF with scored, stored-but-unjudged, mismatched and broken records."""
    v = parse_variant_key(judged[2])
    wrong_ref = next(b for b in "ACGT" if b not in (v.ref, v.alt))
    return (
        "##fileformat=VCFv4.2\n##reference=GRCh37\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        + _vcf_line(judged[0])
        + _vcf_line(judged[1], alt=f"{parse_variant_key(judged[1]).alt},T")
        + _vcf_line(judged[2], ref=wrong_ref)
        + _vcf_line(unjudged["no_features"][0])
        + _vcf_line(unjudged["insufficient_annotation"][0])
        + _vcf_line(judged[3], alt="ACGT")
        + "1\t100\n"
        + f"chr{v.chrom}\t{v.pos}\trs9\t{v.ref}\t{v.alt}\t50\tPASS\tDP=3\n"
    )


def test_tsv_upload_has_the_result_columns_of_vipredict_predict(
    client: TestClient,
    prediction_service: PredictionService,
    judged_keys: list[str],
    unjudged_keys: dict[str, list[str]],
    tmp_path: Path,
):
    """``?format=tsv`` has exactly RESULT_COLUMNS, and the rows ``vipredict predict`` writes
    for the same (synthetic) VCF."""
    text = _mixed_upload(judged_keys, unjudged_keys)
    response = client.post("/predict/vcf?format=tsv", files={"file": ("in.vcf", text.encode())})
    assert response.status_code == 200, response.text
    assert tuple(response.text.split("\n", 1)[0].split("\t")) == RESULT_COLUMNS
    path = tmp_path / "in.vcf"
    path.write_text(text)
    cli = results_tsv(predict_file(prediction_service.scorer, path, "vcf"))
    assert response.text == cli
    table = pd.read_csv(io.StringIO(response.text), sep="\t", dtype=str, keep_default_na=False)
    assert set(table["error"]) >= {
        "",
        "not_snv",
        "ref_mismatch",
        "no_features",
        "insufficient_annotation",
        "malformed_record",
    }


def test_vcf_upload_is_written_by_the_annotate_writer(
    client: TestClient,
    prediction_service: PredictionService,
    judged_keys: list[str],
    unjudged_keys: dict[str, list[str]],
):
    """``?format=vcf`` (plain or gzip) is exactly ``annotate_text`` of the synthetic upload."""
    text = _mixed_upload(judged_keys, unjudged_keys)
    expected = annotate_text(text, prediction_service.store, prediction_service.scorer, "GRCh37")
    assert expected.count("VIP_ERR=") == text.count("\n") - 3  # every body line annotated
    for upload in (text.encode(), gzip.compress(text.encode())):
        response = client.post("/predict/vcf?format=vcf", files={"file": ("in.vcf", upload)})
        assert response.status_code == 200, response.text
        assert response.text == expected


def _bad_entries(keys: list[str], unjudged: dict[str, list[str]]) -> dict[str, tuple[dict, str]]:
    """Named request entries and the per-variant error each must get ("" for none)."""
    v = parse_variant_key(keys[0])
    wrong_ref = next(b for b in "ACGT" if b not in (v.ref, v.alt))
    parts = {"build": "GRCh37", "chrom": v.chrom, "pos": v.pos}
    return {
        "not a variant": ({"variant": "not a variant"}, "malformed_record"),
        "ref mismatch": (
            {"variant": f"GRCh37:{v.chrom}:{v.pos}:{wrong_ref}:{v.alt}"},
            "ref_mismatch",
        ),
        "unknown contig": ({"variant": "GRCh37:chrUn_gl000220:100:A:G"}, "unknown_contig"),
        "unknown build": ({"variant": "hg18:1:100:A:G"}, "unknown_build"),
        "two alts": ({"variant": f"GRCh37:{v.chrom}:{v.pos}:{v.ref}:{v.alt},T"}, "multi_allelic"),
        "insertion": ({"variant": f"GRCh37:{v.chrom}:{v.pos}:{v.ref}:{v.alt}TT"}, "not_snv"),
        "deletion": ({"variant": f"GRCh37:{v.chrom}:{v.pos}:{v.ref}CA:{v.ref}"}, "not_snv"),
        "lower case key": ({"variant": keys[0].lower()}, ""),
        "chr prefix": ({"variant": keys[0].replace(f":{v.chrom}:", f":chr{v.chrom}:")}, ""),
        "other build": ({"variant": "GRCh38:1:1:A:G"}, "no_features"),
        "stored, no scores": ({"variant": unjudged["no_features"][0]}, "no_features"),
        "stored, thin": (
            {"variant": unjudged["insufficient_annotation"][0]},
            "insufficient_annotation",
        ),
        "parts missing": ({"chrom": v.chrom, "pos": v.pos}, "malformed_record"),
        "key and parts": ({"variant": keys[0], "chrom": "1"}, "malformed_record"),
        "negative pos": ({**parts, "pos": -5, "ref": "A", "alt": "G"}, "malformed_record"),
        "text pos": ({**parts, "pos": "12x", "ref": "A", "alt": "G"}, "malformed_record"),
        "ref is alt": ({**parts, "ref": v.ref, "alt": v.ref}, "malformed_record"),
        "not a base": ({**parts, "ref": v.ref, "alt": "Z"}, "malformed_record"),
        "loose parts": (
            {
                "build": "b37",
                "chrom": int(v.chrom),
                "pos": v.pos,
                "ref": v.ref.lower(),
                "alt": v.alt.lower(),
            },
            "",
        ),
    }


def test_bad_variants_get_named_errors_and_valid_ones_are_answered(
    client: TestClient, judged_keys: list[str], unjudged_keys: dict[str, list[str]]
):
    """One request, each bad synthetic entry between two good ones: every entry gets its own
    answer (its named error, or its score), and every good one is scored."""
    cases = _bad_entries(judged_keys, unjudged_keys)
    valid = {"variant": judged_keys[5]}
    entries = [valid]
    for entry, _ in cases.values():
        entries += [entry, valid]
    response = client.post("/predict", json={"variants": entries})
    assert response.status_code == 200, response.text
    answers = response.json()
    assert len(answers) == len(entries)
    good, bad = answers[0::2], answers[1::2]
    assert all(a["error"] is None and a["score"] is not None for a in good)
    assert all(a["variant"] == judged_keys[5] for a in good)
    got = dict(zip(cases, bad, strict=True))
    assert {name: a["error"] or "" for name, a in got.items()} == {
        name: expected for name, (_, expected) in cases.items()
    }
    for name, answer in got.items():
        if answer["error"] is None:
            assert answer["score"] is not None, name
        else:
            assert answer["score"] is None and answer["error_detail"], name
            assert answer["evidence"] == "none" and answer["next_level"] is None, name
    for name in ("lower case key", "chr prefix", "loose parts"):
        assert got[name]["variant"] == judged_keys[0]
    # A record with a key keeps it; one that never parsed has none.
    assert got["ref mismatch"]["variant"] == cases["ref mismatch"][0]["variant"]
    assert (
        f"reference at this locus is {judged_keys[0].split(':')[3]}"
        in (got["ref mismatch"]["error_detail"])
    )
    assert got["stored, no scores"]["variant"] == unjudged_keys["no_features"][0]
    assert got["other build"]["variant"] == "GRCh38:1:1:A:G"
    assert got["insertion"]["variant"] is None and got["not a variant"]["variant"] is None


@pytest.mark.parametrize(
    "body,status",
    [
        (b"", 400),
        (b"{not json", 400),
        (b'{"variants": {"variant": "x"}}', 400),
        (b'{"variants": [{"variant": "x", "pos": [1]}]}', 400),
        (b'{"variants": [{"variant": "' + b"A" * 5000 + b'"}]}', 400),
    ],
)
def test_request_level_refusals(client: TestClient, body: bytes, status: int):
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status


def test_variant_limit_is_the_settings_and_413_past_it(client: TestClient, app_max_variants: int):
    """The app was started with VIPREDICT_MAX_VARIANTS set: JSON and uploads obey it."""
    assert client.get("/model").json()["limits"]["max_variants"] == app_max_variants
    entry = {"variant": "GRCh37:1:1:A:G"}
    at_limit = client.post("/predict", json={"variants": [entry] * app_max_variants})
    assert at_limit.status_code == 200 and len(at_limit.json()) == app_max_variants
    response = client.post("/predict", json={"variants": [entry] * (app_max_variants + 1)})
    assert response.status_code == 413
    assert f"VIPREDICT_MAX_VARIANTS={app_max_variants}" in response.json()["error"]
    lines = "".join(f"1\t{p}\t.\tA\tG\t.\t.\t.\n" for p in range(1, app_max_variants + 2))
    upload = client.post("/predict/vcf", files={"file": ("x.vcf", (VCF_HEADER + lines).encode())})
    assert upload.status_code == 413


@pytest.mark.parametrize(
    "files,data,query,status",
    [
        ({"file": ("x.vcf.gz", (VCF_HEADER + "1\t1\t.\tA\tG\n").encode())}, None, "", 200),
        ({"file": ("x.vcf.gz", b"\x1f\x8b\x08\x00corrupt")}, None, "", 400),
        ({"file": ("x.vcf", b"")}, None, "", 400),
        ({"file": ("x.bin", bytes(range(256)))}, None, "", 400),
        ({"file": ("x.vcf", VCF_HEADER.encode())}, None, "", 400),
        ({"other": ("o.txt", b"x")}, {"file": "http://127.0.0.1:9/etc/passwd"}, "", 400),
        ({"other": ("o.txt", b"x")}, {"file": "/etc/passwd"}, "", 400),
        (None, {"file": "/etc/passwd"}, "", 415),
        ({"file": ("x.vcf", (VCF_HEADER + "1\t1\t.\tA\tG\n").encode())}, None, "?format=xml", 400),
        ({"file": ("x.vcf", (VCF_HEADER + "1\t1\t.\tA\tG\n").encode())}, None, "?build=hg17", 400),
    ],
)
def test_upload_refusals(client: TestClient, files, data, query: str, status: int):
    response = client.post(f"/predict/vcf{query}", files=files, data=data)
    assert response.status_code == status, response.text
    if status == 200:
        assert "VIP_ERR=no_features" in response.text


def test_upload_must_be_multipart(client: TestClient):
    response = client.post(
        "/predict/vcf",
        content=b"http://127.0.0.1:9/x",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 415


def test_body_size_limit_is_413(asgi_app, client: TestClient, tiny_home: Settings):
    small = dataclasses.replace(tiny_home, limits=Limits(max_bytes=1000))
    guarded = TestClient(SecurityMiddleware(asgi_app, settings=small))
    body = {"variants": [{"variant": "GRCh37:1:1:A:G"}] * 100}
    response = guarded.post("/predict", json=body)
    assert response.status_code == 413
    assert "VIPREDICT_MAX_BYTES=1000" in response.json()["error"]
    chunked = guarded.post(
        "/predict",
        content=(json.dumps(body).encode() for _ in range(1)),
        headers={"content-type": "application/json"},
    )
    assert chunked.status_code == 413  # no Content-Length: counted while read


@pytest.mark.parametrize(
    "headers,status",
    [
        ({}, 401),
        ({"X-API-Key": "wrong"}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"X-API-Key": "s3cret"}, 200),
        ({"Authorization": "Bearer other"}, 200),
    ],
)
def test_api_keys(asgi_app, client: TestClient, tiny_home: Settings, headers: dict, status: int):
    keyed = dataclasses.replace(tiny_home, api_keys=frozenset({"s3cret", "other"}))
    guarded = TestClient(SecurityMiddleware(asgi_app, settings=keyed))
    body = {"variants": [{"variant": "GRCh37:1:1:A:G"}]}
    assert guarded.post("/predict", json=body, headers=headers).status_code == status
    assert guarded.get("/model", headers=headers).status_code == status
    assert guarded.get("/healthz").status_code == 200
    assert guarded.get("/livez").status_code == 200


async def _echo_app(scope, receive, send) -> None:
    """Stands for the routes: answers 200 with the body it was given."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_security_reads_keys_and_limits_from_the_settings(monkeypatch: pytest.MonkeyPatch):
    """The service adds the middleware bare, so its keys and limits are the settings'
    (VIPREDICT_API_KEYS, VIPREDICT_MAX_BYTES), read once when the app is built."""
    from vipredict.service.bento import VariantPredictor

    options = dict(VariantPredictor.middlewares)[SecurityMiddleware]
    assert set(options) <= {"html_error"}  # only the page's renderer: never settings or limits
    monkeypatch.setenv("VIPREDICT_API_KEYS", " k1 , k2 ")
    monkeypatch.setenv("VIPREDICT_MAX_BYTES", "500")
    guarded = TestClient(SecurityMiddleware(_echo_app))
    monkeypatch.delenv("VIPREDICT_API_KEYS")
    monkeypatch.delenv("VIPREDICT_MAX_BYTES")
    small, big = b'"' + b"x" * 498 + b'"', b'"' + b"x" * 499 + b'"'  # JSON, 500 and 501 bytes
    assert guarded.post("/predict", content=small).status_code == 401
    assert guarded.post("/predict", content=small, headers={"X-API-Key": "k3"}).status_code == 401
    for headers in ({"X-API-Key": "k1"}, {"Authorization": "Bearer k2"}):
        answered = guarded.post("/predict", content=small, headers=headers)
        assert answered.status_code == 200 and answered.content == small
        refused = guarded.post("/predict", content=big, headers=headers)
        assert refused.status_code == 413
        assert "VIPREDICT_MAX_BYTES=500" in refused.json()["error"]
    assert guarded.get("/healthz").status_code == 200  # probes stay open
    open_app = TestClient(SecurityMiddleware(_echo_app))  # built with neither set
    assert open_app.post("/predict", content=big).status_code == 200


def _without_lifespan(app):
    """The app for schemathesis, which would otherwise start it (a second service) again.

    Refusing the lifespan scope before any message is how an app says it has none; the
    ``client`` fixture has already started this one.
    """

    async def routes(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("started by the client fixture")
        await app(scope, receive, send)

    return routes


@pytest.mark.parametrize("examples", [10, pytest.param(60, marks=pytest.mark.e2e, id="deep")])
def test_openapi_fuzzing_finds_no_server_error(asgi_app, client: TestClient, examples: int):
    """Schemathesis over every documented route of the synthetic service: never a 5xx.

    The fast tier draws a few cases per route; the end-to-end tier draws many more."""
    schema = schemathesis.openapi.from_asgi("/docs.json", _without_lifespan(asgi_app))
    failures: list[str] = []
    # /metrics is skipped: through to_asgi() BentoML's Prometheus view lacks its
    # multiprocess directory and never answers (served fine by `bentoml serve`).
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path != "/metrics"
    ]
    assert {op.path for op in operations} >= {"/predict", "/predict/vcf", "/model"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case) -> None:
            response = case.call()
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path}: {response.status_code} "
                    f"{json.dumps(case.body, default=str)[:200]}"
                )

        fuzz()
    assert failures == []
