"""Narrow fixes of BentoML 1.4 middlewares that the service would otherwise inherit.

Three middlewares run outside vipredict's own
(:class:`~vipredict.service.security.SecurityMiddleware`):

* ``TimeoutMiddleware`` leaks a timer per request (below), and its 504 lacked the
  security headers every answer carries.
* ``RunnerTrafficMetricsMiddleware`` labels its Prometheus series with the raw
  request path, before any key check: ``/metrics`` then lists every queue id asked
  for, and each unique path adds a series to the multiprocess files under
  ``VIPREDICT_HOME`` (184 KiB per 8 KB path measured), so anyone could fill the
  disk that holds ``queue.db``. The fix labels by route template
  (``/queue/{queue_id}``), and anything no route matches as :data:`UNMATCHED`.
* ``MaxConcurrencyMiddleware`` answers 429 past ``max_concurrency``; the service is
  overloaded, not the client rate-limited, so the fix answers 503 with Retry-After.

And one choice of configuration, :func:`tracing_config`: BentoML's OpenTelemetry
middleware makes a span for every request even when tracing keeps none.

Timer leak:

BentoML's ``TimeoutMiddleware`` schedules ``loop.call_later(timeout, ...)`` for
every HTTP request and never cancels the handle once the response is sent. Each
pending handle keeps a copy of the request's ``contextvars`` context alive (the
OpenTelemetry span, BentoML's request context, ...) until the timer fires, about
4.5 kB per request. With the 300 s request timeout vipredict needs for large VCF
uploads, a pipeline sending 750 single-variant requests per second grows the
worker by about 1 GB before the first timers expire. Traced with ``gc.get_referrers``
from the retained spans to ``TimerHandle <TimeoutMiddleware._set_timer_out>`` in
the event loop's ``_scheduled`` heap (bentoml 1.4.39).

The fix replaces ``TimeoutMiddleware.__call__`` with the same logic plus one
``timer.cancel()`` when the request ends. Every fix is applied only to the BentoML
versions it was verified on; any other version is left untouched (and the
service benchmark's RSS check and the hostile-input tests say whether it needs them).
"""

from __future__ import annotations

import asyncio
import logging
from timeit import default_timer
from typing import Any

from starlette.routing import Match, Mount

from vipredict.service.security import ServingError, send_error, with_security_headers

logger = logging.getLogger(__name__)
#: The metrics label of a request no route matches (one series, whatever the path).
UNMATCHED = "<unmatched>"

#: BentoML versions whose TimeoutMiddleware was read and found to leak its timer handles.
VERIFIED_BENTOML_VERSIONS = frozenset({"1.4.39"})

#: BentoML's own ``__call__``, kept when the patch goes in (the tests compare both).
UNPATCHED: dict[str, Any] = {}


async def _call_with_cancelled_timer(self: Any, scope: Any, receive: Any, send: Any) -> None:
    """BentoML's ``TimeoutMiddleware.__call__`` (1.4.39), plus ``timer.cancel()`` at the end."""
    if scope["type"] not in ("http", "websocket"):
        await self.app(scope, receive, send)
        return
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

    async def _send(message: Any) -> None:
        if not waiter.done():
            waiter.set_result(None)
        await send(message)

    handler = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
    try:
        await waiter
    except TimeoutError:
        if handler.cancel():
            message = f"Not able to process the request in {self.timeout} seconds"
            await send_error(with_security_headers(scope, send), ServingError(504, message))
    else:
        await handler
    finally:
        timer.cancel()


def _verified(what: str) -> bool:
    import bentoml

    if bentoml.__version__ in VERIFIED_BENTOML_VERSIONS:
        return True
    logger.warning(
        "bentoml %s is not in %s: %s left as is; run the serving benchmark and the "
        "hostile-input tests before relying on it",
        bentoml.__version__,
        sorted(VERIFIED_BENTOML_VERSIONS),
        what,
    )
    return False


def _patch_call(owner: Any, key: str, replacement: Any) -> bool:
    """Put ``replacement`` in place of ``owner.__call__`` on verified BentoML versions,
    keeping the original in :data:`UNPATCHED` under ``key``; True when it is in place."""
    if not _verified(owner.__name__):
        return False
    if owner.__call__ is not replacement:
        UNPATCHED[key] = owner.__call__
    owner.__call__ = replacement
    return True


def cancel_timeout_timers() -> bool:
    """Patch BentoML's TimeoutMiddleware on verified versions; True when the patch is in place."""
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    return _patch_call(TimeoutMiddleware, "__call__", _call_with_cancelled_timer)


# --------------------------------------------------------------------------- metrics


def route_template(scope: Any) -> str:
    """The template of the route ``scope`` goes to (``/queue/{queue_id}``), or UNMATCHED.

    Starlette puts the application in the scope before its middlewares run, so the
    routes are read from there and matched as its router would match them.
    """
    routes = getattr(scope.get("app"), "routes", None) or []
    return _template(routes, scope, "") or UNMATCHED


def _template(routes: list[Any], scope: Any, prefix: str) -> str | None:
    """The first full match's template (else the first partial's: a wrong method)."""
    partial = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        found = _route_path(route, {**scope, **child}, prefix)
        if found and match is Match.FULL:
            return found
        partial = partial or found
    return partial


def _route_path(route: Any, scope: Any, prefix: str) -> str | None:
    """A matched route's template; mounts and FastAPI's included routers are searched."""
    if isinstance(route, Mount):
        inner = route.routes
        if not inner:  # static files and other leaf apps
            return f"{prefix}{route.path}/{{path:path}}"
        return _template(inner, scope, prefix + route.path)
    included = getattr(route, "original_router", None)  # FastAPI >= 0.16x include_router
    if included is not None:
        context = getattr(route, "include_context", None)
        return _template(included.routes, scope, prefix + getattr(context, "prefix", ""))
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return None if path is None else prefix + path


async def _metrics_by_route(self: Any, scope: Any, receive: Any, send: Any) -> None:
    """BentoML's ``RunnerTrafficMetricsMiddleware.__call__`` (1.4.39) for HTTP, with the
    ``endpoint`` label the route template instead of the raw path."""
    if scope["type"] != "http" or scope["path"] == "/metrics":
        await UNPATCHED["metrics"](self, scope, receive, send)
        return
    if not self._is_setup:
        self._setup()
    from bentoml._internal.context import server_context

    names = {
        "endpoint": route_template(scope),
        "service_name": server_context.bento_name,
        "service_version": server_context.bento_version,
        "runner_name": server_context.service_name,
    }
    if not scope["path"].startswith(tuple(self.skip_paths)):
        self.metrics_last_request_timestamp.labels(
            **{k: v for k, v in names.items() if k != "endpoint"}
        ).set_to_current_time()
    start, status = default_timer(), 0

    async def counted(message: Any) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            self.metrics_request_total.labels(**names, http_response_code=status).inc()
            self.metrics_request_duration.labels(**names, http_response_code=status).observe(
                max(default_timer() - start, 0)
            )
        await send(message)

    with self.metrics_request_in_progress.labels(**names).track_inprogress():
        await self.app(scope, receive, counted)


def label_metrics_by_route() -> bool:
    """Patch BentoML's traffic metrics to label by route template; True when in place."""
    from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware

    return _patch_call(RunnerTrafficMetricsMiddleware, "metrics", _metrics_by_route)


# --------------------------------------------------------------------------- concurrency


async def _overloaded_is_503(self: Any, scope: Any, receive: Any, send: Any) -> None:
    """BentoML's ``MaxConcurrencyMiddleware.__call__`` (1.4.39), answering 503 past the cap."""
    if scope["type"] not in ("http", "websocket") or scope["path"] in self.skip_paths:
        await self.app(scope, receive, send)
        return
    if self._semaphore.locked():
        error = ServingError(503, "the service is at its max_concurrency: retry shortly")
        await send_error(with_security_headers(scope, send), error)
        return
    async with self._semaphore:
        await self.app(scope, receive, send)


def overload_answers_503() -> bool:
    """Patch BentoML's MaxConcurrencyMiddleware to answer 503; True when in place."""
    from bentoml._internal.server.http.traffic import MaxConcurrencyMiddleware

    return _patch_call(MaxConcurrencyMiddleware, "concurrency", _overloaded_is_503)


#: OpenTelemetry's exclusion pattern (``re.search`` on the URL) that every request matches.
EVERY_URL = "/"


def tracing_config() -> dict[str, Any]:
    """The service's ``tracing`` configuration: every route left out when no trace is kept.

    BentoML's OpenTelemetry middleware opens a span per request whatever the
    sampling; at its default sample rate (none, read as 0) no span is ever kept, and
    the spans cost the worker's event loop about 0.3-0.6 ms of CPU per request (a
    fifth of a cached single-variant answer's, measured on loopback). So when
    ``tracing.sample_rate`` is unset or 0 (``BENTOML_CONFIG``, read before the
    service is imported), requests skip the middleware (and answer without
    ``X-BentoML-Request-ID``, the id of a span nobody keeps); with a sample rate
    set, every request is traced as BentoML does.
    """
    from bentoml._internal.configuration.containers import BentoMLContainer

    if BentoMLContainer.config.tracing.sample_rate.get():
        return {}
    return {"excluded_urls": [EVERY_URL]}


def apply_fixes() -> bool:
    """Every fix of this module; True when all are in place."""
    return all([cancel_timeout_timers(), label_metrics_by_route(), overload_answers_503()])
