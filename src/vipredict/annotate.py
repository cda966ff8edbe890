"""``vipredict annotate``: store features and calibrated evidence added to a whole VCF.

Built for exome- and genome-sized VCFs against a dbNSFP-sized store on one machine:

* the VCF body is read in blocks by Arrow's CSV reader (one column: the line), so
  memory is bounded by the block size, never by the file;
* each block is split into fields and checked with vectorised Arrow kernels. Only
  records that are not a plain SNV on a primary contig (indels, multi-allelic or
  malformed lines) take the per-record path of :func:`vipredict.predict.vcf_records`,
  which names their error exactly as ``vipredict predict`` does;
* the SNVs are joined to the partitioned store in DuckDB (one partition and one
  position range per block: :class:`~vipredict.featurestore.PartitionedStore`),
  scored through :meth:`~vipredict.scoring.Scorer.score_features` (the code path
  of ``predict`` and the service) and written as INFO text built column by column;
* the output is BGZF, compressed by htslib's ``bgzip`` in its own process while
  the next block is worked on, so it can be tabix-indexed.

Every record is written, in input order. A record the store does not hold keeps
its line and gets ``VIP_ERR=no_features`` (the code ``predict`` uses for it); a
REF that disagrees with the store gets ``ref_mismatch``.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from vipredict.featurestore import INFO_COLUMN, QUERY_SCHEMA, PartitionedStore, byte_progress
from vipredict.predict import VIP_INFO_HEADERS, VIP_KEYS, build_from_header, vcf_records
from vipredict.readers._common import is_gzip, open_text
from vipredict.variants import VariantError, normalise_chrom, parse_variant_key

if TYPE_CHECKING:  # MLflow, the models and the feature builders load only when needed
    from vipredict.features import FeatureSpec
    from vipredict.scoring import Scorer

#: INFO id of a store feature: ``VIP_`` + the feature name (``VIP_gerp_rs``).
FEATURE_PREFIX = "VIP_"
#: Bytes of VCF text per block: bounds memory (a few times this) whatever the file size.
BLOCK_BYTES = 1 << 20
_BASES = pa.array(["A", "C", "G", "T"])
_FIELD_COUNT = 8
#: A column handed to Arrow: an Arrow array, a NumPy array or a plain sequence.
Column = pa.Array | np.ndarray | Sequence[object]


@dataclass
class AnnotationReport:
    """Counts of one run: records and alleles written, found in the store, errors by code."""

    records: int = 0
    alleles: int = 0
    in_store: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def feature_info_header(spec: FeatureSpec) -> str:
    """``##INFO`` line of one store feature (Number=A: one value per ALT)."""
    text = f"{spec.description} [{spec.unit}]".replace('"', "'")
    return (
        f"##INFO=<ID={FEATURE_PREFIX}{spec.name},Number=A,Type=Float,"
        f'Description="vipredict feature store: {text}">'
    )


def _info_id(line: str) -> str | None:
    if not line.startswith("##INFO=<ID="):
        return None
    return line[len("##INFO=<ID=") :].split(",", 1)[0]


def annotated_header(lines: Sequence[str], ours: Sequence[str]) -> list[str]:
    """The input header with ``ours`` declared before ``#CHROM`` (earlier copies dropped)."""
    ids = {_info_id(line) for line in ours}
    kept = [line for line in lines if _info_id(line) not in ids]
    body = [i for i, line in enumerate(kept) if not line.startswith("##")]
    if not body:  # a VCF without its #CHROM line: give it the eight fixed columns
        kept.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
        body = [len(kept) - 1]
    return [*kept[: body[0]], *ours, *kept[body[0] :]]


def read_header(path: Path, sample: int = 1_000) -> tuple[list[str], int]:
    """Leading ``#`` lines of a plain or gzipped VCF, and the longest of the next ``sample``."""
    lines, longest = [], 0
    with open_text(path) as handle:
        for line in handle:
            if not line.startswith("#"):
                longest = max([len(line), *map(len, islice(handle, sample))])
                break
            lines.append(line.rstrip("\r\n"))
    return lines, longest


# --------------------------------------------------------------------------- reading and writing


def body_blocks(
    path: Path, skip: int, block_bytes: int = BLOCK_BYTES
) -> Iterator[tuple[pa.Array, int]]:
    """Body lines in blocks of about ``block_bytes`` (header skipped), with the file bytes read.

    The line is the only column (the delimiter is a byte VCF text never holds), and
    nothing is quoted or converted, so every line arrives exactly as written.
    """
    raw = pa.OSFile(str(path))
    stream = pa.CompressedInputStream(raw, "gzip") if is_gzip(path) else raw
    reader = pcsv.open_csv(
        stream,
        read_options=pcsv.ReadOptions(
            column_names=["line"], skip_rows=skip, block_size=block_bytes
        ),
        parse_options=pcsv.ParseOptions(
            delimiter="\x1f", quote_char=False, double_quote=False, escape_char=False
        ),
        convert_options=pcsv.ConvertOptions(
            column_types={"line": pa.string()}, check_utf8=False, strings_can_be_null=False
        ),
    )
    try:
        for batch in reader:
            yield batch.column(0), raw.tell()
    finally:
        raw.close()


@contextmanager
def vcf_writer(path: Path, threads: int = 2) -> Iterator[Callable[[bytes | memoryview], object]]:
    """A writer of ``path``: BGZF for ``.gz`` (``bgzip`` in its own process, else pysam).

    htslib's ``bgzip`` compresses on ``threads`` threads in parallel with the caller,
    which is where most of the time of writing an annotated VCF goes.
    """
    if path.suffix != ".gz":
        with path.open("wb") as handle:
            yield handle.write
        return
    bgzip = shutil.which("bgzip")
    if bgzip is None:
        import pysam

        handle = pysam.BGZFile(str(path), "wb")
        try:
            yield handle.write
        finally:
            handle.close()
        return
    with path.open("wb") as out:
        process = subprocess.Popen(
            [bgzip, "-c", "-@", str(threads)], stdin=subprocess.PIPE, stdout=out
        )
        assert process.stdin is not None
        _widen_pipe(process.stdin.fileno())
        try:
            with _in_background(process.stdin.write) as write:
                yield write
        finally:
            process.stdin.close()
            if process.wait() != 0:
                raise RuntimeError(f"bgzip failed with status {process.returncode} on {path}")


@contextmanager
def _in_background(
    write: Callable[[bytes | memoryview], object], depth: int = 4
) -> Iterator[Callable[[bytes | memoryview], None]]:
    """``write`` done by a thread behind a queue of ``depth`` blocks.

    While ``bgzip`` takes in one block the caller already works on the next, instead
    of waiting on a full pipe. A failed write is raised at the next call, or at exit.
    """
    pending: queue.Queue[bytes | memoryview | None] = queue.Queue(maxsize=depth)
    failures: list[BaseException] = []

    def drain() -> None:
        while (item := pending.get()) is not None:
            if not failures:
                try:
                    write(item)
                except BaseException as error:  # handed to the caller's thread
                    failures.append(error)

    def put(data: bytes | memoryview) -> None:
        if failures:
            raise failures[0]
        pending.put(data)

    thread = threading.Thread(target=drain, name="vcf-writer", daemon=True)
    thread.start()
    try:
        yield put
    finally:
        pending.put(None)
        thread.join()
    if failures:
        raise failures[0]


def _widen_pipe(fd: int, size: int = 1 << 20) -> None:
    """A 1 MiB pipe to ``bgzip`` (Linux; default 64 KiB): fewer wake-ups of both processes."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (ImportError, OSError):  # other systems, or a lower pipe-max-size: keep the default
        pass


def _text_bytes(lines: pa.Array) -> memoryview:
    """The concatenated bytes of a string array, without copying them."""
    lines = lines.cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[start:end]


# --------------------------------------------------------------------------- one block


@dataclass
class _Alleles:
    """One row per ALT of a block, in record order: record, locus and error ("" if keyed)."""

    record: np.ndarray
    loci: pa.Table
    error: np.ndarray

    @classmethod
    def combine(cls, parts: list[tuple[np.ndarray, np.ndarray, pa.Table, np.ndarray]]) -> _Alleles:
        """Fast and slow alleles merged, sorted by record then ALT number."""
        record = np.concatenate([p[0] for p in parts])
        number = np.concatenate([p[1] for p in parts])
        order = np.lexsort((number, record))
        loci = pa.concat_tables([p[2] for p in parts]).take(pa.array(order))
        error = np.concatenate([p[3] for p in parts])[order]
        return cls(record[order], loci, error)


@dataclass
class _Lookup:
    """Per allele: the store row it matched (-1 if none), its error, and its scores."""

    found: pa.Table
    matched: np.ndarray
    error: np.ndarray
    score: np.ndarray
    posterior: np.ndarray
    evidence: np.ndarray


def _fields(lines: pa.Array) -> list[pa.Array]:
    """The eight fixed fields and the rest (FORMAT and samples, or "") of each line."""
    widened = pc.binary_join_element_wise(lines, "", "\t")  # every line gets a 9th field
    parts = pc.split_pattern(widened, "\t", max_splits=_FIELD_COUNT)
    fields = [pc.list_element(parts, i) for i in range(_FIELD_COUNT)]
    rest = pc.utf8_slice_codeunits(pc.list_element(parts, _FIELD_COUNT), 0, -1)
    return [*fields, rest]


def _pad(line: str) -> str:
    """A line with fewer than eight fields padded with ``.`` (as the service does)."""
    fields = line.split("\t")
    return "\t".join(fields + ["."] * (_FIELD_COUNT - len(fields)))


def _canonical_contigs(chrom: pa.Array) -> pa.Array:
    """Canonical contig per line (null when not a primary chromosome), one call per name."""
    encoded = pc.dictionary_encode(chrom)
    names = []
    for name in encoded.dictionary.to_pylist():
        try:
            names.append(normalise_chrom(name))
        except VariantError:
            names.append(None)
    return pc.take(pa.array(names, pa.string()), encoded.indices)


def _locus_table(build: str, chrom: Column, pos: Column, ref: Column, alt: Column) -> pa.Table:
    """Query rows (``QUERY_SCHEMA`` without ``row``) for one build."""
    n = len(pos)
    return pa.table(
        {
            "build": pa.array([build] * n, pa.string()) if n else pa.array([], pa.string()),
            "chrom": pa.array(chrom, pa.string()),
            "pos": pa.array(pos, pa.int64()),
            "ref": pa.array(ref, pa.string()),
            "alt": pa.array(alt, pa.string()),
        }
    )


def _slow_alleles(line: str, build: str) -> list[tuple[tuple, str]]:
    """(locus, error) per ALT of a line the fast path could not take, or [] for a comment."""
    out = []
    for record in vcf_records(iter([line]), build):
        if record.key is None:
            out.append(((build, "", 0, "", ""), record.error))
            continue
        variant = parse_variant_key(record.key)
        locus = (variant.build, variant.chrom, variant.pos, variant.ref, variant.alt)
        out.append((locus, "" if variant.is_snv else "not_snv"))
    return out


def significant_text(values: np.ndarray, digits: int = 6) -> pa.Array:
    """Text of each value to ``digits`` significant digits (NaN -> null), vectorised.

    Rounds like ``f"{v:.6g}"`` (the service's format), then prints the shortest text
    that reads back as the rounded number: an integer divided or multiplied by a
    power of ten is correctly rounded in IEEE arithmetic, so 0.018572 prints as
    ``0.018572``. Magnitudes below 1e-17 or above 1e22 (none in the store) keep full
    precision. The text may spell an exponent differently from ``.6g`` (``0.00001``
    for ``1e-05``); both read back as the same number.
    """
    x = np.asarray(values, dtype=np.float64)
    usable = np.isfinite(x) & (x != 0)
    magnitude = np.floor(np.log10(np.abs(x, where=usable, out=np.ones_like(x))))
    places = digits - 1 - magnitude
    up = usable & (places >= 0) & (places <= 22)
    down = usable & (places < 0) & (places >= -22)
    scale = 10.0 ** np.where(up | down, np.abs(places), 0)
    rounded = np.where(up, np.round(x * scale) / scale, x)
    rounded = np.where(down, np.round(x / scale) * scale, rounded)
    return pc.cast(pa.array(rounded, mask=np.isnan(x)), pa.string())


def keyed_text(key: str, values: pa.Array | pa.ChunkedArray, rows: pa.Array) -> pa.Array:
    """``key=value`` of ``values[rows]`` to six significant digits (null: value missing).

    Store values come from text with few decimals, so a block holds few distinct
    values per column: each is formatted once and the text is gathered by index.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values.cast(pa.float64()))
    text = significant_text(encoded.dictionary.to_numpy(zero_copy_only=False))
    keyed = pc.binary_join_element_wise(f"{key}=", text, "")
    return pc.take(keyed, pc.take(encoded.indices, rows))


def join_present(pieces: Sequence[pa.Array], separator: str) -> pa.Array:
    """The non-null pieces of each row joined by ``separator``; null where none is present.

    ``binary_join_element_wise(..., null_handling="skip")`` drops the rows whose
    pieces are all null (pyarrow 25), which would shift every later line, so those
    rows are left out of the join and put back as nulls.
    """
    present = pieces[0].is_valid()
    for piece in pieces[1:]:
        present = pc.or_(present, piece.is_valid())
    if pc.all(present).as_py() is not False:
        return pc.binary_join_element_wise(*pieces, separator, null_handling="skip")
    rows = np.flatnonzero(present.to_numpy(zero_copy_only=False))
    kept = pa.array(rows)
    joined = pc.binary_join_element_wise(
        *(pc.take(piece, kept) for piece in pieces), separator, null_handling="skip"
    )
    where = np.full(len(present), -1, dtype=np.int64)
    where[rows] = np.arange(len(rows))
    return pc.take(joined, pa.array(where, mask=where < 0))


def _prefixed(key: str, text: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(f"{key}=", text, "")


def render_info(
    values: Mapping[str, pa.Array | pa.ChunkedArray],
    rows: pa.Array | None = None,
    slice_rows: int = 65_536,
) -> pa.Array:
    """``VIP_<name>=value;...`` of ``values[rows]`` (missing values left out; null if none).

    The one renderer of feature INFO text: the store keeps its output for the
    evidence features (:data:`~vipredict.featurestore.INFO_COLUMN`), and annotating
    with other columns renders them here on the fly, so both read the same.
    """
    if not values:
        return pa.nulls(0 if rows is None else len(rows), pa.string())
    if rows is None:
        rows = pa.array(np.arange(len(next(iter(values.values())))))
    parts = []
    for start in range(0, max(len(rows), 1), slice_rows):
        part = rows.slice(start, slice_rows)
        pieces = [keyed_text(f"{FEATURE_PREFIX}{c}", v, part) for c, v in values.items()]
        parts.append(join_present(pieces, ";"))
    return pa.concat_arrays(parts)


class BlockAnnotator:
    """Annotates blocks of VCF lines; holds the store, the scorer and the columns.

    A block is parsed, looked up and scored whole (one DuckDB query per partition,
    one model call), then turned into text in slices of ``slice_records``, which
    bounds the memory the string kernels need.
    """

    def __init__(
        self,
        store: PartitionedStore,
        scorer: Scorer | None,
        columns: Sequence[str],
        build: str,
        slice_records: int = 32_768,
    ) -> None:
        self.store = store
        self.scorer = scorer
        self.columns = list(columns)
        self.build = build
        self.slice_records = slice_records
        model_columns = list(scorer.evidence_model.feature_names) if scorer else []
        #: The store's pre-rendered INFO text is used when it renders exactly these columns.
        self.rendered = store.info_columns == self.columns
        shown = [INFO_COLUMN] if self.rendered else self.columns
        scoring = ["variant", "gene", *model_columns] if scorer else []
        self.fetch = list(dict.fromkeys([*scoring, *shown]))
        self.ours = [f"{FEATURE_PREFIX}{c}" for c in self.columns] + sorted(VIP_KEYS)
        self._ours_regex = f"(^|;)({'|'.join(self.ours)})=[^;]*"
        self.report = AnnotationReport()

    # ---- parsing

    def _alleles(self, lines: pa.Array, fields: list[pa.Array]) -> tuple[_Alleles, np.ndarray]:
        """All ALTs of the block, and per record: -1 comment, 0 no ALT column, else ALT count."""
        chrom, pos, ref, alt = (fields[i] for i in (0, 1, 3, 4))
        contig = _canonical_contigs(chrom)
        digits = pc.and_(pc.utf8_is_digit(pos), pc.less_equal(pc.utf8_length(pos), 10))
        fast = pc.and_(
            pc.and_(pc.is_in(ref, _BASES), pc.is_in(alt, _BASES)),
            pc.and_(pc.not_equal(ref, alt), pc.and_(digits, pc.is_valid(contig))),
        )
        fast_np = fast.to_numpy(zero_copy_only=False)
        position = pc.cast(pc.if_else(fast, pos, "0"), pa.int64()).to_numpy()
        fast_np &= position >= 1
        index = np.flatnonzero(fast_np)
        picked = pa.array(index)
        loci = _locus_table(
            self.build,
            pc.take(contig, picked),
            position[index],
            pc.take(ref, picked),
            pc.take(alt, picked),
        )
        counts = np.ones(len(lines), dtype=np.int64)
        parts = [(index, np.zeros(len(index), np.int64), loci, np.full(len(index), "", object))]
        parts.append(self._slow(lines, np.flatnonzero(~fast_np), counts))
        return _Alleles.combine(parts), counts

    def _slow(
        self, lines: pa.Array, index: np.ndarray, counts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, pa.Table, np.ndarray]:
        """Alleles of the lines the vectorised check did not pass, one record at a time."""
        records, numbers, loci, errors = [], [], [], []
        for i in index:
            line = lines[int(i)].as_py()
            found = _slow_alleles(line, self.build)
            counts[i] = len(found) if found else -1
            if found and len(line.split("\t", 5)) < 5:
                counts[i] = 0
            for k, (locus, error) in enumerate(found):
                records.append(i)
                numbers.append(k)
                loci.append(locus)
                errors.append(error)
        columns = list(zip(*loci, strict=True)) if loci else [[]] * 5
        return (
            np.asarray(records, np.int64),
            np.asarray(numbers, np.int64),
            _locus_table(self.build, *columns[1:]),
            np.asarray(errors, dtype=object),
        )

    # ---- store and scores

    def _lookup(self, alleles: _Alleles) -> _Lookup:
        """Store rows of the keyed alleles, the errors of the others, and the evidence."""
        errors = alleles.error.copy()
        keyed = np.flatnonzero(errors == "")
        asked = (
            alleles.loci.take(pa.array(keyed))
            .append_column("row", pa.array(keyed, pa.int64()))
            .select(QUERY_SCHEMA.names)
        )
        match = self.store.match(asked, self.fetch)
        found = pa.Table.from_arrays(  # one chunk per column: gathers then need no merging
            [column.combine_chunks() for column in match.found.columns],
            names=match.found.column_names,
        )
        matched = np.full(len(errors), -1, dtype=np.int64)
        matched[found["row"].to_numpy()] = np.arange(found.num_rows)
        errors[keyed[matched[keyed] < 0]] = "no_features"
        rows = match.refs["row"].to_numpy()
        stored = match.refs["ref"].to_numpy(zero_copy_only=False)
        asked_ref = pc.take(alleles.loci["ref"], pa.array(rows)).to_numpy(zero_copy_only=False)
        errors[rows[stored != asked_ref]] = "ref_mismatch"
        return self._score(_Lookup(found, matched, errors, *self._blank(len(errors))))

    @staticmethod
    def _blank(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.full(n, np.nan), np.full(n, np.nan), np.full(n, ".", dtype=object)

    def _score(self, lookup: _Lookup) -> _Lookup:
        """Evidence through :meth:`Scorer.score_features` (the predict/service code path)."""
        hit = np.flatnonzero(lookup.matched >= 0)
        if self.scorer is not None and len(hit):
            scored = self.scorer.score_features(lookup.found.to_pandas())
            order = lookup.matched[hit]
            lookup.score[hit] = scored["score"].to_numpy(dtype=float)[order]
            lookup.posterior[hit] = scored["posterior"].to_numpy(dtype=float)[order]
            lookup.evidence[hit] = scored["evidence"].astype(str).to_numpy()[order]
            lookup.error[hit] = scored["error"].astype(str).to_numpy()[order]
        lookup.evidence[lookup.error != ""] = "."
        return lookup

    # ---- text

    def _allele_texts(self, lookup: _Lookup, lo: int, hi: int) -> pa.Array:
        """INFO text of each allele of ``[lo, hi)``: features, then the VIP_* results."""
        matched = lookup.matched[lo:hi]
        rows = pa.array(matched, mask=matched < 0)
        if self.rendered:
            pieces = [pc.take(lookup.found[INFO_COLUMN].chunk(0), rows)]
        else:
            pieces = [render_info({c: lookup.found[c] for c in self.columns}, rows)]
        if self.scorer is not None:
            score = significant_text(lookup.score[lo:hi])
            posterior = significant_text(lookup.posterior[lo:hi])
            pieces.append(_prefixed("VIP_SCORE", pc.fill_null(score, ".")))
            pieces.append(_prefixed("VIP_POST", pc.fill_null(posterior, ".")))
            evidence = pa.array(lookup.evidence[lo:hi], pa.string())
            pieces.append(_prefixed("VIP_EVIDENCE", evidence))
        errors = lookup.error[lo:hi]
        pieces.append(_prefixed("VIP_ERR", pa.array(np.where(errors == "", ".", errors))))
        return join_present(pieces, ";")

    @staticmethod
    def _per_alt(alleles: list[str]) -> str:
        """Number=A INFO of a multi-allelic record from its ALTs' own INFO text.

        Each key's values are comma-joined in ALT order, ``.`` where an ALT lacks it.
        """
        parsed = [dict(kv.split("=", 1) for kv in text.split(";")) for text in alleles]
        keys = dict.fromkeys(key for values in parsed for key in values)
        return ";".join(f"{k}=" + ",".join(v.get(k, ".") for v in parsed) for k in keys)

    def _record_annotations(
        self, texts: pa.Array, record_of: np.ndarray, counts: np.ndarray, errors: np.ndarray
    ) -> pa.Array:
        """INFO text added to each record (null for comment lines, which pass unchanged).

        ``record_of`` (sorted) and ``errors`` are per allele, records relative to the slice.
        """
        if (counts == 1).all() and np.array_equal(record_of, np.arange(len(counts))):
            return texts  # every record one SNV: the common case needs no gather
        starts = np.searchsorted(record_of, np.arange(len(counts)))
        first = np.where(counts == 1, starts, -1)
        annotations = pc.take(texts, pa.array(first, mask=first < 0))
        special = np.flatnonzero((counts > 1) | (counts == 0))
        if len(special):
            extra = []
            for record in special:
                if counts[record] == 0:  # no ALT column: only the error (as the service does)
                    extra.append(f"VIP_ERR={errors[starts[record]]}")
                    continue
                rows = pa.array(np.arange(starts[record], starts[record] + counts[record]))
                extra.append(self._per_alt(pc.take(texts, rows).to_pylist()))
            mask = np.zeros(len(counts), dtype=bool)
            mask[special] = True
            annotations = pc.replace_with_mask(annotations, pa.array(mask), pa.array(extra))
        return annotations

    def _info(self, info: pa.Array) -> pa.Array:
        """The record's own INFO, minus any VIP key written before; null when empty.

        Keys are removed whether or not the header declares them, as the service does:
        an undeclared ``VIP_ERR=`` left in place would be written twice. The regex runs
        only on blocks that mention one (a substring scan is far cheaper).
        """
        if pc.any(pc.match_substring(info, "VIP_")).as_py():
            info = pc.replace_substring_regex(info, self._ours_regex, "")
            info = pc.utf8_ltrim(info, ";")
        empty = pc.or_(pc.equal(info, "."), pc.equal(info, ""))
        return pc.if_else(empty, pa.scalar(None, pa.string()), info)

    def _text(self, lines: pa.Array, fields: list[pa.Array], annotations: pa.Array) -> pa.Array:
        """Each line rebuilt in one pass: fixed fields, own INFO then ours, the rest, newline.

        One join writes every output byte once (lines are most of the work of a
        block); comment lines, which get no annotation, are written as they came.
        """
        own = pc.binary_join_element_wise(self._info(fields[7]), ";", "")  # null when "."
        pieces: list[pa.Array | str] = []
        for field_text in fields[:7]:
            pieces += [field_text, "\t"]
        pieces += [own, annotations]
        if pc.any(pc.not_equal(fields[8], "")).as_py():
            tail = pc.binary_join_element_wise("\t", fields[8], "")
            pieces.append(pc.if_else(pc.equal(fields[8], ""), pa.scalar(None, pa.string()), tail))
        rebuilt = pc.binary_join_element_wise(*pieces, "\n", "", null_handling="skip")
        comments = pc.is_null(annotations)
        if pc.any(comments).as_py():
            as_read = pc.binary_join_element_wise(pc.filter(lines, comments), "\n", "")
            rebuilt = pc.replace_with_mask(rebuilt, comments, as_read)
        return rebuilt

    def __call__(self, lines: pa.Array) -> Iterator[pa.Array]:
        """Annotated lines of one block, each ending in a newline, in input order (in slices)."""
        tabs = pc.count_substring(lines, "\t").to_numpy()
        short = np.flatnonzero(tabs < _FIELD_COUNT - 1)
        padded = lines
        if len(short):
            fixes = pa.array([_pad(lines[int(i)].as_py()) for i in short], pa.string())
            mask = np.zeros(len(lines), dtype=bool)
            mask[short] = True
            padded = pc.replace_with_mask(lines, pa.array(mask), fixes)
        fields = _fields(padded)
        alleles, counts = self._alleles(lines, fields)
        lookup = self._lookup(alleles)
        self._count(counts, lookup)
        for a in range(0, len(lines), self.slice_records):
            b = min(a + self.slice_records, len(lines))
            lo, hi = np.searchsorted(alleles.record, [a, b])
            texts = self._allele_texts(lookup, int(lo), int(hi))
            annotations = self._record_annotations(
                texts, alleles.record[lo:hi] - a, counts[a:b], lookup.error[lo:hi]
            )
            yield self._text(lines[a:b], [f[a:b] for f in fields], annotations)

    def _count(self, counts: np.ndarray, lookup: _Lookup) -> None:
        self.report.records += int((counts >= 0).sum())
        self.report.alleles += len(lookup.error)
        self.report.in_store += int((lookup.matched >= 0).sum())
        self.report.errors.update(lookup.error[lookup.error != ""].tolist())


# --------------------------------------------------------------------------- the command


def join_threads() -> int:
    """DuckDB threads for annotating: half the cores, the other half compress (``bgzip``)."""
    return max(1, (os.cpu_count() or 2) // 2)


def default_columns(scorer: Scorer | None, store: PartitionedStore | None = None) -> list[str]:
    """Features written by default: those of the evidence model (the ``noaf`` feature set)."""
    if scorer is not None:
        return list(scorer.evidence_model.feature_names)
    if store is not None and store.info_columns:
        return store.info_columns  # the same set, as the store rendered it
    from vipredict.featuresets import load_feature_set

    return load_feature_set("noaf").feature_names


def annotate_vcf(
    input_path: Path,
    output: Path,
    store: PartitionedStore,
    scorer: Scorer | None = None,
    columns: Sequence[str] | None = None,
    build: str = "GRCh37",
    block_bytes: int = BLOCK_BYTES,
    show_progress: bool = True,
) -> AnnotationReport:
    """Write ``input_path`` to ``output`` with store features and, given a scorer, evidence.

    ``columns`` are store features (default: the evidence model's). The output is
    written beside ``output`` and renamed into place when complete.
    """
    if scorer is not None:
        from vipredict.scoring import require_store_columns

        require_store_columns(scorer.evidence_model, store.columns)
    chosen = list(columns) if columns is not None else default_columns(scorer, store)
    headers = store.info_headers
    unknown = [c for c in chosen if c not in headers]
    if unknown:
        raise KeyError(f"not features of the store: {', '.join(unknown)}")
    header, longest = read_header(input_path)
    file_build = build_from_header([h for h in header if h.startswith("##")], build)
    vip = [h for h in VIP_INFO_HEADERS if scorer is not None or _info_id(h) == "VIP_ERR"]
    ours = [headers[c] for c in chosen] + vip
    annotator = BlockAnnotator(store, scorer, chosen, file_build)
    partial = output.with_name(f".partial-{os.getpid()}-{output.name}")  # same suffix
    output.parent.mkdir(parents=True, exist_ok=True)
    head = ("\n".join(annotated_header(header, ours)) + "\n").encode()
    block = max(block_bytes, 64 * longest)
    try:
        while True:
            try:
                _write(input_path, partial, head, len(header), annotator, block, show_progress)
                break
            except pa.ArrowInvalid as error:  # a line longer than the block: start again
                if "straddling" not in str(error) or block > 1 << 34:
                    raise
                block *= 16
                annotator.report = AnnotationReport()
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return annotator.report


def _write(
    source: Path,
    target: Path,
    head: bytes,
    skip: int,
    annotator: BlockAnnotator,
    block: int,
    show_progress: bool,
) -> None:
    """Header, then the body block by block, with a progress bar over the input bytes."""
    size = source.stat().st_size
    with (
        vcf_writer(target) as write,
        byte_progress(size, f"annotating {source.name}", show_progress) as advance,
    ):
        write(head)
        for lines, consumed in body_blocks(source, skip, block):
            for text in annotator(lines):
                write(_text_bytes(text))
            advance(consumed)


def index_vcf(path: Path) -> Path:
    """Tabix index of a bgzipped VCF (``.tbi`` beside it)."""
    import pysam

    return Path(pysam.tabix_index(str(path), preset="vcf", force=True, keep_original=True))
