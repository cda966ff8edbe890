"""Where queues and curator decisions live: SQLAlchemy Core on SQLite (default) or PostgreSQL.

``Settings.queue_url`` picks the database: ``VIPREDICT_QUEUE_URL`` (e.g.
``postgresql+psycopg://user@host/db``, needs the ``postgres`` extra) or
``$VIPREDICT_HOME/queue.db``. SQLite runs in WAL mode with ``synchronous=FULL``:
a decision is acknowledged only after its commit has been fsynced, so it
survives a ``kill -9`` of the service (or of the machine) right after the answer.

Decisions are append-only: a curator changing their mind adds a row, and the
latest row per variant is the item's current decision, so the history stays
auditable.

Opening a database made by an earlier version adds the item columns its
``queue_items`` table lacks (:func:`add_missing_item_columns`; NULL in the old
rows), so queues stored before the items grew stay readable. The two later
tables (``queue_item_features``, ``queue_reviews``) are new tables: ``create_all``
adds them to an old database, and an old queue simply has no features kept.

Each item's feature row (what it was scored from: the feature store's row, or an
upload's own annotations) is kept with the queue, so a later model version can
score exactly the same inputs again (:mod:`vipredict.queue.reevaluate`). A review
(``queue_reviews``) records that a curator has looked at an item again after a
model change from one evidence-model version to another; like decisions, reviews
are append-only and acknowledged once durable.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vipredict.config import Settings, get_settings
from vipredict.queue.ranking import ITEM_COLUMNS, QueueInputError
from vipredict.variants import VariantError, parse_variant_key

DECISIONS = ("accept", "reject", "defer")
MAX_NOTE = 4000
MAX_CURATOR = 100
#: Longest queue name: the column's declared length and the check in :meth:`QueueStore.save`
#: (PostgreSQL refuses a longer VARCHAR value; SQLite would silently keep it).
MAX_QUEUE_NAME = 200
INSERT_CHUNK = 5_000
_ID = re.compile(r"^[0-9a-f]{32}$")

_FLOAT_ITEMS = frozenset(
    (
        "score",
        "posterior",
        "likelihood_ratio",
        "next_level_distance",
        "priority_score",
        "agreement",
        "max_af",
        "settle",
        "uncertainty",
    )
)
#: ``mis_prd`` is null where the variant was not scored, so it reads back as pandas "Int64".
_NULLABLE_INT_ITEMS = frozenset(("mis_prd",))
_INT_ITEMS = frozenset(("rank", "points", "frequency_points", *_NULLABLE_INT_ITEMS))
_BOOL_ITEMS = frozenset(("acmg_sf",))


def _item_column(name: str) -> sa.Column:
    if name in _FLOAT_ITEMS:
        kind: Any = sa.Float
    elif name in _INT_ITEMS:
        kind = sa.Integer
    elif name in _BOOL_ITEMS:
        kind = sa.Boolean
    else:
        # Text, not VARCHAR(n): a key may hold 1,000-base alleles (io/bounds.py) and
        # annotation_warnings has no fixed length; PostgreSQL refuses what VARCHAR(n) cannot hold.
        kind = sa.Text
    return sa.Column(name, kind, primary_key=name == "rank", nullable=name != "rank")


METADATA = sa.MetaData()
QUEUES = sa.Table(
    "queues",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(MAX_QUEUE_NAME), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("ordering", sa.String(16), nullable=False),
    sa.Column("filters", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("models", sa.Text, nullable=False),
    sa.Column("n_items", sa.Integer, nullable=False),
)
ITEMS = sa.Table(
    "queue_items",
    METADATA,
    sa.Column(
        "queue_id", sa.String(32), sa.ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    ),
    *(_item_column(name) for name in ITEM_COLUMNS),
    sa.Index("ix_queue_items_variant", "queue_id", "variant"),
)
DECISION_TABLE = sa.Table(
    "queue_decisions",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "queue_id", sa.String(32), sa.ForeignKey("queues.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("decision", sa.String(8), nullable=False),
    sa.Column("curator", sa.String(MAX_CURATOR), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("decided_at", sa.String(32), nullable=False),
    sa.Index("ix_queue_decisions_item", "queue_id", "variant"),
)
DECISION_COLUMNS = ("decision", "curator", "note", "decided_at")
#: Longest model version a review may name (MLflow versions are small integers).
MAX_VERSION = 32
FEATURES_TABLE = sa.Table(
    "queue_item_features",
    METADATA,
    sa.Column(
        "queue_id", sa.String(32), sa.ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("variant", sa.Text, primary_key=True),
    # One JSON object per item, its non-null feature values: a later model may read
    # columns this one did not, so the whole row is kept, not only today's features.
    sa.Column("features", sa.Text, nullable=False),
)
#: Columns of a feature row that are not features: never kept with a queue (a curation
#: database has no business holding training labels).
UNKEPT_FEATURES = frozenset(("label", "dataset"))
REVIEW_TABLE = sa.Table(
    "queue_reviews",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "queue_id", sa.String(32), sa.ForeignKey("queues.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("old_version", sa.String(MAX_VERSION), nullable=False),
    sa.Column("new_version", sa.String(MAX_VERSION), nullable=False),
    sa.Column("curator", sa.String(MAX_CURATOR), nullable=False),
    sa.Column("reviewed_at", sa.String(32), nullable=False),
    sa.Index("ix_queue_reviews_item", "queue_id", "variant"),
)
REVIEW_COLUMNS = ("reviewed_by", "reviewed_at")


def add_missing_item_columns(engine: Engine) -> list[str]:
    """Add the :data:`ITEM_COLUMNS` an existing ``queue_items`` table lacks; their names.

    A queue.db from before the items carried every scorer column still has the
    old column set, and ``create_all`` leaves an existing table alone. Each
    missing column is added as nullable (``ALTER TABLE ... ADD COLUMN``, the same
    on SQLite and PostgreSQL), so old items read back with NULL there.
    """
    inspector = sa.inspect(engine)
    if not inspector.has_table(ITEMS.name):
        return []
    present = {column["name"] for column in inspector.get_columns(ITEMS.name)}
    missing = [ITEMS.c[name] for name in ITEM_COLUMNS if name not in present]
    required = [column.name for column in missing if not column.nullable]
    if required:
        raise RuntimeError(f"{ITEMS.name} lacks its key columns {required}: not a queue table")
    quote = engine.dialect.identifier_preparer
    with engine.begin() as connection:
        for column in missing:
            kind = column.type.compile(dialect=engine.dialect)
            connection.execute(
                sa.text(
                    f"ALTER TABLE {quote.format_table(ITEMS)} "
                    f"ADD COLUMN {quote.format_column(column)} {kind}"
                )
            )
    return [column.name for column in missing]


def widened_text_columns(engine: Engine) -> list[str]:
    """Turn the bounded VARCHAR columns of an older PostgreSQL queue database into TEXT.

    Item and decision columns that hold keys, genes, warnings or other free text were
    ``VARCHAR(200)``: a long indel's key or a long warning list was a 500 on PostgreSQL
    (SQLite ignores the length). ``create_all`` leaves an existing table alone, so the
    type is changed in place (``ALTER COLUMN ... TYPE TEXT``, no data rewritten). Returns
    ``table.column`` of each column changed; SQLite needs none.
    """
    if engine.dialect.name != "postgresql":
        return []
    inspector = sa.inspect(engine)
    quote = engine.dialect.identifier_preparer
    changed = []
    with engine.begin() as connection:
        for table in (ITEMS, DECISION_TABLE):
            if not inspector.has_table(table.name):
                continue
            for found in inspector.get_columns(table.name):
                ours = table.c.get(found["name"])
                if ours is None or not isinstance(ours.type, sa.Text):
                    continue
                if getattr(found["type"], "length", None) is None:
                    continue  # already unbounded
                connection.execute(
                    sa.text(
                        f"ALTER TABLE {quote.format_table(table)} ALTER COLUMN "
                        f"{quote.format_column(ours)} TYPE TEXT"
                    )
                )
                changed.append(f"{table.name}.{ours.name}")
    return changed


def feature_rows(
    queue_id: str, items: pd.DataFrame, features: pd.DataFrame | None
) -> list[dict[str, Any]]:
    """``queue_item_features`` rows: each keyed item's feature row as JSON of its non-null values.

    JSON text rather than one column per feature: the store's columns grow with
    its sources, and a table per feature version would need a migration each time.
    Labels (:data:`UNKEPT_FEATURES`) are left out.
    """
    if features is None or not len(features) or "variant" not in features.columns:
        return []
    wanted = set(items["variant"].dropna().astype(str)) - {""}
    columns = [c for c in features.columns if c not in UNKEPT_FEATURES]
    chosen = features.loc[features["variant"].astype(str).isin(wanted), columns]
    chosen = chosen.drop_duplicates("variant")
    records = json.loads(chosen.to_json(orient="records", double_precision=15))
    return [
        {
            "queue_id": queue_id,
            "variant": str(record["variant"]),
            "features": json.dumps({k: v for k, v in record.items() if v is not None}),
        }
        for record in records
    ]


class QueueNotFoundError(LookupError):
    """No queue (or no item) under that id; ``reason`` is its named code (an HTTP 404)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class QueueRecord:
    """A stored queue: its description and its items with each one's current decision."""

    meta: dict[str, Any]
    items: pd.DataFrame


@dataclass(frozen=True)
class QueueItem:
    """One item of a stored queue with its current decision, and its neighbours by rank."""

    meta: dict[str, Any]
    item: dict[str, Any]
    previous: str | None
    next: str | None


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL + fsync on every commit: an acknowledged decision is on disk."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its durability pragmas on every connection."""
    engine = sa.create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sql_value(value: Any) -> Any:
    """NaN/NA -> NULL and numpy scalars -> Python, so every dialect accepts the row."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def check_queue_name(name: str) -> str:
    """The name, or a :class:`QueueInputError` (a 422) if the ``queues`` table cannot hold it."""
    if len(name) > MAX_QUEUE_NAME:
        raise QueueInputError(
            "queue_name_too_long", f"a queue name has at most {MAX_QUEUE_NAME} characters"
        )
    return name


def check_queue_id(queue_id: str) -> str:
    """A syntactically valid id, else QueueNotFoundError (a malformed id names no queue)."""
    if not _ID.match(str(queue_id)):
        raise QueueNotFoundError("unknown_queue", f"no queue {str(queue_id)[:64]!r}")
    return str(queue_id)


def check_curator(curator: Any) -> str:
    """A curator id (stripped), or :class:`QueueInputError` naming what is wrong."""
    if not isinstance(curator, str) or not curator.strip():
        raise QueueInputError("missing_curator", "a decision or review needs a curator id")
    if len(curator.strip()) > MAX_CURATOR:
        raise QueueInputError("curator_too_long", f"curator id over {MAX_CURATOR} characters")
    return curator.strip()


def check_version(version: Any, what: str) -> str:
    """A model version as text (MLflow's are integers), or ``invalid_version``."""
    text = str(version).strip() if isinstance(version, (str, int)) else ""
    if not text or len(text) > MAX_VERSION:
        raise QueueInputError("invalid_version", f"{what} must be a registered model version")
    return text


def check_variants(variants: Any) -> list[str]:
    """Canonical keys of a non-empty list of variants (each checked), without repeats."""
    if isinstance(variants, str) or not isinstance(variants, Sequence) or not variants:
        raise QueueInputError("malformed_record", "give a non-empty list of variant keys")
    keys = []
    for variant in variants:
        if not isinstance(variant, str):
            raise QueueInputError(
                "malformed_record", "variant must be a build:chrom:pos:ref:alt key"
            )
        try:
            keys.append(parse_variant_key(variant).key)
        except VariantError as error:
            raise QueueInputError(error.reason, error.detail) from error
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class Decision:
    """One curator decision, validated before it may be written."""

    variant: str
    decision: str
    curator: str
    note: str = ""

    @classmethod
    def create(cls, variant: Any, decision: Any, curator: Any, note: Any = "") -> Decision:
        """Normalised decision or :class:`QueueInputError` naming what is wrong."""
        if not isinstance(decision, str) or decision.strip().lower() not in DECISIONS:
            raise QueueInputError(
                "invalid_decision",
                f"decision must be one of {', '.join(DECISIONS)}, not {str(decision)[:40]!r}",
            )
        curator = check_curator(curator)
        note = "" if note is None else note
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise QueueInputError("invalid_note", f"note must be text of at most {MAX_NOTE} chars")
        if not isinstance(variant, str):
            raise QueueInputError(
                "malformed_record", "variant must be a build:chrom:pos:ref:alt key"
            )
        try:
            key = parse_variant_key(variant).key
        except VariantError as error:
            raise QueueInputError(error.reason, error.detail) from error
        return cls(key, decision.strip().lower(), curator, note)


class QueueStore:
    """Queues, items and decisions in one database (created on first use, upgraded on open)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        METADATA.create_all(self.engine)
        add_missing_item_columns(self.engine)
        widened_text_columns(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> QueueStore:
        settings = settings or get_settings()
        settings.home.mkdir(parents=True, exist_ok=True)
        return cls(settings.queue_url)

    def save(
        self,
        items: pd.DataFrame,
        *,
        name: str,
        ordering: str,
        filters: Mapping[str, Any],
        source: str,
        models: Mapping[str, Any],
        features: pd.DataFrame | None = None,
    ) -> str:
        """Store a ranked queue in one transaction; returns its new id.

        ``features``: the rows the items were scored from (one per variant, a
        ``variant`` column); each item's row is kept with it (:func:`feature_rows`).
        """
        queue_id = uuid.uuid4().hex
        meta = {
            "id": queue_id,
            "name": check_queue_name(name),
            "created_at": now_utc(),
            "ordering": ordering,
            "filters": json.dumps(dict(filters)),
            "source": source,
            "models": json.dumps(dict(models)),
            "n_items": len(items),
        }
        rows = [
            {"queue_id": queue_id, **{k: _sql_value(v) for k, v in row.items()}}
            for row in items[list(ITEM_COLUMNS)].to_dict("records")
        ]
        kept = feature_rows(queue_id, items, features)
        with self.engine.begin() as connection:
            connection.execute(QUEUES.insert(), meta)
            for chunk in _chunks(rows, INSERT_CHUNK):
                connection.execute(ITEMS.insert(), list(chunk))
            for chunk in _chunks(kept, INSERT_CHUNK):
                connection.execute(FEATURES_TABLE.insert(), list(chunk))
        return queue_id

    def _meta(self, connection: sa.Connection, queue_id: str) -> dict[str, Any]:
        row = (
            connection.execute(sa.select(QUEUES).where(QUEUES.c.id == check_queue_id(queue_id)))
            .mappings()
            .first()
        )
        if row is None:
            raise QueueNotFoundError("unknown_queue", f"no queue {queue_id!r}")
        meta = dict(row)
        meta["filters"] = json.loads(meta["filters"])
        meta["models"] = json.loads(meta["models"])
        return meta

    def meta(self, queue_id: str) -> dict[str, Any]:
        with self.engine.connect() as connection:
            return self._meta(connection, queue_id)

    def load(self, queue_id: str, offset: int = 0, limit: int | None = None) -> QueueRecord:
        """The queue's items in rank order (a page of them), each with its latest decision."""
        with self.engine.connect() as connection:
            meta = self._meta(connection, queue_id)
            query = (
                sa.select(*(ITEMS.c[name] for name in ITEM_COLUMNS))
                .where(ITEMS.c.queue_id == queue_id)
                .order_by(ITEMS.c["rank"])
                .offset(max(0, offset))
            )
            if limit is not None:
                query = query.limit(max(0, limit))
            return QueueRecord(meta, self._decided_items(connection, queue_id, query))

    def item(self, queue_id: str, variant: str) -> QueueItem:
        """One item (its first by rank), its latest decision and the variants ranked just
        before and after it: what the variant page shows, in four indexed queries
        instead of reading the whole queue per page view."""
        where = ITEMS.c.queue_id == queue_id
        rank_of = ITEMS.c["rank"]
        with self.engine.connect() as connection:
            meta = self._meta(connection, queue_id)
            rank = connection.execute(
                sa.select(rank_of).where(where, ITEMS.c.variant == variant).order_by(rank_of)
            ).scalar()
            if rank is None:
                raise QueueNotFoundError(
                    "unknown_variant", f"{variant} is not an item of this queue"
                )
            query = sa.select(*(ITEMS.c[name] for name in ITEM_COLUMNS)).where(
                where, rank_of == rank
            )
            items = self._decided_items(connection, queue_id, query, variant)
            previous = connection.execute(
                sa.select(ITEMS.c.variant).where(where, rank_of < rank).order_by(rank_of.desc())
            ).scalar()
            after = connection.execute(
                sa.select(ITEMS.c.variant).where(where, rank_of > rank).order_by(rank_of)
            ).scalar()
        return QueueItem(meta, items.iloc[0].to_dict(), previous, after)

    def _decided_items(
        self,
        connection: sa.Connection,
        queue_id: str,
        query: sa.Select[Any],
        variant: str | None = None,
    ) -> pd.DataFrame:
        """The items ``query`` selects (:data:`ITEM_COLUMNS`), each with its latest decision
        (``variant``: only that item's decisions are read)."""
        items = pd.DataFrame(connection.execute(query).mappings().all(), columns=list(ITEM_COLUMNS))
        for name in _NULLABLE_INT_ITEMS:  # NULLs would otherwise make them floats
            items[name] = pd.to_numeric(items[name]).astype("Int64")
        latest = self._latest(connection, queue_id, variant)
        merged = items.merge(latest, on="variant", how="left") if len(items) else items
        for column in DECISION_COLUMNS:
            if column not in merged.columns:
                merged[column] = None
        return merged

    @staticmethod
    def _latest(
        connection: sa.Connection, queue_id: str, variant: str | None = None
    ) -> pd.DataFrame:
        """The newest decision per variant (highest id), as a frame keyed by variant."""
        mine = DECISION_TABLE.c.queue_id == queue_id
        if variant is not None:
            mine = sa.and_(mine, DECISION_TABLE.c.variant == variant)
        newest = (
            sa.select(sa.func.max(DECISION_TABLE.c.id))
            .where(mine)
            .group_by(DECISION_TABLE.c.variant)
        )
        rows = (
            connection.execute(
                sa.select(
                    DECISION_TABLE.c.variant, *(DECISION_TABLE.c[c] for c in DECISION_COLUMNS)
                ).where(DECISION_TABLE.c.id.in_(newest))
            )
            .mappings()
            .all()
        )
        return pd.DataFrame(rows, columns=["variant", *DECISION_COLUMNS])

    def history(self, queue_id: str, variant: str | None = None) -> pd.DataFrame:
        """Every decision of the queue (or of its item ``variant``), oldest first.

        The variant page asks for one item's: filtered here, not after reading a
        queue's whole history per page view."""
        query = sa.select(DECISION_TABLE).where(DECISION_TABLE.c.queue_id == queue_id)
        if variant is not None:
            query = query.where(DECISION_TABLE.c.variant == variant)
        with self.engine.connect() as connection:
            self._meta(connection, queue_id)
            rows = connection.execute(query.order_by(DECISION_TABLE.c.id)).mappings().all()
        return pd.DataFrame(rows, columns=[c.name for c in DECISION_TABLE.columns])

    def decide(self, queue_id: str, decision: Decision) -> dict[str, Any]:
        """Record a decision on one item; returns it once the commit is durable."""
        row = {
            "queue_id": check_queue_id(queue_id),
            "variant": decision.variant,
            "decision": decision.decision,
            "curator": decision.curator,
            "note": decision.note,
            "decided_at": now_utc(),
        }
        with self.engine.begin() as connection:
            self._meta(connection, queue_id)
            known = connection.execute(
                sa.select(ITEMS.c["rank"]).where(
                    ITEMS.c.queue_id == queue_id, ITEMS.c.variant == decision.variant
                )
            ).first()
            if known is None:
                raise QueueNotFoundError(
                    "unknown_variant", f"{decision.variant} is not an item of queue {queue_id}"
                )
            result = connection.execute(DECISION_TABLE.insert(), row)
            row["id"] = int(result.inserted_primary_key[0])
        return row

    def features(self, queue_id: str, variants: Sequence[str] | None = None) -> pd.DataFrame:
        """The feature rows kept with the queue's items (all, or of ``variants``).

        One row per item that has one; columns are the union of the kept values
        (a value that was null is absent, so it reads back as NaN). Queues stored
        before features were kept, and items that could not be keyed, have none.
        """
        query = sa.select(FEATURES_TABLE.c.features).where(
            FEATURES_TABLE.c.queue_id == check_queue_id(queue_id)
        )
        if variants is not None:
            query = query.where(FEATURES_TABLE.c.variant.in_(list(variants)))
        with self.engine.connect() as connection:
            self._meta(connection, queue_id)
            texts = connection.execute(query).scalars().all()
        return pd.DataFrame([json.loads(text) for text in texts])

    def review(
        self,
        queue_id: str,
        variants: Sequence[str],
        *,
        model: str,
        old_version: str,
        new_version: str,
        curator: str,
    ) -> list[dict[str, Any]]:
        """Mark items reviewed after a model change, all or none; the rows, once durable.

        Each variant must be an item of the queue (else ``unknown_variant``, nothing
        written). A review says a curator looked at the item again for the change
        from ``old_version`` to ``new_version`` of ``model``; reviews are appended,
        never overwritten, like decisions.
        """
        queue_id = check_queue_id(queue_id)
        curator = check_curator(curator)
        versions = [check_version(old_version, "old_version"), check_version(new_version, "new")]
        keys = check_variants(variants)
        stamp = now_utc()
        rows = [
            {
                "queue_id": queue_id,
                "variant": key,
                "model": str(model),
                "old_version": versions[0],
                "new_version": versions[1],
                "curator": curator,
                "reviewed_at": stamp,
            }
            for key in keys
        ]
        with self.engine.begin() as connection:
            self._meta(connection, queue_id)
            known = set(
                connection.execute(
                    sa.select(ITEMS.c.variant).where(
                        ITEMS.c.queue_id == queue_id, ITEMS.c.variant.in_(keys)
                    )
                ).scalars()
            )
            unknown = [key for key in keys if key not in known]
            if unknown:
                raise QueueNotFoundError(
                    "unknown_variant", f"{unknown[0]} is not an item of queue {queue_id}"
                )
            for row in rows:
                row["id"] = int(
                    connection.execute(REVIEW_TABLE.insert(), row).inserted_primary_key[0]
                )
        return rows

    def reviews(
        self, queue_id: str, model: str, old_version: str, new_version: str
    ) -> pd.DataFrame:
        """The latest review per variant for one model change: ``variant``, ``reviewed_by``,
        ``reviewed_at``."""
        table = REVIEW_TABLE
        with self.engine.connect() as connection:
            self._meta(connection, queue_id)
            newest = (
                sa.select(sa.func.max(table.c.id))
                .where(
                    table.c.queue_id == queue_id,
                    table.c.model == str(model),
                    table.c.old_version == str(old_version),
                    table.c.new_version == str(new_version),
                )
                .group_by(table.c.variant)
            )
            rows = connection.execute(
                sa.select(
                    table.c.variant,
                    table.c.curator.label("reviewed_by"),
                    table.c.reviewed_at,
                ).where(table.c.id.in_(newest))
            ).all()
        return pd.DataFrame(rows, columns=["variant", *REVIEW_COLUMNS])
