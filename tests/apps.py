"""A second BentoML app in the test process, with settings of its own (keys, limits).

BentoML assumes one app per process: its Prometheus series are registered in one
global registry when an app starts (a second start raises ``DuplicateTimeseries``),
and the model app's routes find "the" service instance in a global that an app's
shutdown clears. :func:`started_app` starts the service with its own registry and
puts back whatever instance was current, so the session's app (``client`` in
``tests/service/conftest.py``) keeps working beside it, whichever starts first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from homes import with_home
from starlette.testclient import TestClient

from vipredict.config import Settings


def join_explanation_threads() -> None:
    """Wait for the explanation warm-up of every app started in this process.

    It is a daemon thread inside LightGBM: it must end before the interpreter does,
    or its C++ side aborts the process at exit.
    """
    from vipredict.service.bento import EXPLAIN_THREAD

    for thread in threading.enumerate():
        if thread.name == EXPLAIN_THREAD:
            thread.join(timeout=60)


def _current_service(get: Callable[[], Any]) -> Any:
    """The service instance an app already started in this process made current, or None."""
    from bentoml.exceptions import BentoMLException

    try:
        return get()
    except BentoMLException:  # no app started yet
        return None


@contextmanager
def started_app(
    home: Settings, headers: dict[str, str] | None = None, **env: str
) -> Iterator[TestClient]:
    """The BentoML service started on ``home`` with ``env`` (``VIPREDICT_*`` settings) set."""
    from _bentoml_sdk.service import get_current_service, set_current_service
    from bentoml._internal.configuration.containers import BentoMLContainer
    from prometheus_client import CollectorRegistry

    from vipredict.service.bento import VariantPredictor

    metrics = BentoMLContainer.metrics_client.get()
    shared, current = metrics.registry, _current_service(get_current_service)
    patch = with_home(home)
    for name, value in env.items():
        patch.setenv(name, value)
    try:
        metrics._registry = CollectorRegistry()
        with TestClient(VariantPredictor.to_asgi(), headers=headers) as app:
            metrics._registry = shared
            patch.undo()
            yield app
    finally:
        metrics._registry = shared
        if current is not None:
            set_current_service(current)
        patch.undo()
        join_explanation_threads()
