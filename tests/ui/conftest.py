"""Fixtures of the curators' page tests: the service started on a home, with keys.

The fast tests use the SYNTHETIC tiny home (made-up variants through the real
builders: no figure is read from it); the browser test uses the real trained home.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apps import started_app
from starlette.testclient import TestClient

from vipredict.config import Settings
from vipredict.store.partitioned import Store

#: The curator a key names, and the key (``VIPREDICT_API_KEYS=curator:KEY``).
CURATOR, KEY = "ui-curator", "ui-key-0123456789"
#: ``VIPREDICT_MAX_BYTES`` of the fast tests' app: a small upload limit to go past.
MAX_BYTES = 20_000


def store_keys(home: Settings, n: int) -> list[str]:
    """The first ``n`` keys of a home's store, in key order (repeatable picks)."""
    table = Store.open(home).read_all().sort_values("variant")
    return table["variant"].astype(str).head(n).tolist()


@pytest.fixture(scope="module")
def queue_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui-queue") / "queue.db"


@pytest.fixture(scope="module")
def keyed_app(tiny_home: Settings, queue_db: Path) -> Iterator[TestClient]:
    """The BentoML service on the tiny home with one curator's key and a small byte limit."""
    with started_app(
        tiny_home,
        VIPREDICT_API_KEYS=f"{CURATOR}:{KEY}",
        VIPREDICT_QUEUE_URL=f"sqlite:///{queue_db}",
        VIPREDICT_MAX_BYTES=str(MAX_BYTES),
    ) as app:
        yield app
