"""Benchmark the prediction service on loopback: in-process vs HTTP, latency, sustained load.

Usage: ``python benchmarks/serving.py --output results/serving.json [--store DIR]``
(uses the champions under ``VIPREDICT_HOME``). Client and server share the
machine's cores, so HTTP latencies include the client's own CPU time; the client
uses ``http.client`` keep-alive connections to keep that small.

Without ``--store``: the home's store, preloaded (scored whole at start-up, then
explained in the background); keys are real store keys, asked again and again.

With ``--store DIR`` (e.g. the 10^8-row store ``benchmarks/store.py --serve-store DIR``
writes, with its serving index from ``vipredict store-index --store DIR``): served
through a scratch home holding a copy of the home's MLflow database and that store,
answered on demand. Every bulk request, every single-variant request of the latency
phases and of the 60 s load asks keys never asked before (cold: index look-up,
scoring and TreeSHAP per request); the ``warm_*`` figures ask again keys already
answered (the bounded cache). Keys are real store keys drawn at random across the
store's row groups. ``--workers`` sets ``VIPREDICT_WORKERS`` (default: the service
chooses, :func:`~vipredict.service.predictor.service_workers`); RSS figures are the
largest worker's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from vipredict.config import configure_runtime_env, get_settings
from vipredict.service.bento import SERVICE_REF
from vipredict.service.predictor import PredictionService, service_workers
from vipredict.service.schemas import VariantIn
from vipredict.store.partitioned import Store

BULK = 10_000
CONCURRENCY = (1, 8, 32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cold_keys(store: Store, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct real keys of the store, drawn at random across its row groups
    (a store with fewer than ``2 n`` rows: its keys repeated, so not all cold).

    Row groups are drawn by the rows they hold (so partitions by their size), a
    few hundred keys from each, so the keys spread over the whole store.
    """
    rng = random.Random(seed)
    total = len(store)
    if n > total // 2:  # a small store: every key, in a random order, repeated to ``n``
        everything = [str(k) for k in store.read_all()["variant"]]
        rng.shuffle(everything)
        return (everything * (n // len(everything) + 1))[:n]
    groups = []
    for path in store.all_files():
        metadata = pq.ParquetFile(path).metadata
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        groups += [(path, i, rows) for i, rows in enumerate(sizes)]
    per_group = max(1, min(500, n // max(1, min(len(groups), 200)) + 1))
    keys: dict[str, None] = {}
    while len(keys) < n:
        path, i, rows = rng.choices(groups, weights=[g[2] for g in groups])[0]
        column = pq.ParquetFile(path).read_row_group(i, columns=["variant"])["variant"]
        for j in rng.sample(range(rows), min(rows, per_group)):
            keys[str(column[j])] = None
    picked = list(keys)[:n]
    rng.shuffle(picked)
    return picked


def in_process_cold(service: PredictionService, requests: list[list[str]]) -> float:
    """Variants/s of ``predict_json`` on parsed 10,000-variant requests (the endpoint's work)."""
    parsed = [[VariantIn(variant=k) for k in keys] for keys in requests]
    start = time.perf_counter()
    for variants in parsed:
        service.predict_json(variants)
    return sum(map(len, parsed)) / (time.perf_counter() - start)


class Client:
    """One keep-alive loopback connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()


def rss_mb(root_pid: int) -> float:
    """Largest RSS among the server's descendants (the BentoML worker holding the models)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    todo, best = [root_pid], 0.0
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                best = max(best, int(line.split()[1]) / 1024)
    return round(best, 1)


def start_server(port: int) -> tuple[subprocess.Popen, float]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            SERVICE_REF,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=os.environ.copy(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while time.perf_counter() - start < 300:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if Client(port).request("GET", "/readyz")[0] == 200:
                return process, time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("server not ready within 300 s")


def http_bulk_cold(port: int, requests: list[list[str]]) -> float:
    bodies = [json.dumps({"variants": [{"variant": k} for k in ks]}).encode() for ks in requests]
    client = Client(port)
    start = time.perf_counter()
    for body in bodies:
        status, _ = client.request("POST", "/predict", body)
        assert status == 200, status
    return sum(map(len, requests)) / (time.perf_counter() - start)


class KeyPool:
    """Single-variant request bodies, each key handed out once (cold) or cycled (warm)."""

    def __init__(self, keys: list[str], cycle: bool = False) -> None:
        self.bodies = [json.dumps({"variants": [{"variant": k}]}).encode() for k in keys]
        self.cycle = cycle
        self.given = 0
        self.lock = threading.Lock()

    def next(self) -> bytes | None:
        with self.lock:
            if self.given >= len(self.bodies) and not self.cycle:
                return None
            body = self.bodies[self.given % len(self.bodies)]
            self.given += 1
            return body


def run_pool(
    port: int, pool: KeyPool, n_clients: int, keep_going: Callable[[int], bool]
) -> tuple[list[float], int]:
    """``n_clients`` threads of single-variant requests; latencies (ms) and error count."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
        client, done, mine = Client(port), 0, []
        while keep_going(done):
            body = pool.next()
            if body is None:
                break
            t0 = time.perf_counter()
            try:
                ok = client.request("POST", "/predict", body)[0] == 200
            except OSError:
                ok, client = False, Client(port)
            mine.append((time.perf_counter() - t0) * 1000)
            done += 1
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(n_clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def record_level(result: dict[str, Any], n: int, latencies: list[float], errors: int) -> None:
    """One latency phase's error count, p50 and p99 (ms), under its client count ``n``.

    A refusal (429/503 past max_concurrency) is fast: it is counted, or p50 flatters.
    """
    result["errors"][str(n)] = errors
    result["p50_ms"][str(n)] = percentile(latencies, 0.50)
    result["p99_ms"][str(n)] = percentile(latencies, 0.99)


def sustained_load(port: int, pool: KeyPool, pid: int, seconds: float) -> dict[str, Any]:
    """``seconds`` of 8 clients asking ``pool``: requests, errors, p50/p99, and the largest
    worker's RSS at its start and end.

    Called after the bulk and latency phases have filled the cache and grown the
    allocator's arenas to their working size, so the growth it shows is what load adds.
    """
    start_mb = rss_mb(pid)
    deadline = time.perf_counter() + seconds
    latencies, errors = run_pool(port, pool, 8, lambda _: time.perf_counter() < deadline)
    return {
        "rss_start_mb": start_mb,
        "load_seconds": seconds,
        "load_requests": len(latencies),
        "load_errors": errors,
        "load_p50_ms": percentile(latencies, 0.50),
        "load_p99_ms": percentile(latencies, 0.99),
        "rss_end_mb": rss_mb(pid),
    }


@contextmanager
def serving_home(store: Path | None) -> Iterator[None]:
    """``VIPREDICT_HOME`` as given, or a scratch home serving ``store`` with its champions.

    The scratch home holds a copy of the home's MLflow database (its artifacts stay
    where they are, read only) and ``store`` linked in, so the home is not written.
    """
    if store is None:
        yield
        return
    source = get_settings()
    scratch = Path(tempfile.mkdtemp(prefix="vipredict-serving-bench-"))
    previous = os.environ.get("VIPREDICT_HOME")
    try:
        shutil.copy2(source.mlflow_db, scratch / "mlflow.db")
        (scratch / "mlartifacts").symlink_to(source.artifact_root)
        (scratch / "store").symlink_to(store.resolve())
        os.environ["VIPREDICT_HOME"] = str(scratch)
        yield
    finally:
        if previous is None:
            os.environ.pop("VIPREDICT_HOME", None)
        else:
            os.environ["VIPREDICT_HOME"] = previous
        shutil.rmtree(scratch, ignore_errors=True)


def measure_store(args: argparse.Namespace) -> dict[str, Any]:
    configure_runtime_env()
    store = Store.open()
    levels = [max(50, args.latency_requests // n) * n for n in CONCURRENCY]
    load_pool = 800 * int(args.load_seconds) + 1000  # more than 8 clients ask in the load
    keys = cold_keys(store, 2 * BULK * args.repeats + sum(levels) + load_pool)
    bulk_in = [keys[i * BULK : (i + 1) * BULK] for i in range(args.repeats)]
    rest = keys[BULK * args.repeats :]
    bulk_http = [rest[i * BULK : (i + 1) * BULK] for i in range(args.repeats)]
    rest = rest[BULK * args.repeats :]
    result: dict[str, Any] = {
        "store_rows": len(store),
        "store_files": len(list(store.all_files())),
        "cache_rows": get_settings().cache_rows,
        "distinct_keys": len(set(keys)),
        "keys_asked": len(keys),
    }
    del store
    service = PredictionService.load()
    result["in_process_variants_per_s"] = round(in_process_cold(service, bulk_in))
    result["in_process_definition"] = (
        "PredictionService.predict_json on parsed 10,000-variant lists of keys not asked before"
    )
    del service
    port = free_port()
    process, startup = start_server(port)
    try:
        result["startup_s"] = round(startup, 2)
        result["rss_at_rest_mb"] = rss_mb(process.pid)
        result["http_bulk_variants_per_s"] = round(http_bulk_cold(port, bulk_http))
        result["p50_ms"], result["p99_ms"], result["errors"] = {}, {}, {}
        for n, total in zip(CONCURRENCY, levels, strict=True):
            pool = KeyPool(rest[:total])
            rest = rest[total:]
            record_level(result, n, *run_pool(port, pool, n, lambda _: True))
        # Keys answered just before: from the bounded cache.
        warm = KeyPool(bulk_http[-1][: args.latency_requests], cycle=True)
        latencies, _ = run_pool(port, warm, 8, lambda done: done < args.latency_requests // 8)
        result["warm_p50_ms_8_clients"] = percentile(latencies, 0.50)
        result["warm_p99_ms_8_clients"] = percentile(latencies, 0.99)
        pool = KeyPool(rest)
        result.update(sustained_load(port, pool, process.pid, args.load_seconds))
        result["load_keys_exhausted"] = pool.given >= len(pool.bodies)
        model = json.loads(Client(port).request("GET", "/model")[1])
        result["cache"] = model["cache"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    result["http_vs_in_process"] = round(
        result["http_bulk_variants_per_s"] / result["in_process_variants_per_s"], 3
    )
    result["rss_growth_over_load"] = round(result["rss_end_mb"] / result["rss_start_mb"] - 1, 3)
    result["median_load_rps"] = round(result["load_requests"] / args.load_seconds, 1)
    result["keys"] = "cold: every key asked once, except the warm_* phase (cached answers)"
    result["cpu_count"] = os.cpu_count()
    result["python"] = sys.version.split()[0]
    return result


def store_keys(service: PredictionService, n: int) -> list[str]:
    """The first ``n`` store keys the evidence model can judge (real variants)."""
    keys = [k for k, body in service._base.items() if '"error":null' in body]
    return (keys * (n // max(1, len(keys)) + 1))[:n]


def in_process_rate(service: PredictionService, keys: list[str], repeats: int) -> float:
    """Variants/s of ``predict_json`` on parsed 10,000-variant requests (the endpoint's work)."""
    variants = [VariantIn(variant=k) for k in keys]
    start = time.perf_counter()
    for _ in range(repeats):
        service.predict_json(variants)
    return repeats * len(variants) / (time.perf_counter() - start)


def wait_explained(port: int, limit_s: float = 600) -> float:
    """Seconds until the background thread has explained every store variant."""
    start = time.perf_counter()
    client = Client(port)
    while time.perf_counter() - start < limit_s:
        cache = json.loads(client.request("GET", "/model")[1])["cache"]
        if cache["explained"] >= cache["scored"]:
            break
        time.sleep(1)
    return time.perf_counter() - start


def http_bulk_rate(port: int, keys: list[str], repeats: int) -> float:
    body = json.dumps({"variants": [{"variant": k} for k in keys]}).encode()
    client = Client(port)
    start = time.perf_counter()
    for _ in range(repeats):
        status, _ = client.request("POST", "/predict", body)
        assert status == 200, status
    return repeats * len(keys) / (time.perf_counter() - start)


def measure_preloaded(args: argparse.Namespace) -> dict[str, Any]:
    configure_runtime_env()
    service = PredictionService.load()
    service.warm_explanations(num_threads=2)
    keys = store_keys(service, BULK)
    result: dict[str, Any] = {
        "store_rows": len(service.store),
        "in_process_variants_per_s": round(in_process_rate(service, keys, args.repeats)),
        "in_process_definition": "PredictionService.predict_json on parsed 10,000-variant lists",
    }
    del service
    port = free_port()
    process, startup = start_server(port)
    try:
        result["startup_s"] = round(startup, 2)
        result["explain_warmup_s"] = round(wait_explained(port), 1)
        result["rss_after_startup_mb"] = rss_mb(process.pid)
        result["http_bulk_variants_per_s"] = round(http_bulk_rate(port, keys, args.repeats))
        result["p50_ms"], result["p99_ms"], result["errors"] = {}, {}, {}
        for n in CONCURRENCY:
            per_client = max(50, args.latency_requests // n)
            pool = KeyPool(keys[:2000], cycle=True)  # a preloaded store: every answer is ready
            record_level(result, n, *run_pool(port, pool, n, lambda done, m=per_client: done < m))
        pool = KeyPool(keys[:2000], cycle=True)
        result.update(sustained_load(port, pool, process.pid, args.load_seconds))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    result["http_vs_in_process"] = round(
        result["http_bulk_variants_per_s"] / result["in_process_variants_per_s"], 3
    )
    result["median_load_rps"] = round(result["load_requests"] / args.load_seconds, 1)
    result["cpu_count"] = os.cpu_count()
    result["python"] = sys.version.split()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--store", type=Path, help="serve this store (default: the home's)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="10,000-variant requests (default: 5, with --store 3)",
    )
    parser.add_argument(
        "--cache-rows",
        type=int,
        default=20_000,
        help="VIPREDICT_CACHE_ROWS of the service (full before the load phase)",
    )
    parser.add_argument(
        "--latency-requests",
        type=int,
        default=2000,
        help="single-variant requests per concurrency level",
    )
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="VIPREDICT_WORKERS of the service (default: the service's own "
        "choice, one per core for a store answered on demand)",
    )
    args = parser.parse_args()
    if args.workers is not None:
        os.environ["VIPREDICT_WORKERS"] = str(args.workers)
    if args.store is None:
        args.repeats = args.repeats or 5
        workers = service_workers()
        result = measure_preloaded(args)
    else:
        args.repeats = args.repeats or 3
        os.environ["VIPREDICT_CACHE_ROWS"] = str(args.cache_rows)
        with serving_home(args.store):
            workers = service_workers()
            result = measure_store(args)
    result["workers"] = workers
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
