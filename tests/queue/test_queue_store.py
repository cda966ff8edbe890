"""The queue store: round trip, decisions and their history, named refusals, durability pragmas,
and the upgrade of a database made before the items carried every result column.

The queues stored here are SYNTHETIC (the tiny home's made-up variants). Set
``VIPREDICT_TEST_QUEUE_URL`` (e.g. ``postgresql+psycopg://...``) to run the same
tests against PostgreSQL as well; SQLite always runs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from vipredict.config import Settings
from vipredict.queue.ranking import ITEM_COLUMNS, QueueInputError
from vipredict.queue.store import (
    DECISION_TABLE,
    QUEUES,
    Decision,
    QueueNotFoundError,
    QueueStore,
    _item_column,
    add_missing_item_columns,
)

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


def _texts(values: pd.Series) -> list[str | None]:
    """Text values with every kind of missing (None, NaN, pd.NA) as None."""
    return [None if pd.isna(v) else str(v) for v in values]


#: Result columns the items gained (text); each must come back exactly as stored.
NEW_TEXT_COLUMNS = (
    "profile",
    "annotation_warnings",
    "frequency_source",
    "BA1",
    "BS1",
    "PM2_Supporting",
    "next_level",
    "priority_model",
    "model",
    "model_version",
    "run_id",
    "error_detail",
)


def test_round_trip_keeps_rank_values_and_missing(any_store: QueueStore, ranked: pd.DataFrame):
    """Synthetic queue: ranks, reasons, numbers, NULLs and every result column come back."""
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
    # MIS_PRD comes back a nullable integer, null exactly where the variant was not scored
    assert str(items["mis_prd"].dtype) == "Int64"
    assert items["mis_prd"].isna().tolist() == ranked["error"].fillna("").ne("").tolist()
    assert items["mis_prd"].dropna().tolist() == ranked["mis_prd"].dropna().tolist()
    for column in NEW_TEXT_COLUMNS:
        assert _texts(items[column]) == _texts(ranked[column]), column
    assert set(items["BA1"]) >= {"met", "not_met", "unknown"}
    page = any_store.load(queue_id, offset=3, limit=5)
    assert page.items["rank"].tolist() == [4, 5, 6, 7, 8]


def test_latest_decision_wins_and_history_is_kept(any_store: QueueStore, ranked: pd.DataFrame):
    """Synthetic queue: decisions are appended; the newest is the item's, all stay in history."""
    queue_id = _save(any_store, ranked)
    key = _first_key(ranked)
    first = any_store.decide(queue_id, Decision.create(key, "defer", "cur-1", "ask lab"))
    second = any_store.decide(queue_id, Decision.create(key.lower(), "ACCEPT", " cur-2 "))
    assert second["id"] > first["id"] and second["variant"] == key
    item = any_store.load(queue_id).items.set_index("variant").loc[key]
    assert (item["decision"], item["curator"], item["note"]) == ("accept", "cur-2", "")
    assert item["decided_at"] == second["decided_at"]
    other = str(ranked.loc[ranked["error"] == "", "variant"].iloc[1])
    any_store.decide(queue_id, Decision.create(other, "reject", "cur-1"))
    history = any_store.history(queue_id)
    assert history["decision"].tolist() == ["defer", "accept", "reject"]
    assert history["note"].tolist() == ["ask lab", "", ""]
    mine = any_store.history(queue_id, variant=key)  # one item's, as the variant page asks
    assert mine["decision"].tolist() == ["defer", "accept"] and set(mine["variant"]) == {key}


@pytest.mark.parametrize("queue_id", ["nope", "0" * 32, "'; DROP TABLE queues; --"])
def test_unknown_queue_is_named(any_store: QueueStore, queue_id: str):
    with pytest.raises(QueueNotFoundError) as caught:
        any_store.load(queue_id)
    assert caught.value.reason == "unknown_queue"


def test_decision_on_a_variant_outside_the_queue_is_refused(any_store: QueueStore, ranked):
    """Synthetic queue: a key that is no item of it (GRCh37:1:1:A:G is one, unscored) is refused."""
    queue_id = _save(any_store, ranked)
    assert "GRCh37:1:2:A:G" not in set(ranked["variant"])
    with pytest.raises(QueueNotFoundError) as caught:
        any_store.decide(queue_id, Decision.create("GRCh37:1:2:A:G", "accept", "cur"))
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


#: ``queue_items`` columns of the version before the items carried every result column.
OLD_ITEM_COLUMNS = (
    "rank",
    "input",
    "variant",
    "gene",
    "score",
    "posterior",
    "likelihood_ratio",
    "evidence",
    "points",
    "next_level",
    "next_level_distance",
    "priority_score",
    "agreement",
    "frequency_evidence",
    "frequency_points",
    "max_af",
    "af_band",
    "groups_observed",
    "acmg_sf",
    "gene_validity",
    "settle",
    "uncertainty",
    "reason",
    "error",
)


def _old_database(url: str, ranked: pd.DataFrame) -> str:
    """A queue.db laid out as the earlier version made it, holding one queue; its id."""
    metadata = sa.MetaData()
    QUEUES.to_metadata(metadata)
    DECISION_TABLE.to_metadata(metadata)
    sa.Table(
        "queue_items",
        metadata,
        sa.Column("queue_id", sa.String(32), sa.ForeignKey("queues.id"), primary_key=True),
        *(_item_column(name) for name in OLD_ITEM_COLUMNS),
    )
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    queue_id = "a" * 32
    with engine.begin() as connection:
        connection.execute(
            sa.insert(metadata.tables["queues"]),
            {
                "id": queue_id,
                "name": "old",
                "created_at": "2024-01-01T00:00:00+00:00",
                "ordering": "settle",
                "filters": "{}",
                "source": "old version",
                "models": "{}",
                "n_items": len(ranked),
            },
        )
    old_items = ranked[list(OLD_ITEM_COLUMNS)].assign(queue_id=queue_id)
    old_items.to_sql("queue_items", engine, if_exists="append", index=False)
    engine.dispose()
    return queue_id


def test_an_old_database_gains_the_new_item_columns(tmp_path: Path, ranked: pd.DataFrame):
    """Synthetic queues: a queue.db of the old layout opens, keeps its queue, stores new ones."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old_id = _old_database(url, ranked)
    added = set(ITEM_COLUMNS) - set(OLD_ITEM_COLUMNS)
    assert added == set(NEW_TEXT_COLUMNS) - {"next_level"} | {"mis_prd"}

    store = QueueStore(url)  # opening upgrades the table
    present = {c["name"] for c in sa.inspect(store.engine).get_columns("queue_items")}
    assert present >= set(ITEM_COLUMNS)
    assert add_missing_item_columns(store.engine) == []  # a second opening changes nothing

    old = store.load(old_id).items
    assert old["rank"].tolist() == ranked["rank"].tolist()
    assert old["reason"].tolist() == ranked["reason"].tolist()
    assert old[sorted(added)].isna().all().all()  # NULL where the old version wrote nothing
    assert _texts(old["next_level"]) == _texts(ranked["next_level"])

    new_id = _save(store, ranked)
    new = store.load(new_id).items
    for column in NEW_TEXT_COLUMNS:
        assert _texts(new[column]) == _texts(ranked[column]), column
    key = _first_key(ranked)
    store.decide(old_id, Decision.create(key, "accept", "cur-old"))
    assert store.load(old_id).items.set_index("variant").loc[key, "decision"] == "accept"


def test_a_foreign_queue_items_table_is_refused(tmp_path: Path):
    """A ``queue_items`` table without the queue's key columns is not silently patched."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE queue_items (id INTEGER PRIMARY KEY)"))
    with pytest.raises(RuntimeError, match="rank"):
        add_missing_item_columns(engine)


def _same_value(a: object, b: object) -> bool:
    """Equal, or both missing (None, NaN and pd.NA alike)."""
    if pd.api.types.is_scalar(a) and pd.isna(a):
        return pd.api.types.is_scalar(b) and bool(pd.isna(b))
    return bool(a == b)


def test_one_item_with_its_neighbours_is_what_the_whole_queue_says(
    any_store: QueueStore, ranked: pd.DataFrame
):
    """``item`` (the variant page's query) gives every item, its latest decision and the
    variants ranked just before and after it exactly as the whole loaded queue does."""
    queue_id = _save(any_store, ranked)
    key = _first_key(ranked)
    any_store.decide(queue_id, Decision.create(key, "defer", "cur-1", "ask lab"))
    any_store.decide(queue_id, Decision.create(key, "accept", "cur-2"))
    items = any_store.load(queue_id).items
    variants = _texts(items["variant"])  # an input that gave no key is an item without one
    assert len(variants) > 3 and None in variants
    for position, variant in enumerate(variants):
        if variant is None:  # no page: nothing asks for it by key
            continue
        found = any_store.item(queue_id, variant)
        expected = items.iloc[position].to_dict()
        assert found.item.keys() == expected.keys()
        assert all(_same_value(found.item[k], expected[k]) for k in expected), variant
        assert found.previous == (variants[position - 1] if position else None)
        assert found.next == (variants[position + 1] if position + 1 < len(variants) else None)
        assert found.meta == any_store.meta(queue_id)
    assert any_store.item(queue_id, key).item["decision"] == "accept"
    with pytest.raises(QueueNotFoundError) as refused:
        any_store.item(queue_id, "GRCh37:1:1:A:C")
    assert refused.value.reason == "unknown_variant"
