"""The feature store: every variant vipredict knows, with its features, on disk.

One store serves every command and endpoint (training, ``predict``, ``annotate``,
the queue, the audit, the service). It is parquet partitioned by build and
chromosome (``store/build=GRCh37/chrom=1/part-*.parquet``, zstd), sorted by
position inside each file and queried through DuckDB one partition and one
position range at a time, so memory does not grow with the store: dbNSFP-sized
inputs (~80 million rows) are streamed in chunk by chunk
(:mod:`vipredict.store.ingest`), and whole VCFs are read against it file by file
in order (:mod:`vipredict.store.scan`, which gives :meth:`Store.match`'s answers).

Files are only ever added: a build (:mod:`vipredict.store.build`) swaps the
``base`` files it wrote before and keeps the rows streamed in after it. Every
file carries the declared feature schema (units, sources) in its metadata, the
``##INFO`` declaration of every feature, and for the evidence model's features
their INFO text rendered once when the rows were written (``info_text``): a store
is annotated against many times, and formatting 26 numbers per variant is most
of what annotating a VCF costs.

Rows keep the order they were built in (``source_row``), so training reads its
rows in the order of its source files whatever the partitioning: a rebuild from
the same data trains the same model.

The store also remembers the reference allele at every locus it holds, which is
how a request with the wrong REF is told apart from a variant that merely has no
features (:meth:`Store.match`).

Both builds: a row is indexed under each build its source gives a position on
(:mod:`vipredict.store.liftover`). The row under the other build is a *copy*: the
same features, keyed (and partitioned) on that build, with :data:`COPY_COLUMN`
naming the key of the row it copies. A look-up only ever reads the partition of
its own build, so a GRCh38 key never matches a GRCh37 row; and dataset scans
(:meth:`Store.dataset_rows`, hence :func:`labelled_rows`, training, evaluation)
leave copies out, so each labelled variant is read once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from vipredict.config import Settings, get_settings
from vipredict.features.spec import FeatureSpec, read_feature_schema
from vipredict.io.vcf import feature_info_header
from vipredict.schema import LOCUS_COLUMNS
from vipredict.variants import VariantError, parse_variant_key

if TYPE_CHECKING:
    import duckdb

#: Hive partition columns, in directory order (``build=GRCh37/chrom=1/``).
PARTITION_COLUMNS = ("build", "chrom")
#: Rows per parquet row group: small enough that a position range skips most of a
#: chromosome through the min/max statistics, large enough to keep scans sequential.
ROW_GROUP_ROWS = 65_536
#: Order of a row in the build or stream that wrote it (see the module docstring).
ORDER_COLUMN = "source_row"
#: The evidence features' VCF INFO text, rendered once when rows are stored.
INFO_COLUMN = "info_text"
INFO_METADATA_KEY = b"vipredict.info_text_columns"
#: ``##INFO`` declaration of every feature, so annotating needs no feature builder.
HEADERS_METADATA_KEY = b"vipredict.info_headers"
#: Columns the store derives itself when rows are written (never taken from the input).
DERIVED_COLUMNS = (*LOCUS_COLUMNS, ORDER_COLUMN, INFO_COLUMN)
#: Key of the row a copy indexes under another build (null for the row itself).
COPY_COLUMN = "copy_of"
#: Columns of the files that are the store's bookkeeping, not the feature table.
STORE_COLUMNS = (*DERIVED_COLUMNS, COPY_COLUMN)
#: Tag of the files a build writes (``part-base-*``); streamed files carry their own.
BASE_TAG = "base"
BASE_FILES = f"build=*/chrom=*/part-{BASE_TAG}-*.parquet"
FILES = "build=*/chrom=*/*.parquet"
PARTITIONING = ds.partitioning(
    pa.schema([(name, pa.string()) for name in PARTITION_COLUMNS]), flavor="hive"
)


class StoreMissingError(FileNotFoundError):
    """No store where one was expected (the message says how to build one)."""


# --------------------------------------------------------------------------- queries


#: Columns of :attr:`StoreMatch.refs`.
REF_SCHEMA = pa.schema([("row", pa.int64()), ("ref", pa.string())])
#: Column types of a query table for :meth:`Store.match`.
QUERY_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("build", pa.string()),
        ("chrom", pa.string()),
        ("pos", pa.int64()),
        ("ref", pa.string()),
        ("alt", pa.string()),
    ]
)


def locus_queries(keys: Iterable[str | None]) -> pa.Table:
    """``row, build, chrom, pos, ref, alt`` of the keys that parse (``row``: index in ``keys``)."""
    rows, variants = [], []
    for row, key in enumerate(keys):
        if key is None:
            continue
        try:
            variants.append(parse_variant_key(key))
        except VariantError:
            continue
        rows.append(row)
    columns = {name: [getattr(v, name) for v in variants] for name in LOCUS_COLUMNS}
    return pa.table({"row": pa.array(rows, pa.int64()), **columns}).cast(QUERY_SCHEMA)


def partition_groups(queries: pa.Table) -> Iterator[tuple[str, str, pa.Table]]:
    """``build, chrom`` and the queries of each partition the queries touch."""
    for pair in queries.group_by(list(PARTITION_COLUMNS)).aggregate([]).to_pylist():
        mask = pc.and_(
            pc.equal(queries["build"], pair["build"]), pc.equal(queries["chrom"], pair["chrom"])
        )
        yield pair["build"], pair["chrom"], queries.filter(mask)


def _sql_list(paths: Sequence[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def float_matrix(table: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """``columns`` of store rows as one float64 array, a column each, NaN where null:
    how the models and the serving index read the numeric features."""
    matrix = np.empty((table.num_rows, len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        matrix[:, j] = table[name].cast(pa.float64()).to_numpy(zero_copy_only=False)
    return matrix


def metadata_list(schema: pa.Schema, key: bytes) -> list[str] | None:
    """The JSON list a store file keeps under ``key`` in its metadata (None: none)."""
    raw = (schema.metadata or {}).get(key)
    return None if raw is None else list(json.loads(raw))


def miss(key: str, ref: str, stored_ref: str | None) -> tuple[str, str]:
    """The named error of a key the store lacks: ``ref_mismatch`` when it holds the locus
    with another REF (``stored_ref``), else ``no_features`` (every look-up path says it so)."""
    if stored_ref is not None and stored_ref != ref:
        return "ref_mismatch", f"REF {ref} but the reference at this locus is {stored_ref}"
    return "no_features", f"{key} is not in the feature store"


@dataclass(frozen=True)
class StoreMatch:
    """``found``: ``row`` + columns of exact matches; ``refs``: ``row, ref`` at other loci."""

    found: pa.Table
    refs: pa.Table

    @classmethod
    def of(cls, found: pa.Table, others: pa.Table) -> StoreMatch:
        """The exact matches, and the stored REFs (``others``: ``row, ref`` of rows at a
        query's locus that it did not match) of the queries nothing matched exactly: a
        multi-allelic locus is not a ``ref_mismatch`` for the ALT it holds."""
        alone = pc.invert(pc.is_in(others["row"], found["row"]))
        return cls(found, others.filter(alone))

    def stored_refs(self) -> dict[int, str]:
        """The REF the store holds at the locus of each query it lacks (one per query)."""
        grouped = self.refs.group_by("row").aggregate([("ref", "min")])
        return dict(zip(grouped["row"].to_pylist(), grouped["ref_min"].to_pylist(), strict=True))


@dataclass
class Store:
    """DuckDB look-ups and joins over the partitioned store, one partition at a time.

    Nothing is loaded up front: each query reads only the partition of its build
    and chromosome, and only the row groups whose position range it touches
    (files are sorted by position). One connection per store, used under a lock:
    the service asks from several threads.
    """

    root: Path
    threads: int | None = None
    schema: pa.Schema = field(init=False, repr=False)
    _con: duckdb.DuckDBPyConnection | None = field(init=False, repr=False, default=None)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        first = next(iter(self.all_files()), None)
        if first is None:
            raise StoreMissingError(
                f"no feature store at {self.root}; build it with `vipredict features`"
            )
        self.schema = pq.read_schema(first)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        """DuckDB, connected on first use (callers hold ``_lock``): a file annotated in
        order is read without it (:mod:`vipredict.store.scan`)."""
        if self._con is None:
            import duckdb

            con = duckdb.connect()
            # One query per block and partition: keep the files' footers, not re-read them.
            con.execute("SET parquet_metadata_cache = true")
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            self._con = con
        return self._con

    @classmethod
    def open(cls, settings: Settings | None = None, threads: int | None = None) -> Store:
        """The home's store (``$VIPREDICT_HOME/store``)."""
        return cls((settings or get_settings()).store_dir, threads)

    # ---- what the store holds

    @property
    def columns(self) -> list[str]:
        """Columns of the feature table the store holds (without the derived columns)."""
        return [name for name in self.schema.names if name not in STORE_COLUMNS]

    @property
    def specs(self) -> tuple[FeatureSpec, ...]:
        """Declared feature specs (units, sources) the store's files carry."""
        return read_feature_schema(next(self.all_files()))

    @property
    def info_headers(self) -> dict[str, str]:
        """``##INFO`` line of each feature, from the files (written with the rows)."""
        raw = (self.schema.metadata or {}).get(HEADERS_METADATA_KEY)
        if raw is not None:
            return dict(json.loads(raw))
        return {spec.name: feature_info_header(spec) for spec in self.specs}

    @property
    def info_columns(self) -> list[str] | None:
        """The features :data:`INFO_COLUMN` renders, in order (None: the store has none)."""
        return metadata_list(self.schema, INFO_METADATA_KEY)

    def has_copies(self) -> bool:
        """Whether any file can hold copies (files written before copies existed cannot)."""
        return any(COPY_COLUMN in pq.read_schema(path).names for path in self.all_files())

    def all_files(self) -> Iterator[Path]:
        return iter(sorted(self.root.glob(FILES)))

    def files(self, build: str, chrom: str) -> list[str]:
        folder = self.root / f"build={build}" / f"chrom={chrom}"
        return sorted(str(p) for p in folder.glob("*.parquet"))

    def __len__(self) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.all_files())

    def _check_columns(self, columns: Sequence[str]) -> None:
        unknown = [c for c in columns if c not in self.schema.names]
        if unknown:
            raise KeyError(f"the feature store has no column(s) {unknown}")

    # ---- look-ups

    def match(self, queries: pa.Table, columns: Sequence[str]) -> StoreMatch:
        """Exact matches of the queries (``QUERY_SCHEMA``) and the REF at the others' loci.

        One query per partition joins on position alone, so a locus the store holds
        with another REF (a ``ref_mismatch``) is found in the same pass as the variants.
        """
        self._check_columns(columns)
        hit = "(s.ref = q.ref AND s.alt = q.alt)"
        selected = ", ".join(
            ["q.row", f"{hit} AS hit", "s.ref AS stored_ref"]
            + [f'CASE WHEN {hit} THEN s."{c}" END AS "{c}"' for c in columns]
        )
        sql = (
            f"SELECT {selected} FROM q JOIN read_parquet({{files}}) s ON s.pos = q.pos "
            "WHERE s.pos BETWEEN {lo} AND {hi}"
        )
        result = self._per_partition(queries, sql)
        if result is None:
            return StoreMatch(self.found_schema(columns).empty_table(), REF_SCHEMA.empty_table())
        hits = result["hit"].combine_chunks()
        found = result.filter(hits).select(["row", *columns])
        others = result.filter(pc.invert(hits)).select(["row", "stored_ref"])
        return StoreMatch.of(found, others.rename_columns(REF_SCHEMA.names))

    def found_schema(self, columns: Sequence[str]) -> pa.Schema:
        """Columns of :attr:`StoreMatch.found` for ``columns``."""
        return pa.schema([pa.field("row", pa.int64()), *(self.schema.field(c) for c in columns)])

    def _per_partition(self, queries: pa.Table, sql: str) -> pa.Table | None:
        parts = []
        with self._lock:
            con = self._connection()
            for build, chrom, group in partition_groups(queries):
                files = self.files(build, chrom)
                if not files:
                    continue
                lo, hi = pc.min_max(group["pos"]).values()
                con.register("q", group)
                try:
                    text = sql.format(files=_sql_list(files), lo=lo.as_py(), hi=hi.as_py())
                    parts.append(con.sql(text).to_arrow_table())
                finally:
                    con.unregister("q")
        return pa.concat_tables(parts, promote_options="permissive") if parts else None

    def lookup(self, keys: Sequence[str], columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Rows for the keys found, in request order (keys not found are absent)."""
        wanted = self.columns if columns is None else list(columns)
        found = self.match(locus_queries(keys), wanted).found.sort_by("row")
        return found.drop_columns(["row"]).to_pandas()

    # ---- scans

    def _scan(self, sql: str, params: dict | None = None) -> pa.Table:
        with self._lock:
            return self._connection().sql(sql, params=params or {}).to_arrow_table()

    def dataset_rows(
        self,
        dataset: str,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
        seed: int = 0,
        labelled: bool = False,
        copies: bool = False,
    ) -> pd.DataFrame:
        """Rows of one dataset: all in build order, or up to ``limit`` picked repeatably.

        Without ``limit`` the rows come in :data:`ORDER_COLUMN` order (the order of
        their source files), which is what makes training repeatable. With it, a
        hash order picks the same rows whatever DuckDB's thread count, so a run
        repeated from its id calibrates on the same sample; they are returned
        sorted by variant. ``labelled`` keeps rows with a label only. A variant
        indexed under two builds is read once, as its source keyed it, unless
        ``copies`` asks for its copies under the other build too.
        """
        wanted = self.columns if columns is None else list(columns)
        self._check_columns(wanted)
        selected = ", ".join(f'"{c}"' for c in wanted)
        where = "dataset = $dataset" + (" AND label IS NOT NULL" if labelled else "")
        if not copies and self.has_copies():
            where += f" AND {COPY_COLUMN} IS NULL"
        if limit is None:
            order = f"ORDER BY {ORDER_COLUMN}, variant"
        else:
            order = f"ORDER BY hash(concat(variant, ':', {int(seed)})) LIMIT {int(limit)}"
        # By name: files written before copies existed lack the column.
        source = "read_parquet($files, union_by_name = true)"
        sql = f"SELECT {selected} FROM {source} WHERE {where} {order}"
        files = [str(p) for p in self.all_files()]
        found = self._scan(sql, {"files": files, "dataset": dataset}).to_pandas()
        if limit is not None:
            found = found.sort_values("variant", ignore_index=True)
        return found

    def iter_rows(
        self, columns: Sequence[str] | None = None, chunk_rows: int = 20_000
    ) -> Iterator[pd.DataFrame]:
        """Every row of the store, a file's worth of chunks at a time (bounded memory)."""
        wanted = self.columns if columns is None else list(columns)
        self._check_columns(wanted)
        for path in self.all_files():
            for batch in pq.ParquetFile(path).iter_batches(chunk_rows, columns=wanted):
                yield batch.to_pandas()

    def read_all(self) -> pd.DataFrame:
        """The whole store as one table (small stores and tests only)."""
        dataset = ds.dataset(self.root, format="parquet", partitioning=PARTITIONING)
        return dataset.to_table().to_pandas()


def labelled_rows(store: Store, year: str) -> pd.DataFrame:
    """The ClinGen set of ``year`` as the store holds it: labelled rows, in build order.

    One row per variant, keyed as the set gives it (GRCh37): the set's copies under
    GRCh38 are look-up keys, never training or evaluation rows.
    """
    rows = store.dataset_rows(f"clingen_{year}", labelled=True)
    repeated = rows["variant"][rows["variant"].duplicated()]
    if len(repeated):
        raise ValueError(
            f"the store holds {len(repeated):,} variant(s) of ClinGen {year} twice "
            f"(e.g. {repeated.iloc[0]}): rebuild it with `vipredict features`"
        )
    return rows
