"""The curators' page without a browser: pages, headers, the key, refusals as pages.

The service is the real BentoML app (``VariantPredictor.to_asgi()``) on the SYNTHETIC
tiny home (made-up variants and frequencies through the real builders): these tests
check what the page does, never a figure. The real-browser walk on the trained home
is ``test_browser.py``.
"""

from __future__ import annotations

import gzip
import json
import re

import pandas as pd
import pytest
from apps import started_app
from conftest import CURATOR, KEY, MAX_BYTES, store_keys
from starlette.testclient import TestClient

from vipredict.config import Settings
from vipredict.queue.ranking import QueueFilters
from vipredict.service.security import CSP_WORKBENCH, KEY_COOKIE
from vipredict.service.ui import QueueView, select_items

HEADER = {"X-API-Key": KEY}
VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def signed_in(app: TestClient) -> TestClient:
    """The app's client after the page's sign-in form (the key now rides in the cookie)."""
    app.cookies.clear()
    answer = app.post("/ui/login", data={"api_key": KEY, "next": "/ui"})
    assert answer.status_code == 200 and answer.url.path == "/ui", answer.text
    assert app.cookies.get(KEY_COOKIE) == KEY
    return app


def signed_out(app: TestClient) -> TestClient:
    app.cookies.clear()
    return app


def assert_html_refusal(answer, status: int, words: str) -> None:
    """A refusal the curator can read: HTML, the status, the sentence, never a trace."""
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CSP_WORKBENCH
    assert words in answer.text
    assert "Traceback" not in answer.text and '{"error"' not in answer.text


@pytest.fixture(scope="module")
def keys(tiny_home: Settings) -> list[str]:
    return store_keys(tiny_home, 60)


@pytest.fixture(scope="module")
def queue_id(keyed_app: TestClient, keys: list[str]) -> str:
    """A queue made through the JSON API (the page must show the API's queues)."""
    body = {"variants": [{"variant": k} for k in keys], "name": "ui fast tests"}
    answer = keyed_app.post("/queue", json=body, headers=HEADER)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def test_pages_render_under_the_pages_own_policy(keyed_app: TestClient, queue_id: str):
    app = signed_in(keyed_app)
    listing = app.get("/ui")
    assert listing.status_code == 200
    assert listing.headers["content-security-policy"] == CSP_WORKBENCH
    assert listing.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in CSP_WORKBENCH and "unsafe-inline" not in CSP_WORKBENCH
    assert "ui fast tests" in listing.text and f"Signed in as <strong>{CURATOR}" in listing.text
    table = app.get(f"/ui/queue/{queue_id}")
    assert table.status_code == 200
    rows = re.findall(r'href="(/ui/queue/[0-9a-f]{32}/variant/[^"]+)"', table.text)
    assert len(rows) == 60
    variant = app.get(rows[0])
    assert variant.status_code == 200
    assert variant.headers["content-security-policy"] == CSP_WORKBENCH
    for section in ("calibration curve", "What pushed the score", "Frequencies by ancestry"):
        assert section in variant.text
    assert "<svg" in variant.text
    assert "<script>" not in variant.text and "style=" not in variant.text  # nothing inline
    script = app.get("/ui/static/ui.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_reads_need_the_key_when_keys_are_set(keyed_app: TestClient, queue_id: str):
    """Keys set: every page but the sign-in and the static files is a 401 sign-in page."""
    app = signed_out(keyed_app)
    for path in ("/ui", f"/ui/queue/{queue_id}", f"/ui/queue/{queue_id}/export.csv"):
        refused = app.get(path)
        assert_html_refusal(refused, 401, "sign in")
        assert 'name="api_key"' in refused.text
    assert app.get("/ui/static/ui.css").status_code == 200
    assert app.get("/ui/login").status_code == 200
    wrong = app.post("/ui/login", data={"api_key": "not-the-key"})
    assert_html_refusal(wrong, 401, "not one of this service")
    assert KEY_COOKIE not in app.cookies
    assert app.get(f"/queue/{queue_id}", cookies={KEY_COOKIE: KEY}).status_code == 401  # /ui only
    for target, location in (
        (f"/ui/queue/{queue_id}?size=50", f"/ui/queue/{queue_id}?size=50"),
        ("//evil.example/ui", "/ui"),  # no open redirect
        (f"/ui/queue/{queue_id}/decisions", "/ui"),  # a form's address is no page to return to
    ):
        after = app.post("/ui/login", data={"api_key": KEY, "next": target})
        assert after.status_code == 200 and after.history[0].headers["location"] == location
        app.cookies.clear()


def test_unknown_queue_and_variant_are_404_pages(keyed_app: TestClient, queue_id: str):
    app = signed_in(keyed_app)
    assert_html_refusal(app.get(f"/ui/queue/{'0' * 32}"), 404, "no queue")
    assert_html_refusal(app.get("/ui/queue/not-a-queue"), 404, "no queue")
    missing = app.get(f"/ui/queue/{queue_id}/variant/GRCh37:1:1:A:G")
    assert_html_refusal(missing, 404, "is not an item of this queue")
    assert_html_refusal(app.get(f"/ui/queue/{queue_id}?evidence=PP9"), 422, "evidence")
    assert_html_refusal(app.get("/ui/no/such/page"), 404, "no page at")
    assert_html_refusal(app.get(f"/ui/queue/{queue_id}/export.xlsx"), 404, "exports are")


def test_a_decision_without_a_key_is_refused_and_nothing_is_written(
    keyed_app: TestClient, queue_id: str, keys: list[str]
):
    form = {"variant": keys[3], "decision": "accept", "note": "keyless"}
    refused = signed_out(keyed_app).post(f"/ui/queue/{queue_id}/decisions", data=form)
    assert_html_refusal(refused, 401, "sign in")
    foreign = signed_in(keyed_app).post(
        f"/ui/queue/{queue_id}/decisions", data=form, headers={"Origin": "http://evil.example"}
    )
    assert_html_refusal(foreign, 403, "its own address")
    items = keyed_app.get(f"/queue/{queue_id}", headers=HEADER).json()["items"]
    assert all(i["decision"] is None for i in items if i["variant"] == keys[3])


def test_a_decision_made_in_the_page_is_the_apis_record(
    keyed_app: TestClient, queue_id: str, keys: list[str]
):
    app = signed_in(keyed_app)
    note = "=1+1 checked in the page"
    form = {"variant": keys[5], "decision": "reject", "note": note}
    saved = app.post(f"/ui/queue/{queue_id}/decisions", data=form)
    assert saved.status_code == 200 and saved.url.params.get("saved") == "1"
    assert "Decision saved" in saved.text and "reject" in saved.text
    item = next(
        i
        for i in keyed_app.get(f"/queue/{queue_id}", headers=HEADER).json()["items"]
        if i["variant"] == keys[5]
    )
    assert (item["decision"], item["curator"], item["note"]) == ("reject", CURATOR, note)
    exported = app.get(f"/ui/queue/{queue_id}/export.csv")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    row = next(line for line in exported.text.splitlines() if line.startswith(f"{item['rank']},"))
    assert "reject" in row and "'=1+1 checked" in row  # the export code's formula guard
    decided = app.get(f"/ui/queue/{queue_id}?decided=yes")
    assert decided.text.count("data-row-link") == 1
    bad = app.post(f"/ui/queue/{queue_id}/decisions", data={**form, "decision": "perhaps"})
    assert_html_refusal(bad, 422, "decision must be one of")
    assert "perhaps" not in re.findall(r"<textarea[^>]*>([^<]*)<", bad.text) and note in bad.text


def test_an_oversized_upload_is_a_413_page_and_stores_nothing(keyed_app: TestClient):
    app = signed_in(keyed_app)
    before = app.get("/ui").text.count("/ui/queue/")
    big = VCF_HEADER + "1\t12345\t.\tA\tG\t.\t.\t.\n" * (MAX_BYTES // 20)
    refused = app.post("/ui/upload", files={"file": ("big.vcf", big.encode(), "text/plain")})
    assert_html_refusal(refused, 413, "exceeds")
    assert app.get("/ui").text.count("/ui/queue/") == before


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.vcf", b"   \n", "empty upload"),
        ("binary.vcf", b"\x00\x01\x02 not text", "binary"),
        # mtime=0: the same bytes in every process, so pytest-xdist workers collect one id
        ("broken.vcf.gz", gzip.compress(b"##fileformat=VCFv4.2\n", mtime=0)[:-12], "gzip"),
        ("nothing.vcf", VCF_HEADER.encode(), "holds no variants"),
    ],
)
def test_a_malformed_upload_is_a_clear_page(
    keyed_app: TestClient, name: str, content: bytes, words: str
):
    app = signed_in(keyed_app)
    before = app.get("/ui").text.count("/ui/queue/")
    refused = app.post("/ui/upload", files={"file": (name, content, "text/plain")})
    assert refused.status_code in (400, 422)
    assert_html_refusal(refused, refused.status_code, words)
    assert app.get("/ui").text.count("/ui/queue/") == before


def test_an_upload_makes_a_queue_with_every_variant(keyed_app: TestClient, keys: list[str]):
    """A TSV of keys with one junk line: the batch is kept, the junk line is a named error."""
    app = signed_in(keyed_app)
    text = "variant\n" + "\n".join([*keys[:8], "junk"]) + "\n"
    made = app.post(
        "/ui/upload",
        files={"file": ("eight.tsv", text.encode(), "text/tab-separated-values")},
        data={"format": "tsv", "name": "uploaded in the page", "by": "posterior"},
    )
    assert made.status_code == 200 and re.fullmatch(r"/ui/queue/[0-9a-f]{32}", made.url.path)
    stored = app.get(made.url.path.replace("/ui", "", 1), headers=HEADER).json()
    assert (stored["name"], stored["n_items"], stored["ordering"]) == (
        "uploaded in the page",
        9,
        "posterior",
    )
    assert [i["error"] for i in stored["items"]][-1] == "malformed_record"


def test_filters_sort_and_paging(keyed_app: TestClient, queue_id: str):
    app = signed_in(keyed_app)
    items = pd.DataFrame(app.get(f"/queue/{queue_id}", headers=HEADER).json()["items"])
    gene = items["gene"].dropna().value_counts().index[0]
    shown = app.get(f"/ui/queue/{queue_id}?gene={gene.lower()}&sort=posterior&size=50")
    cells = re.findall(r'<td class="num">(\d+)</td>\s*<td class="key">', shown.text)
    expected = items[items["gene"] == gene]
    expected = expected.sort_values(["posterior", "rank"], ascending=[False, True])
    ranks = [int(r) for r in cells]
    assert ranks == expected["rank"].head(50).tolist()
    paged = app.get(f"/ui/queue/{queue_id}?size=50&page=2")
    assert paged.text.count("data-row-link") == len(items) - 50 and "Page 2 of 2" in paged.text


def test_the_view_keeps_the_queues_own_filters():
    """Logic only, on a made-up frame: the page filters with the queue's QueueFilters."""
    items = pd.DataFrame(
        {
            "rank": [1, 2, 3, 4],
            "gene": ["BRCA1", "TP53", "brca1", None],
            "evidence": ["PP3_Strong", "BP4_Supporting", "none", "PP3_Moderate"],
            "groups_observed": ["nfe,afr", "", "afr", "eas"],
            "af_band": ["rare", "absent", "rare", "unknown"],
            "posterior": [0.9, 0.01, None, 0.5],
            "decision": [None, "accept", None, None],
        }
    )
    view = QueueView.parse({"gene": "brca1", "group": "afr"})
    assert view.filters == QueueFilters.create(["BRCA1"], [], ["afr"], [])
    assert select_items(items, view)["rank"].tolist() == [1, 3]
    assert select_items(items, QueueView.parse({"evidence": "PP3"}))["rank"].tolist() == [1, 4]
    by_posterior = QueueView.parse({"sort": "posterior"})
    assert select_items(items, by_posterior)["rank"].tolist() == [1, 4, 2, 3]  # missing last
    assert select_items(items, QueueView.parse({"decided": "no"}))["rank"].tolist() == [1, 3, 4]
    assert "gene=BRCA1" in view.query(page=2) and "page=2" in view.query(page=2)


def test_without_keys_reading_is_open_and_writing_refused(
    tiny_home: Settings, tmp_path, keys: list[str]
):
    """No VIPREDICT_API_KEYS: the page reads on loopback like the API, and refuses writes."""
    with started_app(tiny_home, VIPREDICT_QUEUE_URL=f"sqlite:///{tmp_path / 'q.db'}") as app:
        listing = app.get("/ui")
        assert listing.status_code == 200 and "Read-only" in listing.text
        upload = app.post("/ui/upload", files={"file": ("a.tsv", b"variant\n" + keys[0].encode())})
        assert_html_refusal(upload, 403, "need an API key")
        decision = app.post(f"/ui/queue/{'0' * 32}/decisions", data={"decision": "accept"})
        assert_html_refusal(decision, 403, "need an API key")
        assert_html_refusal(app.post("/ui/login", data={"api_key": "x"}), 403, "no API keys")
        assert json.loads(app.get("/model").text)  # the JSON API beside it is unchanged


def test_the_reevaluation_view_shows_and_records_what_the_api_does(
    keyed_app: TestClient, queue_id: str, keys: list[str]
):
    """One registered version on the tiny home: v1 against v1 changes nothing, and the page
    says what the JSON re-evaluation says; a review made in the page is the API's record."""
    app = signed_in(keyed_app)
    form = {"variant": keys[7], "decision": "defer", "note": "for the re-evaluation view"}
    assert app.post(f"/ui/queue/{queue_id}/decisions", data=form).status_code == 200
    page = app.get(f"/ui/queue/{queue_id}/reevaluation?changed_only=false")
    assert page.status_code == 200, page.text[:300]
    api = app.get(f"/queue/{queue_id}/reevaluation?changed_only=false", headers=HEADER).json()
    assert f"{api['n_considered']} decided items considered" in page.text
    assert f"<strong>{api['n_changed']} changed</strong>" in page.text
    assert {i["variant"] for i in api["items"]} == set(
        re.findall(r'<td class="key"><a href="[^"]+">([^<]+)</a>', page.text)
    )
    versions = {"old_version": api["old_version"], "new_version": api["new_version"]}
    refused = signed_out(app).post(
        f"/ui/queue/{queue_id}/reviews", data={"variants": keys[7], **versions}
    )
    assert_html_refusal(refused, 401, "sign in")
    saved = signed_in(app).post(
        f"/ui/queue/{queue_id}/reviews", data={"variants": keys[7], **versions}
    )
    assert saved.status_code == 200 and "Reviews saved" in saved.text
    after = app.get(f"/queue/{queue_id}/reevaluation?changed_only=false", headers=HEADER).json()
    reviewed = {i["variant"]: i["reviewed_by"] for i in after["items"]}
    assert reviewed[keys[7]] == CURATOR
    unknown = app.post(f"/ui/queue/{queue_id}/reviews", data={"variants": "GRCh37:1:1:A:G"})
    assert_html_refusal(unknown, 404, "GRCh37:1:1:A:G")
