"""The TimeoutMiddleware fix: timers cancelled when a request ends; timeouts still give 504."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bentoml._internal.server.http.traffic import TimeoutMiddleware

from vipredict.service import bentoml_fixes


async def _ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _slow_app(scope: Any, receive: Any, send: Any) -> None:
    await asyncio.sleep(5)
    await _ok_app(scope, receive, send)


async def _serve(app: Any, timeout: float, n_requests: int) -> tuple[list[dict], int]:
    """Send requests through the middleware; messages sent and its timers still pending after."""
    middleware, sent = TimeoutMiddleware(app, timeout=timeout), []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    for _ in range(n_requests):
        await middleware({"type": "http", "path": "/", "method": "GET"}, receive, send)
    loop = asyncio.get_running_loop()
    # The loop's timer heap is private, but it is exactly what held the memory.
    pending = [
        h
        for h in loop._scheduled  # type: ignore[attr-defined]
        if not h.cancelled() and getattr(h._callback, "__name__", "") == "_set_timer_out"
    ]
    return sent, len(pending)


@pytest.fixture(autouse=True)
def restore_middleware() -> Any:
    """Importing the service patches the class for the whole session: put back what was there."""
    before = TimeoutMiddleware.__call__
    yield
    TimeoutMiddleware.__call__ = before


@pytest.fixture
def patched() -> None:
    assert bentoml_fixes.cancel_timeout_timers()


@pytest.fixture
def unpatched() -> None:
    bentoml_fixes.cancel_timeout_timers()  # records BentoML's own __call__ if not yet recorded
    TimeoutMiddleware.__call__ = bentoml_fixes.UNPATCHED["__call__"]


@pytest.mark.usefixtures("patched")
def test_finished_requests_leave_no_timer_behind() -> None:
    sent, pending = asyncio.run(_serve(_ok_app, timeout=300, n_requests=50))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [200] * 50
    assert pending == 0


@pytest.mark.usefixtures("unpatched")
def test_unpatched_bentoml_keeps_one_timer_per_request() -> None:
    """Why the fix exists: if this fails, BentoML fixed it upstream and the patch can go."""
    _, pending = asyncio.run(_serve(_ok_app, timeout=300, n_requests=50))
    assert pending == 50


@pytest.mark.usefixtures("patched")
def test_a_slow_request_still_times_out_with_504() -> None:
    sent, pending = asyncio.run(_serve(_slow_app, timeout=0.05, n_requests=1))
    assert sent[0]["status"] == 504
    assert b"0.05 seconds" in sent[1]["body"]
    assert pending == 0


@pytest.mark.usefixtures("unpatched")
def test_unverified_versions_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import bentoml

    original = TimeoutMiddleware.__call__
    monkeypatch.setattr(bentoml, "__version__", "9.9.9")
    assert not bentoml_fixes.cancel_timeout_timers()
    assert TimeoutMiddleware.__call__ is original


def test_untraced_when_no_trace_is_kept() -> None:
    """At BentoML's default sample rate (unset) every request skips the span middleware."""
    from opentelemetry.util.http import ExcludeList

    excluded = ExcludeList(bentoml_fixes.tracing_config()["excluded_urls"])
    for url in (
        "http://127.0.0.1:3000/predict",
        "http://localhost:3000/predict/vcf?format=va",
        "http://[::1]:3000/queue/abc/decisions",
        "http://127.0.0.1:3000/ui",
    ):
        assert excluded.url_disabled(url), url


def test_traced_as_bentoml_does_when_sampling_is_configured() -> None:
    """A sample rate set in BentoML's configuration keeps its tracing untouched."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    rate = BentoMLContainer.config.tracing.sample_rate
    before = rate.get()
    rate.set(0.25)
    try:
        assert bentoml_fixes.tracing_config() == {}
    finally:
        rate.set(before)
    assert bentoml_fixes.tracing_config() != {}
