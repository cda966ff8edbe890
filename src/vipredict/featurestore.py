"""The feature store: every variant vipredict knows, with its features.

``vipredict features`` builds it from the declared sources and writes it twice:

* one parquet table (``features/features.parquet``), which training reads for its
  labelled rows and which the CLI and the service hold in memory
  (:class:`FeatureStore`: tens of thousands of rows, a hash index is enough);
* a partitioned copy (``features/store/build=GRCh37/chrom=1/part-*.parquet``),
  sorted by position inside each file and queried through DuckDB
  (:class:`PartitionedStore`). This is the genome-scale form: dbNSFP-sized inputs
  (~80 million rows) are streamed into it chunk by chunk in bounded memory
  (:func:`stream_dbnsfp`), and ``vipredict annotate`` joins whole VCFs against it
  without ever loading it.

The store also remembers the reference allele at every locus it holds, which is
how a request with the wrong REF is told apart from a variant that merely has no
features.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from vipredict.config import Settings, get_settings
from vipredict.schema import KEY, LOCUS_COLUMNS
from vipredict.variants import VariantError, parse_variant_key, split_keys

if TYPE_CHECKING:  # the feature builders (scikit-learn, SciPy) load only where rows are built:
    from vipredict.features import FeatureSpec  # annotating a VCF starts without them

Progress = Callable[[str], None]

#: Unlabelled annotation sources added to the store after the ClinGen sets, in priority order.
EXTRA_ANNOTATION_SOURCES: tuple[tuple[str, str], ...] = (
    ("vep", "vep_dbnsfp_benign"),
    ("vep", "vep_dbnsfp_pathogenic"),
    ("dbnsfp", "dbnsfp_v23_test"),
    ("dbnsfp", "dbnsfp_v24_head"),
    ("dbnsfp", "dbnsfp_v24_chr4"),
)


@dataclass(frozen=True)
class AnnotationFile:
    """One input file of the store: which reader, and which declared source it reads."""

    kind: str  # "clingen", "vep" or "dbnsfp"
    name: str  # ClinGen year, or the source name in the data manifest

    def read(self) -> pd.DataFrame:
        if self.kind == "clingen":
            from vipredict.readers.clingen import read_clingen_set

            return read_clingen_set(self.name)
        return _read_extra(self.kind, self.name)


#: The store's inputs in priority order: a variant keeps the row of the first file that has
#: it. :func:`build_store` reads them in turn; ``vipredict features --dask`` one per task.
STORE_FILES: tuple[AnnotationFile, ...] = (
    AnnotationFile("clingen", "2019"),
    AnnotationFile("clingen", "2020"),
    *(AnnotationFile(kind, name) for kind, name in EXTRA_ANNOTATION_SOURCES),
)


def _read_extra(kind: str, name: str) -> pd.DataFrame:
    from vipredict.readers.dbnsfp import read_dbnsfp_source
    from vipredict.readers.vep import read_vep_source

    reader = read_vep_source if kind == "vep" else read_dbnsfp_source
    return _unlabelled(reader(name), name)


def _unlabelled(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Annotations from a non-ClinGen source, tagged with their dataset name."""
    frame["dataset"] = dataset
    # Labels of these files are not ClinGen-curated: never let them reach training.
    frame["label"] = pd.NA
    return frame


def load_frequencies() -> tuple[pd.DataFrame, dict[str, set[str]]]:
    """gnomAD and ExAC browser exports (69 ACMG genes) as one long table + covered genes."""
    from vipredict.readers.popfreq import read_all_browser_exports

    frames, covered = [], {}
    for dataset in ("gnomad", "exac"):
        frame, genes = read_all_browser_exports(dataset)
        frames.append(frame)
        covered[str(frame["dataset"].iloc[0])] = genes
    return pd.concat(frames, ignore_index=True), covered


def build_store(
    settings: Settings | None = None, progress: Progress = lambda _: None
) -> pd.DataFrame:
    """Read every source, build all feature families, write the store (both forms)."""
    from vipredict.features.table import build_feature_table

    annotations = []
    for source in STORE_FILES:
        progress(f"reading {source.kind} {source.name}")
        annotations.append(source.read())
    combined = pd.concat(annotations, ignore_index=True)
    combined = combined[combined["variant"].notna()].drop_duplicates("variant", keep="first")
    progress("reading gnomAD/ExAC frequencies by ancestry")
    frequencies, covered = load_frequencies()
    progress(f"building features for {len(combined):,} variants")
    table = build_feature_table(combined, frequencies, covered)
    write_store(table, settings, progress)
    return table


def write_store(
    table: pd.DataFrame, settings: Settings | None = None, progress: Progress = lambda _: None
) -> None:
    """Write a built feature table as the single parquet file and the store's base files.

    Only the ``base`` files are swapped (as :meth:`PartitionedStore.open` does when they
    are stale), so a rebuild, and hence every ``vipredict train``, keeps the rows that
    ``vipredict add-dbnsfp`` streamed in, which can take hours to stream again.
    """
    from vipredict.features.table import write_feature_table

    settings = settings or get_settings()
    settings.ensure_dirs()
    write_feature_table(table, settings.feature_table)
    progress(f"writing the partitioned store {partitioned_root(settings)}")
    _replace_base(table, partitioned_root(settings))


def load_store(settings: Settings | None = None) -> pd.DataFrame:
    from vipredict.features.table import read_feature_table

    settings = settings or get_settings()
    if not settings.feature_table.is_file():
        raise FileNotFoundError(
            f"no feature table at {settings.feature_table}; run `vipredict features`"
        )
    return read_feature_table(settings.feature_table)


def labelled_rows(table: pd.DataFrame, year: str) -> pd.DataFrame:
    rows = table[(table["dataset"] == f"clingen_{year}") & table["label"].notna()]
    return rows.reset_index(drop=True)


@dataclass
class FeatureStore:
    """In-memory lookup over the store (tens of thousands of rows: a hash index is enough)."""

    table: pd.DataFrame

    def __post_init__(self) -> None:
        indexed = self.table.set_index("variant", drop=False)
        self._by_key = indexed[~indexed.index.duplicated()]
        locus = self._by_key["variant"].str.rsplit(":", n=2).str[0]
        refs = self._by_key["variant"].str.split(":").str[3]
        self._ref_at = dict(zip(locus, refs, strict=True))

    @classmethod
    def load(cls, settings: Settings | None = None) -> FeatureStore:
        return cls(load_store(settings))

    def __len__(self) -> int:
        return len(self._by_key)

    def lookup(self, keys: Iterable[str]) -> pd.DataFrame:
        """Rows for the keys found, in request order (keys not found are absent)."""
        wanted = [key for key in keys if key in self._by_key.index]
        return self._by_key.loc[wanted]

    def contains(self, key: str) -> bool:
        return key in self._by_key.index

    def reference_at(self, build: str, chrom: str, pos: int) -> str | None:
        """The reference allele the store saw at a locus, if it holds any variant there."""
        return self._ref_at.get(f"{build}:{chrom}:{pos}")


# --------------------------------------------------------------------------- partitioned store

#: Hive partition columns, in directory order (``build=GRCh37/chrom=1/``).
PARTITION_COLUMNS = ("build", "chrom")
_PARTITIONING = ds.partitioning(
    pa.schema([(name, pa.string()) for name in PARTITION_COLUMNS]), flavor="hive"
)
#: Rows per parquet row group: small enough that a position range skips most of a
#: chromosome through the min/max statistics, large enough to keep scans sequential.
ROW_GROUP_ROWS = 65_536
STORE_DIRNAME = "store"
#: Called with the input bytes consumed so far (drives a progress bar).
ByteProgress = Callable[[int], None]
#: The evidence features' VCF INFO text (``VIP_gerp_rs=2.3;...``), rendered once when
#: rows are stored: a store is annotated against many times, and formatting 26
#: numbers per variant is most of what annotating a VCF costs.
INFO_COLUMN = "info_text"
INFO_METADATA_KEY = b"vipredict.info_text_columns"
#: ``##INFO`` declaration of every feature, so annotating needs no feature builder.
HEADERS_METADATA_KEY = b"vipredict.info_headers"


def partitioned_root(settings: Settings | None = None) -> Path:
    """Where the home's partitioned store lives (beside ``features.parquet``)."""
    return (settings or get_settings()).features_dir / STORE_DIRNAME


def _store_arrow(table: pd.DataFrame, specs: tuple[FeatureSpec, ...]) -> pa.Table:
    """``table`` plus build/chrom/pos/ref/alt split from its keys, sorted by locus.

    The feature schema travels in every file's metadata, so any partition file can
    be checked with :func:`~vipredict.features.table.read_feature_schema`.
    """
    from vipredict.features.table import METADATA_KEY, _schema_metadata

    locus = split_keys(table[KEY]).set_index(table.index)
    derived = (*LOCUS_COLUMNS, INFO_COLUMN)  # recomputed here, whatever the input held
    rest = table.drop(columns=[c for c in derived if c in table.columns])
    frame = pd.concat([locus, rest], axis=1).sort_values(["build", "chrom", "pos"], kind="stable")
    if "label" in frame.columns:  # unlabelled chunks hold only NA: keep every file's type double
        frame["label"] = pd.to_numeric(frame["label"], errors="coerce").astype("float64")
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(arrow.schema.metadata or {})
    metadata[METADATA_KEY] = _schema_metadata(specs)
    return _with_info_text(arrow, metadata, specs).replace_schema_metadata(metadata)


def _with_info_text(
    arrow: pa.Table, metadata: dict[bytes, bytes], specs: tuple[FeatureSpec, ...]
) -> pa.Table:
    """``arrow`` plus :data:`INFO_COLUMN` for the evidence features, when it has them all."""
    from vipredict.annotate import feature_info_header, render_info
    from vipredict.featuresets import load_feature_set

    headers = {spec.name: feature_info_header(spec) for spec in specs}
    metadata[HEADERS_METADATA_KEY] = json.dumps(headers).encode()
    columns = load_feature_set("noaf").feature_names
    if not set(columns) <= set(arrow.column_names):
        return arrow
    metadata[INFO_METADATA_KEY] = json.dumps(columns).encode()
    return arrow.append_column(INFO_COLUMN, render_info({c: arrow[c] for c in columns}))


def append_partitioned(
    table: pd.DataFrame,
    root: Path,
    tag: str | None = None,
    specs: tuple[FeatureSpec, ...] | None = None,
) -> int:
    """Validate ``table`` like a feature table and add it to the store as new files.

    Files already there are never rewritten, so appending a chunk costs only that
    chunk. Returns the number of rows written.
    """
    from vipredict.features.table import _validate, feature_specs

    declared = feature_specs() if specs is None else specs
    _validate(table, declared, f"store rows for {root}")
    if table.empty:
        return 0
    ds.write_dataset(
        _store_arrow(table, declared),
        root,
        format="parquet",
        partitioning=_PARTITIONING,
        basename_template=f"part-{tag or uuid.uuid4().hex[:12]}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        preserve_order=True,
        min_rows_per_group=ROW_GROUP_ROWS,
        max_rows_per_group=ROW_GROUP_ROWS,
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
    )
    return len(table)


def write_partitioned(
    table: pd.DataFrame, root: Path, specs: tuple[FeatureSpec, ...] | None = None
) -> Path:
    """Replace the store at ``root`` with ``table`` (written beside it, then swapped in).

    Rows streamed in earlier (:func:`stream_dbnsfp`) are replaced too: the store
    always reflects one build of the feature table plus what was streamed after it.
    """
    root = Path(root)
    staging = root.with_name(f".{root.name}.staging-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    append_partitioned(table, staging, "base", specs)
    if root.exists():
        retired = root.with_name(f".{root.name}.old-{uuid.uuid4().hex[:8]}")
        root.rename(retired)
        staging.rename(root)
        shutil.rmtree(retired)
    else:
        staging.rename(root)
    return root


_BASE_FILES = "part-base-*.parquet"


def _replace_base(table: pd.DataFrame, root: Path) -> None:
    """Swap the store's ``base`` files (the feature table) for ``table``; streamed files stay."""
    if not root.exists():
        write_partitioned(table, root)
        return
    staging = write_partitioned(table, root.with_name(f".{root.name}.base-{uuid.uuid4().hex[:8]}"))
    for old in root.glob(f"build=*/chrom=*/{_BASE_FILES}"):
        old.unlink()
    for new in staging.glob("build=*/chrom=*/*.parquet"):
        target = root / new.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        new.replace(target)
    shutil.rmtree(staging)


def locus_queries(keys: Iterable[str]) -> pa.Table:
    """``row, build, chrom, pos, ref, alt`` of the keys that parse (``row``: index in ``keys``)."""
    rows, variants = [], []
    for row, key in enumerate(keys):
        try:
            variants.append(parse_variant_key(key))
        except VariantError:
            continue
        rows.append(row)
    columns = {name: [getattr(v, name) for v in variants] for name in LOCUS_COLUMNS}
    return pa.table({"row": pa.array(rows, pa.int64()), **columns}).cast(QUERY_SCHEMA)


#: Column types of a query table for :meth:`PartitionedStore.join`.
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


def _sql_list(paths: Sequence[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


@dataclass(frozen=True)
class StoreMatch:
    """``found``: ``row`` + columns of exact matches; ``refs``: ``row, ref`` at other loci."""

    found: pa.Table
    refs: pa.Table


@dataclass
class PartitionedStore:
    """DuckDB look-ups and joins over a partitioned store, one partition at a time.

    Nothing is loaded up front: each query reads only the partition of its build
    and chromosome, and only the row groups whose position range it touches
    (files are sorted by position), so memory does not grow with the store.
    """

    root: Path
    threads: int | None = None
    schema: pa.Schema = field(init=False, repr=False)
    _con: duckdb.DuckDBPyConnection = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        first = next(iter(self.all_files()), None)
        if first is None:
            raise FileNotFoundError(
                f"no partitioned feature store at {self.root}; run `vipredict features`"
            )
        self.schema = pq.read_schema(first)
        self._con = duckdb.connect()
        # One query per block and partition: keep the files' footers instead of re-reading them.
        self._con.execute("SET parquet_metadata_cache = true")
        if self.threads:
            self._con.execute(f"SET threads = {int(self.threads)}")

    @classmethod
    def open(cls, settings: Settings | None = None, threads: int | None = None) -> PartitionedStore:
        """The home's store, first brought up to date with ``features.parquet``.

        Its ``base`` files are rewritten from the feature table when they are missing
        or older than it (a table written by another route, e.g. on Dask); rows
        streamed in by :func:`stream_dbnsfp` are kept.
        """
        settings = settings or get_settings()
        root = partitioned_root(settings)
        table_path = settings.feature_table
        if table_path.is_file():
            base = [p.stat().st_mtime for p in root.glob(f"build=*/chrom=*/{_BASE_FILES}")]
            if not base or min(base) < table_path.stat().st_mtime:
                _replace_base(load_store(settings), root)
        return cls(root, threads)

    @property
    def columns(self) -> list[str]:
        """Columns of the feature table the store holds (without the split locus columns)."""
        derived = (*LOCUS_COLUMNS, INFO_COLUMN)
        return [name for name in self.schema.names if name not in derived]

    @property
    def specs(self) -> tuple[FeatureSpec, ...]:
        """Declared feature specs (units, sources) the store's files carry."""
        from vipredict.features.table import read_feature_schema

        return read_feature_schema(next(self.all_files()))

    @property
    def info_headers(self) -> dict[str, str]:
        """``##INFO`` line of each feature, from the files (written with the rows)."""
        raw = (self.schema.metadata or {}).get(HEADERS_METADATA_KEY)
        if raw is not None:
            return dict(json.loads(raw))
        from vipredict.annotate import feature_info_header

        return {spec.name: feature_info_header(spec) for spec in self.specs}

    @property
    def info_columns(self) -> list[str] | None:
        """The features :data:`INFO_COLUMN` renders, in order (None: the store has none)."""
        raw = (self.schema.metadata or {}).get(INFO_METADATA_KEY)
        return None if raw is None else list(json.loads(raw))

    def all_files(self) -> Iterator[Path]:
        return iter(sorted(self.root.glob("build=*/chrom=*/*.parquet")))

    def files(self, build: str, chrom: str) -> list[str]:
        folder = self.root / f"build={build}" / f"chrom={chrom}"
        return sorted(str(p) for p in folder.glob("*.parquet"))

    def __len__(self) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.all_files())

    def match(self, queries: pa.Table, columns: Sequence[str]) -> StoreMatch:
        """Exact matches of the queries (``QUERY_SCHEMA``) and the REF at the others' loci.

        One query per partition joins on position alone, so a locus the store holds
        with another REF (a ``ref_mismatch``) is found in the same pass as the variants.
        """
        unknown = [c for c in columns if c not in self.schema.names]
        if unknown:
            raise KeyError(f"the feature store has no column(s) {unknown}")
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
            fields = [pa.field("row", pa.int64()), *(self.schema.field(c) for c in columns)]
            empty = pa.table({"row": pa.array([], pa.int64()), "ref": pa.array([], pa.string())})
            return StoreMatch(pa.schema(fields).empty_table(), empty)
        hits = result["hit"].combine_chunks()
        found = result.filter(hits).select(["row", *columns])
        others = result.filter(pc.invert(hits))
        alone = pc.invert(pc.is_in(others["row"], found["row"]))
        refs = others.filter(alone).select(["row", "stored_ref"]).rename_columns(["row", "ref"])
        return StoreMatch(found, refs)

    def join(self, queries: pa.Table, columns: Sequence[str]) -> pa.Table:
        """``row`` plus ``columns`` for every query the store holds (in no set order)."""
        return self.match(queries, columns).found

    def references(self, queries: pa.Table) -> pa.Table:
        """``row, ref``: the REF the store holds at the locus of each query it lacks."""
        refs = self.match(queries, []).refs
        return refs.group_by("row").aggregate([("ref", "min")]).rename_columns(["row", "ref"])

    def _per_partition(self, queries: pa.Table, sql: str) -> pa.Table | None:
        parts = []
        for pair in queries.group_by(list(PARTITION_COLUMNS)).aggregate([]).to_pylist():
            files = self.files(pair["build"], pair["chrom"])
            if not files:
                continue
            mask = pc.and_(
                pc.equal(queries["build"], pair["build"]), pc.equal(queries["chrom"], pair["chrom"])
            )
            group = queries.filter(mask)
            lo, hi = pc.min_max(group["pos"]).values()
            self._con.register("q", group)
            try:
                text = sql.format(files=_sql_list(files), lo=lo.as_py(), hi=hi.as_py())
                parts.append(self._con.sql(text).to_arrow_table())
            finally:
                self._con.unregister("q")
        return pa.concat_tables(parts, promote_options="permissive") if parts else None

    def lookup(self, keys: Sequence[str], columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Rows for the keys found, in request order (keys not found are absent).

        The DuckDB counterpart of :meth:`FeatureStore.lookup`, for stores too big to hold.
        """
        wanted = self.columns if columns is None else list(columns)
        found = self.join(locus_queries(keys), wanted).sort_by("row")
        return found.drop_columns(["row"]).to_pandas()

    def dataset_rows(
        self, dataset: str, columns: Sequence[str], limit: int, seed: int = 0
    ) -> pd.DataFrame:
        """Up to ``limit`` rows of one dataset, a repeatable pseudo-random pick if it has more.

        A streamed genome-scale source is far too big to load, and a calibration
        only needs a representative sample of it.
        """
        files = [str(p) for p in self.all_files()]
        wanted = ", ".join(f'"{c}"' for c in columns)
        # A hash order, not USING SAMPLE: the same rows whatever the thread count,
        # so a run repeated from its id calibrates on the same sample.
        sql = (
            f"SELECT {wanted} FROM read_parquet($files) WHERE dataset = $dataset "
            f"ORDER BY hash(concat(variant, ':', {int(seed)})) LIMIT {int(limit)}"
        )
        found = self._con.sql(sql, params={"files": files, "dataset": dataset}).to_arrow_table()
        return found.to_pandas().sort_values("variant", ignore_index=True)

    def read_all(self) -> pd.DataFrame:
        """The whole store as one table (small stores and tests only)."""
        dataset = ds.dataset(self.root, format="parquet", partitioning=_PARTITIONING)
        return dataset.to_table().to_pandas()


# --------------------------------------------------------------------------- streaming builder


@dataclass
class StreamReport:
    """What a streamed build read, wrote, skipped and dropped."""

    rows_read: int = 0
    written: int = 0
    already_stored: int = 0
    chunks: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


@contextmanager
def _counted_text(path: Path) -> Iterator[tuple[object, Callable[[], int]]]:
    """A binary handle on the (possibly gzipped) file and a function giving raw bytes read."""
    import gzip

    from vipredict.readers._common import is_gzip

    gzipped = is_gzip(path)
    with Path(path).open("rb") as raw:
        handle = gzip.GzipFile(fileobj=raw) if gzipped else raw
        yield handle, raw.tell


def _split_last_locus(chunk: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows before the chunk's last locus, rows at it): a locus is never cut in two.

    dbNSFP v2 lists a variant once per transcript on adjacent lines and the reader
    collapses them; holding the last locus back keeps that collapse exact across chunks.
    """
    chrom, pos = chunk.columns[0], next(c for c in chunk.columns if c.startswith("pos("))
    last = (chunk[chrom] == chunk[chrom].iloc[-1]) & (chunk[pos] == chunk[pos].iloc[-1])
    return chunk[~last], chunk[last]


def _not_stored(table: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Rows whose variant the store does not hold yet (first source wins, as in build_store)."""
    if table.empty or not any(root.glob("build=*/chrom=*/*.parquet")):
        return table
    found = PartitionedStore(root).join(locus_queries(table[KEY]), []).column("row")
    keep = np.ones(len(table), dtype=bool)
    keep[found.to_numpy()] = False
    return table[keep]


def stream_dbnsfp(
    path: Path,
    root: Path,
    build: str = "GRCh37",
    *,
    dataset: str | None = None,
    source_name: str | None = None,
    chunk_rows: int = 100_000,
    frequencies: tuple[pd.DataFrame, dict[str, set[str]]] | None = None,
    progress: ByteProgress = lambda _: None,
) -> StreamReport:
    """Stream a dbNSFP TSV of any size into the partitioned store, chunk by chunk.

    Each chunk goes through the same reader mapping (:func:`dbnsfp_annotations`)
    and feature builders as :func:`build_store`, so streamed rows equal rows built
    in memory. Only the columns the reader uses are parsed, memory is bounded by
    ``chunk_rows``, and variants the store already holds are skipped (first source
    wins). ``progress`` gets the compressed bytes read after each chunk.
    """
    from vipredict.features.frequency import DEFAULT_DATASETS, frequency_source_versions
    from vipredict.features.table import build_feature_table
    from vipredict.readers.dbnsfp import USED_COLUMNS, dbnsfp_annotations

    long, covered = frequencies if frequencies is not None else load_frequencies()
    by_variant = long.set_index(long["variant"].astype(str)).sort_index()
    provenance = frequency_source_versions(long, DEFAULT_DATASETS)
    dataset = dataset or source_name or Path(path).name
    report, tag = StreamReport(), uuid.uuid4().hex[:8]
    root.mkdir(parents=True, exist_ok=True)

    def write(raw: pd.DataFrame) -> None:
        if raw.empty:
            return
        annotations = dbnsfp_annotations(raw, build, f"dbNSFP {Path(path).name}", source_name)
        for reason, count in annotations.attrs["dropped"].items():
            report.dropped[reason] = report.dropped.get(reason, 0) + count
        # Only this chunk's frequency rows: the builders then cost the chunk, not the genome.
        local = by_variant.loc[by_variant.index.intersection(annotations[KEY].astype(str))]
        table = build_feature_table(_unlabelled(annotations, dataset), local, covered)
        table["frequency_source_versions"] = provenance  # of the whole table, as in build_store
        fresh = _not_stored(table, root)
        report.already_stored += len(table) - len(fresh)
        report.written += append_partitioned(fresh, root, f"{tag}-{report.chunks:06d}")
        report.rows_read += len(raw)
        report.chunks += 1

    with _counted_text(path) as (handle, position):
        reader = pd.read_csv(
            handle,
            sep="\t",
            dtype=str,
            keep_default_na=False,
            usecols=USED_COLUMNS.__contains__,
            chunksize=chunk_rows,
        )
        carry = pd.DataFrame()
        for chunk in reader:
            ready, carry = _split_last_locus(pd.concat([carry, chunk], ignore_index=True))
            write(ready)
            progress(position())
        write(carry)
        progress(position())
    return report


@contextmanager
def byte_progress(total: int, description: str, show: bool = True) -> Iterator[ByteProgress]:
    """A rich progress bar over ``total`` input bytes, advanced to the position it is given."""
    if not show:
        yield lambda _: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False, disable=os.environ.get("TERM") == "dumb") as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=min(done, total))
