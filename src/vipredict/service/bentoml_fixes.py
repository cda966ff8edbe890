"""A narrow fix for a BentoML 1.4 memory retention bug that the service would otherwise inherit.

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
``timer.cancel()`` when the request ends. It is applied only to the BentoML
versions it was verified on; any other version is left untouched (and the
service benchmark's RSS check will say whether it needs the fix).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)

#: BentoML versions whose TimeoutMiddleware was read and found to leak its timer handles.
VERIFIED_BENTOML_VERSIONS = frozenset({"1.4.39"})

#: BentoML's own ``__call__``, kept when the patch goes in (the tests compare both).
UNPATCHED: dict[str, Any] = {}


async def _call_with_cancelled_timer(self: Any, scope: Any, receive: Any, send: Any) -> None:
    """BentoML's ``TimeoutMiddleware.__call__`` (1.4.39), plus ``timer.cancel()`` at the end."""
    if scope["type"] not in ("http", "websocket"):
        await self.app(scope, receive, send)
        return
    from starlette.responses import JSONResponse

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
            await JSONResponse({"error": message}, status_code=504)(scope, receive, send)
    else:
        await handler
    finally:
        timer.cancel()


def cancel_timeout_timers() -> bool:
    """Patch BentoML's TimeoutMiddleware on verified versions; True when the patch is in place."""
    import bentoml
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    if bentoml.__version__ not in VERIFIED_BENTOML_VERSIONS:
        logger.warning(
            "bentoml %s is not in %s: TimeoutMiddleware left as is; check the serving "
            "benchmark's RSS before relying on flat memory",
            bentoml.__version__,
            sorted(VERIFIED_BENTOML_VERSIONS),
        )
        return False
    if TimeoutMiddleware.__call__ is not _call_with_cancelled_timer:
        UNPATCHED["__call__"] = TimeoutMiddleware.__call__
    TimeoutMiddleware.__call__ = _call_with_cancelled_timer  # type: ignore[method-assign]
    return True
