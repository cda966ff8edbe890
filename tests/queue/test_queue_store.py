"""The queue store: round trip, decisions and their history, named refusals, durability pragmas.

Set ``VIPREDICT_TEST_QUEUE_URL`` (e.g. ``postgresql+psycopg://...``) to run the
same tests against PostgreSQL as well; SQLite always runs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from vipredict.config import Settings
from vipredict.queue.ranking import QueueInputError
from vipredict.queue.store import Decision, QueueNotFoundError, QueueStore

BACKENDS = ["sqlite"] + (["external"] if os.environ.get("VIPREDICT_TEST_QUEUE_URL") else [])


@pytest.fixture(params=BACKENDS)
def any_store(request, tmp_path: Path) -> QueueStore:
    if request.param == "sqlite":
        return QueueStore(f"sqlite:///{tmp_path / 'queue.db'}")
    return QueueStore(os.environ["VIPREDICT_TEST_QUEUE_URL"])


def _save(store: QueueStore, ranked: pd.DataFrame) -> str:
    return store.save(
        ranked,
        name="sample",
        ordering="settle",
        filters={"genes": []},
        source="test",
        models={"evidence": {"name": "vipredict-noaf"}},
    )


def _first_key(ranked: pd.DataFrame) -> str:
    return str(ranked.loc[ranked["error"] == "", "variant"].iloc[0])


def test_round_trip_keeps_rank_values_and_missing(any_store: QueueStore, ranked: pd.DataFrame):
    queue_id = _save(any_store, ranked)
    record = any_store.load(queue_id)
    assert record.meta["n_items"] == len(ranked) and record.meta["filters"] == {"genes": []}
    items = record.items
    assert items["rank"].tolist() == ranked["rank"].tolist()
    assert items["variant"].fillna("").tolist() == ranked["variant"].fillna("").tolist()
    assert items["reason"].tolist() == ranked["reason"].tolist()
    for stored, original in zip(items["settle"], ranked["settle"], strict=True):
        assert (
            (stored is None or math.isnan(stored))
            if pd.isna(original)
            else (stored == pytest.approx(original))
        )
    assert items["acmg_sf"].tolist() == ranked["acmg_sf"].tolist()
    page = any_store.load(queue_id, offset=3, limit=5)
    assert page.items["rank"].tolist() == [4, 5, 6, 7, 8]


def test_latest_decision_wins_and_history_is_kept(any_store: QueueStore, ranked: pd.DataFrame):
    queue_id = _save(any_store, ranked)
    key = _first_key(ranked)
    first = any_store.decide(queue_id, Decision.create(key, "defer", "cur-1", "ask lab"))
    second = any_store.decide(queue_id, Decision.create(key.lower(), "ACCEPT", " cur-2 "))
    assert second["id"] > first["id"] and second["variant"] == key
    item = any_store.load(queue_id).items.set_index("variant").loc[key]
    assert (item["decision"], item["curator"], item["note"]) == ("accept", "cur-2", "")
    assert item["decided_at"] == second["decided_at"]
    history = any_store.history(queue_id)
    assert history["decision"].tolist() == ["defer", "accept"]
    assert history["note"].tolist() == ["ask lab", ""]


@pytest.mark.parametrize("queue_id", ["nope", "0" * 32, "'; DROP TABLE queues; --"])
def test_unknown_queue_is_named(any_store: QueueStore, queue_id: str):
    with pytest.raises(QueueNotFoundError) as caught:
        any_store.load(queue_id)
    assert caught.value.reason == "unknown_queue"


def test_decision_on_a_variant_outside_the_queue_is_refused(any_store: QueueStore, ranked):
    queue_id = _save(any_store, ranked)
    with pytest.raises(QueueNotFoundError) as caught:
        any_store.decide(queue_id, Decision.create("GRCh37:1:1:A:G", "accept", "cur"))
    assert caught.value.reason == "unknown_variant"
    assert any_store.history(queue_id).empty


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (("GRCh37:1:955563:G:C", "maybe", "cur", ""), "invalid_decision"),
        (("GRCh37:1:955563:G:C", None, "cur", ""), "invalid_decision"),
        (("GRCh37:1:955563:G:C", "accept", "  ", ""), "missing_curator"),
        (("GRCh37:1:955563:G:C", "accept", 7, ""), "missing_curator"),
        (("GRCh37:1:955563:G:C", "accept", "c" * 101, ""), "curator_too_long"),
        (("GRCh37:1:955563:G:C", "accept", "cur", "n" * 4001), "invalid_note"),
        (("GRCh37:1:955563:G:C", "accept", "cur", 5), "invalid_note"),
        (("not a key", "accept", "cur", ""), "malformed_record"),
        ((None, "accept", "cur", ""), "malformed_record"),
        (("hg18:1:5:A:G", "accept", "cur", ""), "unknown_build"),
    ],
)
def test_bad_decisions_are_named(fields, reason: str):
    with pytest.raises(QueueInputError) as caught:
        Decision.create(*fields)
    assert caught.value.reason == reason


def test_sqlite_runs_in_wal_with_full_sync(store: QueueStore):
    with store.engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(sa.text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_settings_choose_the_database(tmp_path: Path):
    assert Settings(home=tmp_path, data_mirror=None).queue_url == f"sqlite:///{tmp_path}/queue.db"
    url = "postgresql+psycopg://curator@db.example/queue"
    assert Settings(home=tmp_path, data_mirror=None, queue_url_override=url).queue_url == url
