"""The one writer of vipredict's VCF output: ``VIP_*`` INFO fields, their header, BGZF.

``vipredict annotate``, ``POST /predict/vcf`` and the queue's VCF export all
write through here, so a field is declared in one place and spelled one way:

* :data:`VIP_INFO_HEADERS` declares the per-allele results (``VIP_SCORE``,
  ``VIP_POST``, ``VIP_EVIDENCE``, ``VIP_MIS_PRD``, ``VIP_ERR``) and
  :func:`feature_info_header` the store features (``VIP_<feature>``), the fields
  :class:`InfoWriter` writes; ``VIP_EVIDENCE`` belongs to ACMG/AMP v3 and
  ``VIP_MIS_PRD`` to SVCv4, and a deployment writes (and declares) only those of
  the guideline versions it reports (``VIPREDICT_GUIDELINES``: :func:`result_headers`);
* numbers are written to six significant digits by :func:`significant_text`,
  vectorised, for every writer;
* lines are handled as Arrow string arrays, block by block, so a genome-sized
  VCF is rewritten in bounded memory; each line keeps its own fields and INFO
  (earlier ``VIP_*`` keys replaced, declared or not), and comment lines pass;
* ``.vcf.gz`` output is BGZF (tabix-ready) with or without Debian's ``bgzip``.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from vipredict.config import ACMG_V3, GUIDELINES, SVCV4
from vipredict.io.files import is_gzip, open_text

#: INFO id of a store feature: ``VIP_`` + the feature name (``VIP_gerp_rs``).
FEATURE_PREFIX = "VIP_"
#: Bytes of VCF text per block: bounds memory whatever the file size. Peak RSS grows
#: with it far faster than the text: a block's lines become its stored rows, its
#: output text and Arrow's CSV reader's buffers (about 38 times the block). 10^7
#: variants from pre-scored answers, read in order (``store.scan``): 276 MB at 512 KiB,
#: 250 MB at 384 KiB, 226 MB at 256 KiB, 198 MB at 128 KiB, in 55, 58, 55 and 60 s.
#: (With DuckDB's join per block, 256 KiB had cost 12% more CPU than 512 KiB.)
BLOCK_BYTES = 1 << 18
FIELD_COUNT = 8
#: INFO declarations of the per-allele results vipredict writes into a VCF.
VIP_INFO_HEADERS = (
    '##INFO=<ID=VIP_SCORE,Number=A,Type=Float,Description="vipredict-noaf score (0-1)">',
    '##INFO=<ID=VIP_POST,Number=A,Type=Float,Description="vipredict local posterior '
    'probability of pathogenicity (ClinGen prior 0.0441)">',
    '##INFO=<ID=VIP_EVIDENCE,Number=A,Type=String,Description="vipredict calibrated '
    'PP3/BP4 evidence code, or none">',
    '##INFO=<ID=VIP_MIS_PRD,Number=A,Type=Integer,Description="vipredict SVCv4 MIS_PRD '
    "points (-4 to 4, the 3-point level included) from the same calibration, before "
    'transcript relevance; . when not scored">',
    '##INFO=<ID=VIP_ERR,Number=.,Type=String,Description="vipredict per-allele error '
    "(malformed_record, unknown_contig, unknown_build, build_conflict, "
    "position_out_of_range, not_snv, multi_allelic, chrom_too_long, position_too_long, "
    "allele_too_long, too_many_alts, csq_missing, csq_malformed, too_many_csq_entries, "
    "missing_csq_fields, allele_not_in_csq, not_missense, ref_mismatch, no_features, "
    'insufficient_annotation), . when scored">',
)
VIP_KEYS = frozenset(("VIP_SCORE", "VIP_POST", "VIP_EVIDENCE", "VIP_MIS_PRD", "VIP_ERR"))
#: The guideline version each guideline-specific result field belongs to.
GUIDELINE_KEYS = {"VIP_EVIDENCE": ACMG_V3, "VIP_MIS_PRD": SVCV4}
#: VIP_SCORE, VIP_POST, VIP_EVIDENCE and VIP_MIS_PRD: the results without the error field.
VIP_RESULT_HEADERS = tuple(h for h in VIP_INFO_HEADERS if "ID=VIP_ERR" not in h)


def result_headers(
    guidelines: Sequence[str] = GUIDELINES, headers: Sequence[str] = VIP_INFO_HEADERS
) -> list[str]:
    """``headers`` without the fields of guideline versions not in ``guidelines``."""
    return [h for h in headers if GUIDELINE_KEYS.get(_info_id(h) or "") in (None, *guidelines)]


class FeatureDescription(Protocol):
    """What :func:`feature_info_header` needs of a feature: name, description, unit."""

    name: str
    description: str
    unit: str


def feature_info_header(spec: FeatureDescription) -> str:
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
def vcf_writer(
    path: Path, threads: int = 2, bgzip: str | None = None
) -> Iterator[Callable[[bytes | memoryview], object]]:
    """A writer of ``path``: BGZF for ``.gz`` (``bgzip`` in its own process, else pysam).

    ``bgzip`` names the program (default: Debian's ``bgzip`` on the PATH; ``""``:
    none); without one, pysam's in-process BGZF writer is used, so a machine
    without htslib's tools writes the same format, only on one core. Both take
    ``bytes`` and ``memoryview`` blocks.

    htslib's ``bgzip`` compresses on ``threads`` threads in parallel with the caller,
    which is where most of the time of writing an annotated VCF goes.
    """
    if path.suffix != ".gz":
        with path.open("wb") as handle:
            yield handle.write
        return
    if bgzip is None:
        bgzip = shutil.which("bgzip")
    if not bgzip:
        import pysam

        handle = pysam.BGZFile(str(path), "wb")
        try:
            # pysam's BGZFile.write takes bytes only (a memoryview raises TypeError)
            yield lambda data: handle.write(bytes(data))
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
            with suppress(BrokenPipeError):  # bgzip died: its exit status below says so
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


def text_bytes(lines: pa.Array) -> memoryview:
    """The concatenated bytes of a string array, without copying them."""
    lines = lines.cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[start:end]


# --------------------------------------------------------------------------- fields and numbers


def split_fields(lines: pa.Array) -> list[pa.Array]:
    """The eight fixed fields and the rest (FORMAT and samples, or "") of each line."""
    widened = pc.binary_join_element_wise(lines, "", "\t")  # every line gets a 9th field
    parts = pc.split_pattern(widened, "\t", max_splits=FIELD_COUNT)
    fields = [pc.list_element(parts, i) for i in range(FIELD_COUNT)]
    rest = pc.utf8_slice_codeunits(pc.list_element(parts, FIELD_COUNT), 0, -1)
    return [*fields, rest]


def pad_line(line: str) -> str:
    """A line with fewer than eight fields padded with ``.`` (as the service does)."""
    fields = line.split("\t")
    return "\t".join(fields + ["."] * (FIELD_COUNT - len(fields)))


def significant_text(values: np.ndarray, digits: int = 6) -> pa.Array:
    """Text of each value to ``digits`` significant digits (NaN -> null), vectorised.

    Rounds like ``f"{v:.6g}"`` (the service's format), then prints the shortest text
    that reads back as the rounded number: an integer divided or multiplied by a
    power of ten is correctly rounded in IEEE arithmetic, so 0.018572 prints as
    ``0.018572``. The scaled value can land on an exact half although the number
    itself is not one (298.7305 is stored a hair above it, 0.02568055 a hair
    below), where ``np.round`` would round half to even: those few near-halves are
    rounded one by one by Python's formatting, which decides on the exact value.
    Magnitudes below 1e-17 or above 1e22 (none in the store) keep full precision.
    The text may spell an exponent differently from ``.6g`` (``0.00001`` for
    ``1e-05``); both read back as the same number.
    """
    x = np.asarray(values, dtype=np.float64)
    usable = np.isfinite(x) & (x != 0)
    magnitude = np.floor(np.log10(np.abs(x, where=usable, out=np.ones_like(x))))
    places = digits - 1 - magnitude
    up = usable & (places >= 0) & (places <= 22)
    down = usable & (places < 0) & (places >= -22)
    scale = 10.0 ** np.where(up | down, np.abs(places), 0)
    scaled = np.where(up, x * scale, np.where(down, x / scale, 0.0))
    rounded = np.where(up, np.round(scaled) / scale, x)
    rounded = np.where(down, np.round(scaled) * scale, rounded)
    # |scaled| < 10**digits, so a few ulps of it are far below 1e-6: a product that is
    # not this close to a half rounds the same way as the exact number does
    near_half = (up | down) & (np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-6)
    for i in np.flatnonzero(near_half):
        rounded[i] = float(f"{x[i]:.{digits}g}")
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


#: Bytes a ``string`` array can hold (32-bit offsets); more is joined a slice at a time.
_STRING_BYTES = 2**31 - 1


def render_info(
    values: Mapping[str, pa.Array | pa.ChunkedArray],
    rows: pa.Array | None = None,
    slice_rows: int = 65_536,
) -> pa.Array:
    """``VIP_<name>=value;...`` of ``values[rows]`` (missing values left out; null if none).

    The one renderer of feature INFO text: the store keeps its output for the
    evidence features (``info_text``, and pre-scored evidence the champion's), and
    annotating with other columns renders them here on the fly, so all read the
    same. Each row's pieces are gathered at once (:func:`_gathered_info`); text
    past 32-bit offsets is joined a slice at a time (:func:`_joined_info`).
    """
    if not values:
        return pa.nulls(0 if rows is None else len(rows), pa.string())
    if rows is not None:
        values = {c: pc.take(v, rows) for c, v in values.items()}
    gathered = _gathered_info(values)
    return gathered if gathered is not None else _joined_info(values, slice_rows)


def _joined_info(values: Mapping[str, pa.Array | pa.ChunkedArray], slice_rows: int) -> pa.Array:
    """:func:`render_info` by one string join per feature, ``slice_rows`` rows at a time."""
    rows = pa.array(np.arange(len(next(iter(values.values())))))
    parts = []
    for start in range(0, max(len(rows), 1), slice_rows):
        part = rows.slice(start, slice_rows)
        pieces = [keyed_text(f"{FEATURE_PREFIX}{c}", v, part) for c, v in values.items()]
        parts.append(join_present(pieces, ";"))
    return pa.concat_arrays(parts)


def _gathered_info(columns: Mapping[str, pa.Array | pa.ChunkedArray]) -> pa.Array | None:
    """:func:`render_info`'s text of every row, gathered in one ``take`` (None: no rows or
    columns, or more text than 32-bit offsets hold).

    The same pieces as :func:`_joined_info` (``VIP_<name>=`` and :func:`significant_text`
    of each distinct value), but instead of joining one string column per feature
    (26 joins of 10^5 rows a streamed chunk, a seventh of an ingest worker's time),
    every row's present pieces are listed in order, with ``;`` before all but the
    first, and gathered at once: the gathered bytes are the rows' text, end to end,
    and the rows' offsets are the sums of their pieces' lengths.
    """
    n, k = len(next(iter(columns.values()), [])), len(columns)
    if not n or not k:
        return None
    pieces: list[pa.Array] = []
    ids = np.empty((k, n), dtype=np.int64)  # each row's piece of each column, null: a null piece
    start = 0
    for j, (name, values) in enumerate(columns.items()):
        whole = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        encoded = pc.dictionary_encode(whole.cast(pa.float64()))
        text = significant_text(encoded.dictionary.to_numpy(zero_copy_only=False))
        keyed = pc.binary_join_element_wise(f"{FEATURE_PREFIX}{name}=", text, "")
        pieces += [keyed, pa.nulls(1, pa.string())]
        np.add(pc.fill_null(encoded.indices, len(text)).to_numpy(), start, out=ids[j])
        start += len(text) + 1
    first = pa.concat_arrays(pieces)
    lengths = pc.fill_null(pc.binary_length(first), 0).to_numpy()
    by_row = ids.T  # rows x columns, read row after row
    sizes = lengths[by_row]
    given = sizes > 0
    later = given.copy()  # every present piece but a row's first has ';' before it
    later[np.arange(n), given.argmax(axis=1)] = False
    sizes += later
    ends = np.cumsum(sizes.sum(axis=1))
    if ends[-1] > _STRING_BYTES:
        return None
    both = pa.concat_arrays([first, pc.binary_join_element_wise(";", first, "")])
    gathered = pc.take(both, pa.array((by_row + later * start)[given]))
    present = given.any(axis=1)
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[1:] = ends
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [pa.array(present).buffers()[1], pa.py_buffer(offsets), gathered.buffers()[2]],
        null_count=n - int(present.sum()),
    )


# --------------------------------------------------------------------------- INFO text


@dataclass(frozen=True)
class AlleleResults:
    """Per allele of a slice: score, posterior, evidence code, error ("" when scored) and
    MIS_PRD points (float, NaN where none)."""

    score: np.ndarray
    posterior: np.ndarray
    evidence: np.ndarray
    error: np.ndarray
    mis_prd: np.ndarray

    def part(self, lo: int, hi: int) -> AlleleResults:
        """The alleles ``[lo, hi)``."""
        return self.take(slice(lo, hi))

    def take(self, rows: slice | np.ndarray) -> AlleleResults:
        """The alleles at ``rows`` (a slice or positions)."""
        return AlleleResults(
            self.score[rows],
            self.posterior[rows],
            self.evidence[rows],
            self.error[rows],
            self.mis_prd[rows],
        )

    def put(self, rows: np.ndarray, values: AlleleResults) -> None:
        """Set the alleles at ``rows`` to ``values`` (one entry per row), in place."""
        self.score[rows] = values.score
        self.posterior[rows] = values.posterior
        self.evidence[rows] = values.evidence
        self.error[rows] = values.error
        self.mis_prd[rows] = values.mis_prd


def integer_text(values: np.ndarray) -> pa.Array:
    """Whole numbers as text, ``.`` where missing (NaN), vectorised."""
    x = np.asarray(values, dtype=float)
    missing = np.isnan(x)
    whole = pa.array(np.where(missing, 0, x).astype(np.int64), mask=missing)
    return pc.fill_null(pc.cast(whole, pa.string()), ".")


class InfoWriter:
    """Writes vipredict's fields into VCF lines: store features and, when ``scored``, results.

    ``columns`` are the store features written as ``VIP_<name>``; every key this
    writer owns is removed from a line's own INFO before it is written again, so
    annotating an annotated file replaces the fields instead of repeating them
    (those of an unreported guideline too: a stale ``VIP_EVIDENCE`` must not pass
    for this run's). ``guidelines``: the versions whose fields are written.
    """

    def __init__(
        self, columns: Sequence[str], scored: bool, guidelines: Sequence[str] = GUIDELINES
    ) -> None:
        self.columns = list(columns)
        self.scored = scored
        self.guidelines = tuple(guidelines)
        self.keys = [f"{FEATURE_PREFIX}{c}" for c in self.columns] + sorted(VIP_KEYS)
        self._regex = f"(^|;)({'|'.join(self.keys)})=[^;]*"

    def header(self, lines: Sequence[str], feature_headers: Mapping[str, str]) -> list[str]:
        """The input header with this writer's fields declared before ``#CHROM``."""
        results = [
            h for h in result_headers(self.guidelines) if self.scored or _info_id(h) == "VIP_ERR"
        ]
        return annotated_header(lines, [feature_headers[c] for c in self.columns] + results)

    def allele_texts(
        self, features: pa.Array, results: AlleleResults, answered: pa.Array | None = None
    ) -> pa.Array:
        """INFO text of each allele: its feature text (null: none), then the VIP_* results.

        ``answered``: the results' text already rendered by :meth:`result_texts` (null
        where not; pre-scored evidence keeps it), written as it is.
        """
        if answered is None:
            return join_present([features, self.result_texts(results)], ";")
        missing = pc.is_null(answered).to_numpy(zero_copy_only=False)
        if missing.any():
            computed = self.result_texts(results.take(np.flatnonzero(missing)))
            answered = pc.replace_with_mask(answered, pa.array(missing), computed)
        return join_present([features, answered], ";")

    def result_texts(self, results: AlleleResults) -> pa.Array:
        """The VIP_* results of each allele (never empty: ``VIP_ERR`` is always written)."""
        pieces = []
        if self.scored:
            score = significant_text(results.score)
            posterior = significant_text(results.posterior)
            pieces.append(_prefixed("VIP_SCORE", pc.fill_null(score, ".")))
            pieces.append(_prefixed("VIP_POST", pc.fill_null(posterior, ".")))
            scored = results.error == ""
            if ACMG_V3 in self.guidelines:
                evidence = np.where(scored, results.evidence, ".")
                pieces.append(_prefixed("VIP_EVIDENCE", pa.array(evidence, pa.string())))
            if SVCV4 in self.guidelines:
                points = np.where(scored, results.mis_prd, np.nan)
                pieces.append(_prefixed("VIP_MIS_PRD", integer_text(points)))
        errors = results.error
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

    def record_annotations(
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
            info = pc.replace_substring_regex(info, self._regex, "")
            info = pc.utf8_ltrim(info, ";")
        empty = pc.or_(pc.equal(info, "."), pc.equal(info, ""))
        return pc.if_else(empty, pa.scalar(None, pa.string()), info)

    def rebuild(self, lines: pa.Array, fields: list[pa.Array], annotations: pa.Array) -> pa.Array:
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


def number_text(value: float) -> str:
    """One number as :func:`significant_text` writes it (``.`` when missing)."""
    text = significant_text(np.array([value], dtype=np.float64))[0].as_py()
    return "." if text is None else text
