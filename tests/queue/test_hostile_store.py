"""A queue name as long as the request lets in fits the database (issue 16).

The request's text fields allow 256 characters while ``queues.name`` was a
VARCHAR(200): SQLite ignores the length, PostgreSQL refuses the INSERT, and the
client got a 500. The column's length and the name check are one declared limit
(:data:`MAX_QUEUE_NAME`), and a longer name is a 422 ``queue_name_too_long``.
Only SQLite runs here (no PostgreSQL on CI), so the test checks the declared
column length against the limit the store enforces, and the HTTP answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from apps import started_app
from starlette.testclient import TestClient

from vipredict.config import Settings
from vipredict.queue.ranking import QueueInputError
from vipredict.queue.store import MAX_QUEUE_NAME, QUEUES, QueueStore

KEY = "hostile-store-key"


@pytest.fixture(scope="module")
def client(tiny_home: Settings) -> Iterator[TestClient]:
    """The BentoML app on the tiny home with a key (queue writes need one)."""
    with started_app(tiny_home, {"X-API-Key": KEY}, VIPREDICT_API_KEYS=KEY) as app:
        yield app


def test_hostile_the_queue_name_column_is_as_long_as_the_name_check():
    assert QUEUES.c.name.type.length == MAX_QUEUE_NAME


def test_hostile_a_name_past_the_limit_is_refused_by_name(store: QueueStore, ranked: pd.DataFrame):
    limit = MAX_QUEUE_NAME
    kept = store.save(
        ranked, name="n" * limit, ordering="settle", filters={}, source="t", models={}
    )
    assert store.meta(kept)["name"] == "n" * limit
    with pytest.raises(QueueInputError) as refused:
        store.save(
            ranked, name="n" * (limit + 1), ordering="settle", filters={}, source="t", models={}
        )
    assert refused.value.reason == "queue_name_too_long"


@pytest.mark.parametrize("length", [201, 256])
def test_hostile_a_long_queue_name_is_a_named_422_and_the_service_answers_after(
    client: TestClient, sample_keys: list[str], length: int
):
    variants = [{"variant": key} for key in sample_keys[:3]]
    answer = client.post("/queue", json={"variants": variants, "name": "q" * length})
    assert answer.status_code == 422, answer.text
    assert answer.json()["reason"] == "queue_name_too_long"
    assert client.get("/readyz").status_code == 200
    good = client.post("/queue", json={"variants": variants, "name": "q" * 200})
    assert good.status_code == 200 and good.json()["name"] == "q" * 200


def test_hostile_long_keys_and_warnings_fit_the_postgresql_schema():
    """A key may hold 1,000-base alleles and a warning list has no fixed length: the tables
    PostgreSQL would create hold them (they were VARCHAR(200): a 500 on PostgreSQL)."""
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    from vipredict.queue.store import DECISION_TABLE, ITEMS, widened_text_columns

    for table in (ITEMS, DECISION_TABLE):
        ddl = str(CreateTable(table).compile(dialect=postgresql.dialect()))
        assert "VARCHAR(200)" not in ddl, table.name
    assert ITEMS.c.variant.type.length is None and DECISION_TABLE.c.variant.type.length is None
    assert ITEMS.c.annotation_warnings.type.length is None
    assert widened_text_columns(QueueStore("sqlite://").engine) == []  # SQLite: no lengths
