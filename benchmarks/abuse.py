"""Replay issue 16's hostile requests against a live loopback service; memory and stalls per case.

Usage: ``python benchmarks/abuse.py --output results/abuse.json [--home DIR]``
(``--home``: a trained home, default ``VIPREDICT_HOME`` or the ``make run`` home
``./.vipredict``). The benchmark starts ``bentoml serve`` on a free loopback port
with an API key set, sends each case (one per finding of issue 16; the pickle
champion is not a request and is covered by ``tests/model/test_safe_loading.py``)
and records: the answer's status, the worker's peak RSS rise during the case
(psutil over the server's process tree, sampled every 50 ms), the longest a
concurrent good ``/predict`` or ``/readyz`` took meanwhile, and whether the
service still answered both afterwards. A case passes when it stays within
``LIMITS``, the service answered after it, and its own bound held (the status a
fixed service gives, no URL fetched, no formula exported, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.server
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil

from serving import free_port
from vipredict.config import Settings, get_settings
from vipredict.queue.export import FORMULA_LEADS, export_text
from vipredict.queue.store import QueueStore
from vipredict.service.bento import SERVICE_REF
from vipredict.store.partitioned import Store

LIMITS = {"rss_rise_mb": 200, "good_request_max_s": 2}
PROJECT = Path(__file__).resolve().parents[1]
CURATOR = "abuse"
#: Longest a probe or a case request may take before it counts as unanswered.
PATIENCE_S = 60.0
VCF_HEAD = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def worker_rss_mb(root: psutil.Process) -> float:
    """RSS of the largest process of the server's tree (the worker holding the models)."""
    best = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            best = max(best, proc.memory_info().rss)
    return best / 2**20


def tree_bytes(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(folder) / name).stat().st_size
    return total


@dataclass
class Live:
    """The started server: its URL, key, process and a few real store variants."""

    url: str
    key: str
    process: subprocess.Popen
    home: Settings
    good_keys: list[str]

    def client(self, keyed: bool = True) -> httpx.Client:
        headers = {"X-API-Key": self.key} if keyed else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=PATIENCE_S)

    def good_predict(self, client: httpx.Client) -> bool:
        body = {"variants": [{"variant": k} for k in self.good_keys]}
        return client.post("/predict", json=body).status_code == 200

    def answers(self) -> bool:
        try:
            with self.client() as client:
                return client.get("/readyz").status_code == 200 and self.good_predict(client)
        except httpx.HTTPError:
            return False


@contextlib.contextmanager
def serving(home: Settings, key: str, cwd: Path) -> Iterator[Live]:
    """``bentoml serve`` of ``home`` on loopback with one key; its whole tree killed at the end."""
    port = free_port()
    env = {
        **os.environ,
        "VIPREDICT_HOME": str(home.home),
        "BENTOML_HOME": str(home.home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
        "VIPREDICT_API_KEYS": f"{CURATOR}:{key}",
    }
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE_REF]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    store = Store.open(home)
    keys = next(store.iter_rows(["variant"], chunk_rows=3))["variant"].astype(str).tolist()
    live = Live(f"http://127.0.0.1:{port}", key, process, home, keys)
    try:
        deadline = time.monotonic() + 300
        while not live.answers():
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("server not ready within 300 s")
            time.sleep(0.5)
        yield live
    finally:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        for member in tree:
            with contextlib.suppress(psutil.Error):
                member.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@dataclass
class Watch:
    """Samples the worker's RSS and times good requests while a case runs."""

    live: Live
    stop: threading.Event = field(default_factory=threading.Event)
    peak_mb: float = 0.0
    probe_s: list[float] = field(default_factory=list)

    def _sample(self) -> None:
        root = psutil.Process(self.live.process.pid)
        while not self.stop.is_set():
            self.peak_mb = max(self.peak_mb, worker_rss_mb(root))
            time.sleep(0.05)

    def _probe(self) -> None:
        with self.live.client() as client:
            while True:
                for request in (
                    lambda: client.get("/readyz"),
                    lambda: self.live.good_predict(client),
                ):
                    start = time.perf_counter()
                    with contextlib.suppress(httpx.HTTPError):  # a timeout: the full wait
                        request()
                    self.probe_s.append(time.perf_counter() - start)
                if self.stop.wait(0.2):
                    return

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        threads = [threading.Thread(target=self._sample), threading.Thread(target=self._probe)]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            time.sleep(0.3)  # one more probe after the case's answer
            self.stop.set()
            for thread in threads:
                thread.join()


@dataclass
class Outcome:
    status: int | None
    held: bool
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def post(client: httpx.Client, path: str, **kwargs: Any) -> httpx.Response | None:
    try:
        return client.post(path, **kwargs)
    except httpx.HTTPError:
        return None


def status_of(response: httpx.Response | None) -> int | None:
    return None if response is None else response.status_code


def vcf_upload(text: str, compress: bool = False) -> dict[str, Any]:
    data = gzip.compress(text.encode()) if compress else text.encode()
    return {"files": {"file": ("upload.vcf.gz" if compress else "upload.vcf", data)}}


# --------------------------------------------------------------------------- cases


def big_ref_many_alts(live: Live) -> Outcome:
    ref = "ACGT" * 50_000  # 200 kB
    alts = ",".join("ACGT"[i % 4] + "T" * (i // 4) for i in range(1_000))
    line = f"1\t100000\t.\t{ref}\t{alts}\t.\t.\t.\n"
    with live.client() as client:
        answer = post(client, "/predict/vcf", **vcf_upload(VCF_HEAD + line, compress=True))
    status = status_of(answer)
    return Outcome(status, status in (200, 413, 422), "a per-record error or a refusal")


class _Fetched(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = (VCF_HEAD + "1\t100\t.\tA\tG\t.\t.\t.\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def url_part_before_file(live: Live) -> Outcome:
    """A URL part named ``file`` first, a real file second; a loopback server counts fetches."""
    _Fetched.hits = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fetched)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/remote.vcf"
    real = (VCF_HEAD + "1\t100\t.\tA\tG\t.\t.\t.\n").encode()
    try:
        with live.client() as client:
            files = [("file", (None, url.encode())), ("file", ("a.vcf", real, "text/plain"))]
            answer = post(client, "/predict/vcf", files=files)
    finally:
        server.shutdown()
    status = status_of(answer)
    held = status is not None and 400 <= status < 500 and _Fetched.hits == 0
    return Outcome(status, held, "a 4xx, nothing fetched", {"url_fetched": _Fetched.hits > 0})


def empty_gzip_members(live: Live) -> Outcome:
    member = gzip.compress(b"")
    data = member * (2 * 2**20 // len(member))  # 2 MiB of empty members
    with live.client() as client:
        start = time.perf_counter()
        answer = post(client, "/predict/vcf", files={"file": ("empty.vcf.gz", data)})
        seconds = time.perf_counter() - start
    status = status_of(answer)
    held = status is not None and status < 500 and seconds <= LIMITS["good_request_max_s"]
    return Outcome(status, held, "answered within the limit", {"seconds": round(seconds, 2)})


def metrics_without_key(live: Live) -> Outcome:
    with live.client(keyed=False) as client:
        answer = client.get("/metrics")
    return Outcome(answer.status_code, answer.status_code == 401, "401 without a key")


def unique_long_paths(live: Live, n: int = 200) -> Outcome:
    """Unique 8 KB paths without a key: the disk under VIPREDICT_HOME must not grow."""
    before = tree_bytes(live.home.home)
    statuses = set()
    with live.client(keyed=False) as client:
        for i in range(n):
            path = f"/{i:06d}" + "x" * 8_000
            with contextlib.suppress(httpx.HTTPError):
                statuses.add(client.get(path).status_code)
    time.sleep(1)  # metrics files are written as requests end
    rise = (tree_bytes(live.home.home) - before) / 2**20
    status = max(statuses) if statuses else None
    held = rise < 1 and statuses <= {401, 404, 414, 431}
    extra = {"disk_rise_mb": round(rise, 2), "statuses": sorted(statuses), "requests": n}
    return Outcome(status, held, "no growth on disk, refused", extra)


def empty_objects_json(live: Live) -> Outcome:
    body = b'{"variants":[' + b",".join([b"{}"] * (1_400_000 // 3)) + b"]}"  # ~1.4 MiB of {}
    with live.client() as client:
        answer = post(
            client, "/predict", content=body, headers={"Content-Type": "application/json"}
        )
    status = status_of(answer)
    return Outcome(status, status in (413, 422), "refused by count while parsing")


def concurrent_big_bodies(live: Live, n: int = 4, mb: int = 50) -> Outcome:
    body = b'{"variants":[' + b'{"variant":"x"},' * (mb * 2**20 // 16) + b"{}]}"
    statuses: list[int | None] = []

    def send() -> None:
        with live.client() as client:
            answer = post(
                client, "/predict", content=body, headers={"Content-Type": "application/json"}
            )
            statuses.append(status_of(answer))

    threads = [threading.Thread(target=send) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    held = all(s in (413, 503) for s in statuses)
    worst = max((s or 0) for s in statuses) or None
    return Outcome(worst, held, "each refused (413/503)", {"statuses": statuses, "bodies_mb": mb})


def formula_note_export(live: Live) -> Outcome:
    """A decision whose note is a formula, then the queue's CSV export (``queue export``)."""
    note = '=HYPERLINK("http://example.invalid","x")'
    with live.client() as client:
        variants = [{"variant": k} for k in live.good_keys]
        made = post(client, "/queue", json={"variants": variants, "name": "abuse"})
        if made is None or made.status_code != 200:
            return Outcome(status_of(made), False, "queue not created")
        queue_id = made.json()["id"]
        decision = {
            "variant": live.good_keys[0],
            "decision": "defer",
            "note": note,
            "curator": CURATOR,
        }
        answer = post(client, f"/queue/{queue_id}/decisions", json=decision)
    text = export_text(QueueStore.from_settings(live.home).load(queue_id), "csv")
    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    formulas = table.apply(lambda column: column.str.startswith(FORMULA_LEADS)).to_numpy().sum()
    held = bool(status_of(answer) == 200 and (table["note"] != "").any() and formulas == 0)
    return Outcome(status_of(answer), held, "the exported note is text, not a formula")


def long_queue_name(live: Live) -> Outcome:
    with live.client() as client:
        variants = [{"variant": k} for k in live.good_keys]
        answer = post(client, "/queue", json={"variants": variants, "name": "q" * 256})
    status = status_of(answer)
    reason = answer.json().get("reason") if answer is not None and status == 422 else None
    return Outcome(status, reason == "queue_name_too_long", "422 queue_name_too_long")


def line_separator_in_vcf(live: Live) -> Outcome:
    """Two records, one with U+2028 in INFO: the answer must hold two results, not three."""
    body = VCF_HEAD + "1\t100\t.\tA\tG\t.\t.\tNOTE=a\u2028b\n1\t200\t.\tC\tT\t.\t.\t.\n"
    with live.client() as client:
        answer = post(client, "/predict/vcf", params={"format": "json"}, **vcf_upload(body))
    status = status_of(answer)
    n = len(answer.json()) if status == 200 and answer is not None else None
    return Outcome(status, n == 2, "two records answered", {"results": n})


def misspelt_field(live: Live) -> Outcome:
    good = live.good_keys[0]
    with live.client() as client:
        answer = post(client, "/predict", json={"variants": [{"variant": good}, {"varaint": good}]})
    status = status_of(answer)
    results = answer.json() if status == 200 and answer is not None else []
    # The good key is answered as ever (a store row may itself lack annotation: its own error).
    held = (
        len(results) == 2
        and results[0].get("error") != "unknown_field"
        and results[1].get("error") == "unknown_field"
    )
    return Outcome(status, held, "200; the misspelt variant alone is unknown_field")


CASES: list[tuple[str, str, Callable[[Live], Outcome]]] = [
    ("big_ref_many_alts_vcf", "one request can kill the worker", big_ref_many_alts),
    ("url_part_before_file", "the URL guard can be bypassed", url_part_before_file),
    ("empty_gzip_members", "multi-member gzip is quadratic", empty_gzip_members),
    ("metrics_without_key", "reads fail open (/metrics)", metrics_without_key),
    ("unique_long_paths", "anyone can fill the disk", unique_long_paths),
    ("empty_objects_json", "JSON parsed before any count check", empty_objects_json),
    ("concurrent_big_bodies", "no max_concurrency: bodies multiply", concurrent_big_bodies),
    ("formula_note_export", "CSV exports write notes raw", formula_note_export),
    ("long_queue_name", "a 201-256 character queue name is a 500", long_queue_name),
    ("line_separator_in_vcf", "splitlines() splits records on U+2028", line_separator_in_vcf),
    ("misspelt_field", "a misspelt field rejects the request", misspelt_field),
]
SKIPPED = [
    {
        "name": "pickle_champion",
        "finding": "the model file decides how it is loaded",
        "skipped": "not a request: tests/model/test_safe_loading.py",
    }
]


def run_case(live: Live, name: str, finding: str, case: Callable[[Live], Outcome]) -> dict:
    root = psutil.Process(live.process.pid)
    before = worker_rss_mb(root)
    watch = Watch(live, peak_mb=before)
    start = time.perf_counter()
    try:
        with watch.running():
            outcome = case(live)
    except Exception as error:  # a case that breaks is a failed case, not a failed run
        outcome = Outcome(None, False, f"case raised {type(error).__name__}: {error}")
    seconds = time.perf_counter() - start
    after = worker_rss_mb(root)
    answered = live.answers()
    result = {
        "name": name,
        "finding": finding,
        "status": outcome.status,
        "bound": outcome.detail,
        "bound_held": outcome.held,
        "seconds": round(seconds, 2),
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(watch.peak_mb, 1),
        "rss_after_mb": round(after, 1),
        "rss_rise_mb": round(max(watch.peak_mb, after) - before, 1),
        "good_request_max_s": round(max(watch.probe_s, default=PATIENCE_S), 2),
        "answered_after": answered,
        **outcome.extra,
    }
    result["passed"] = (
        outcome.held
        and answered
        and result["rss_rise_mb"] <= LIMITS["rss_rise_mb"]
        and result["good_request_max_s"] <= LIMITS["good_request_max_s"]
    )
    print(json.dumps(result), flush=True)
    return result


def default_home() -> Path:
    return Path(os.environ.get("VIPREDICT_HOME") or PROJECT / ".vipredict")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--home", type=Path, default=default_home())
    parser.add_argument("--only", nargs="*", help="names of the cases to run (default: all)")
    args = parser.parse_args()
    home = get_settings({**os.environ, "VIPREDICT_HOME": str(args.home.resolve())})
    chosen = [c for c in CASES if not args.only or c[0] in args.only]
    scratch = Path(os.environ.get("TMPDIR", "/tmp"))
    with serving(home, secrets.token_urlsafe(24), scratch) as live:
        cases = [run_case(live, *case) for case in chosen]
    result = {
        "cases": [*cases, *SKIPPED],
        "limits": LIMITS,
        "passed": all(case["passed"] for case in cases),
        "home": str(home.home),
        "cpu_count": os.cpu_count(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    summary = {c["name"]: c.get("passed", "skipped") for c in result["cases"]}
    print(json.dumps({"passed": result["passed"], "cases": summary}, indent=2))


if __name__ == "__main__":
    main()
