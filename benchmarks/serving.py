"""Benchmark the prediction service on loopback: in-process vs HTTP, latency, sustained load.

Usage: ``python benchmarks/serving.py --output results/serving.json`` (uses the
champions under ``VIPREDICT_HOME``). Variants are real keys from the feature store.
Client and server share the machine's cores, so HTTP latencies include the
client's own CPU time; the client uses ``http.client`` keep-alive connections to
keep that small.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vipredict.config import configure_runtime_env
from vipredict.service.bento import SERVICE_REF
from vipredict.service.predictor import PredictionService
from vipredict.service.schemas import VariantIn

BULK = 10_000
CONCURRENCY = (1, 8, 32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        [sys.executable, "-m", "bentoml", "serve", SERVICE_REF,
         "--host", "127.0.0.1", "--port", str(port)],
        env=os.environ.copy(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    while time.perf_counter() - start < 300:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if Client(port).request("GET", "/readyz")[0] == 200:
                return process, time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server not ready within 300 s")


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


def run_clients(port: int, keys: list[str], n_clients: int,
                keep_going: Callable[[int], bool]) -> tuple[list[float], int]:
    """``n_clients`` threads of single-variant requests; latencies (ms) and error count."""
    bodies = [json.dumps({"variants": [{"variant": k}]}).encode() for k in keys[:2000]]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(offset: int) -> None:
        client, done, mine = Client(port), 0, []
        while keep_going(done):
            body = bodies[(offset + done * n_clients) % len(bodies)]
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

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    configure_runtime_env()
    service = PredictionService.load()
    service.warm_explanations(num_threads=2)
    keys = store_keys(service, BULK)
    result: dict[str, Any] = {
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
        result["p50_ms"], result["p99_ms"] = {}, {}
        for n in CONCURRENCY:
            per_client = max(50, args.latency_requests // n)
            latencies, _ = run_clients(port, keys, n, lambda done, m=per_client: done < m)
            result["p50_ms"][str(n)] = percentile(latencies, 0.50)
            result["p99_ms"][str(n)] = percentile(latencies, 0.99)
        # Start of the leak check: after the bulk and latency phases have grown the
        # allocator's arenas to their working size, so growth below is what load adds.
        result["rss_start_mb"] = rss_mb(process.pid)
        deadline = time.perf_counter() + args.load_seconds
        latencies, errors = run_clients(port, keys, 8, lambda _: time.perf_counter() < deadline)
        result.update(load_seconds=args.load_seconds, load_requests=len(latencies),
                      load_errors=errors, load_p99_ms=percentile(latencies, 0.99),
                      rss_end_mb=rss_mb(process.pid))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    result["http_vs_in_process"] = round(
        result["http_bulk_variants_per_s"] / result["in_process_variants_per_s"], 3)
    result["median_load_rps"] = round(result["load_requests"] / args.load_seconds, 1)
    result["cpu_count"] = os.cpu_count()
    result["python"] = sys.version.split()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5, help="10,000-variant requests")
    parser.add_argument("--latency-requests", type=int, default=2000,
                        help="single-variant requests per concurrency level")
    parser.add_argument("--load-seconds", type=float, default=60.0)
    args = parser.parse_args()
    result = measure(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
