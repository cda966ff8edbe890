"""A per-request deadline that long loops check, so work stops when its answer is no longer awaited.

BentoML answers 504 when a request outlives its timeout, but it only cancels the
asyncio task: the thread doing the parsing or scoring keeps running and holds the
one thread every ``/predict*`` call waits for. So the request's deadline is set
once, where every request enters (:class:`~vipredict.service.security.SecurityMiddleware`,
with :func:`within`), in a :class:`~contextvars.ContextVar` that follows the request
into the worker thread (anyio copies the context); the long loops call :func:`check`
every few hundred items and stop with :class:`DeadlineExceeded`.

Outside a request (the CLI, tests, batch jobs) no deadline is set and :func:`check`
costs one lookup. The module imports nothing from vipredict, and sits in the lowest layer:
Every layer may call :func:`check`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: (monotonic time after which the current request's work stops, its length in s); None
#: outside requests.
_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("vipredict_deadline", default=None)


class DeadlineExceeded(Exception):
    """The request's time is up: its loop stops; the client already has (or gets) a 504."""

    status = 504

    def __init__(self, seconds: float) -> None:
        self.message = f"request took longer than its {seconds:g} s deadline and was stopped"
        super().__init__(self.message)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Run the enclosed request with a deadline ``seconds`` from now (nested: the earlier wins)."""
    ends = (time.monotonic() + seconds, seconds)
    current = _DEADLINE.get()
    token = _DEADLINE.set(ends if current is None else min(current, ends))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left for the current request, or None outside one."""
    current = _DEADLINE.get()
    return None if current is None else current[0] - time.monotonic()


def check() -> None:
    """Raise :class:`DeadlineExceeded` once the current request's deadline has passed.

    Cheap (one context lookup and one clock read): call it every few hundred items.
    """
    current = _DEADLINE.get()
    if current is not None and time.monotonic() > current[0]:
        raise DeadlineExceeded(current[1])
