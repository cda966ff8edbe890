"""``vipredict annotate``: store features and calibrated evidence added to a whole VCF.

Built for exome- and genome-sized VCFs against a dbNSFP-sized store on one machine:

* the VCF body is read in blocks by Arrow's CSV reader (one column: the line), so
  memory is bounded by the block size, never by the file;
* each block is split into fields and checked with vectorised Arrow kernels. Only
  records that are not a plain SNV on a primary contig (indels, multi-allelic or
  malformed lines) take the per-record path of
  :func:`vipredict.io.inputs.vcf_alleles`, which names their error exactly as
  every other entry point does, a line past a bound of :mod:`vipredict.io.bounds`
  (``allele_too_long``, ``too_many_alts``, ``chrom_too_long``) included: such a
  line is one record and gets ``VIP_ERR`` alone, before any per-ALT work;
* the SNVs are looked up by reading each store file of their partition forward,
  block after block, as a sorted VCF allows (:class:`~vipredict.store.scan.SortedScan`,
  with :meth:`Store.match <vipredict.store.partitioned.Store.match>`'s answers; a
  shuffled block is joined by the store's DuckDB query instead), scored through
  :meth:`~vipredict.model.scorer.Scorer.row_evidence` (the core of ``predict`` and
  the service) on a float64 matrix of the matched rows (with the profiles' trees
  compiled when the input is large: :func:`use_compiled_trees`), and written by
  :class:`~vipredict.io.vcf.InfoWriter`, the one writer of ``VIP_*`` fields
  (``POST /predict/vcf`` writes through it too);
* with a scorer, block *n+1* is scored in a second thread while block *n* is
  written and block *n+2* looked up (:func:`_annotated_blocks`; LightGBM, compiled
  trees, Parquet decoding and most Arrow kernels release the GIL), with at most three
  blocks held
  (:data:`~vipredict.io.vcf.BLOCK_BYTES` each);
* when the store holds the evidence champion's answers pre-scored
  (``vipredict prescore``, :mod:`vipredict.store.prescored`), they are joined
  instead of the features and nothing is scored here: the same output, at the
  cost of ``--no-score`` and without loading the model stack
  (:func:`prescored_applies` says when they give the scored output);
* the output is BGZF, tabix-ready, compressed by htslib's ``bgzip`` in its own
  process when there is one, else by pysam in this one.

Every record is written, in input order. A record the store does not hold keeps
its line and gets ``VIP_ERR=no_features``; a REF that disagrees with the store
gets ``ref_mismatch``; a position past its chromosome's end
``position_out_of_range``; every keyed allele of a file whose header contradicts
itself or ``--build`` gets ``build_conflict`` (:func:`vipredict.io.inputs.choose_build`).

A VEP VCF (its header declares ``CSQ``) is not looked up in the store when scoring:
each block goes through :func:`vipredict.io.inputs.read_csq_lines` and
:meth:`~vipredict.model.scorer.Scorer.score`, the reader and scorer of ``vipredict
predict``, so both give the same answer per allele; the features written are
those built from the file's own annotations. (Without a scorer, ``--no-score``
writes the store's features, as for any VCF.)
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vipredict.io.bounds import LINE_ERRORS
from vipredict.io.inputs import BuildChoice, choose_build, read_csq_lines, vcf_alleles
from vipredict.io.readers.csq import CsqFormat, csq_format
from vipredict.io.vcf import (
    BLOCK_BYTES,
    FIELD_COUNT,
    AlleleResults,
    InfoWriter,
    body_blocks,
    pad_line,
    read_header,
    render_info,
    split_fields,
    text_bytes,
    vcf_writer,
)
from vipredict.progress import byte_progress
from vipredict.store.partitioned import INFO_COLUMN, QUERY_SCHEMA, Store, float_matrix
from vipredict.store.prescored import (
    ANSWER_TEXT_COLUMN,
    EVIDENCE_COLUMNS,
    answer_guidelines,
    evidence_results,
    scored_features,
    text_column,
)
from vipredict.store.scan import SortedScan
from vipredict.variants import VariantError, contig_lengths, normalise_build, normalise_chrom

if TYPE_CHECKING:  # MLflow and the models load only when scoring is asked for
    from vipredict.config import Settings
    from vipredict.model.scorer import FeatureMatrix, Scorer

_BASES = pa.array(["A", "C", "G", "T"])
#: A column handed to Arrow: an Arrow array, a NumPy array or a plain sequence.
Column = pa.Array | np.ndarray | Sequence[object]


@dataclass
class AnnotationReport:
    """Counts of one run: records and alleles written, found in the store (a VEP VCF:
    annotated from its own CSQ), errors by code."""

    records: int = 0
    alleles: int = 0
    in_store: int = 0
    errors: Counter[str] = field(default_factory=Counter)


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
    """Per allele: the store row it matched (-1 if none) and its results (``pending``:
    the matched rows are still to be scored, by :meth:`BlockAnnotator.score`)."""

    found: pa.Table
    matched: np.ndarray
    results: AlleleResults
    pending: bool = False


@dataclass
class _Block:
    """One block of VCF lines between its stages: looked up, then scored, then written."""

    lines: pa.Array
    fields: list[pa.Array]
    alleles: _Alleles
    counts: np.ndarray
    lookup: _Lookup


def spread_text(values: pa.Array, matched: np.ndarray) -> pa.Array:
    """``values[matched]``, null where ``matched`` is -1, sharing ``values``' text when it can.

    A sorted file's alleles match store rows in their order, so the matched rows
    of a slice are mostly consecutive: each allele's text is then where it already
    is, and only new offsets (and nulls for the unmatched alleles) are made. Copying
    the text instead (``take``): 3.2 million pages faulted in to annotate 3 x 10^6
    variants from pre-scored answers, against 2.5 million.
    Rows out of order (ALTs of one position stored in another order, a store
    holding a variant twice) are taken.
    """
    hit = matched >= 0
    rows = matched[hit]
    wide = pa.types.is_large_string(values.type)
    if not len(rows) or not (wide or pa.types.is_string(values.type)) or (np.diff(rows) != 1).any():
        return pc.take(values, pa.array(matched, mask=~hit))
    kind = np.int64 if wide else np.int32
    offsets = np.frombuffer(values.buffers()[1], kind)[values.offset :][: len(values) + 1]
    first = offsets[rows[0]]
    ends = np.where(hit, offsets[np.where(hit, matched, 0) + 1], first)
    spread = np.concatenate([[first], np.maximum.accumulate(ends)]).astype(kind)
    valid = hit.copy()
    if values.null_count:
        valid[hit] = values.is_valid().to_numpy(zero_copy_only=False)[rows]
    return pa.Array.from_buffers(
        values.type,
        len(matched),
        [pa.array(valid).buffers()[1], pa.py_buffer(spread), values.buffers()[2]],
        null_count=int(len(matched) - valid.sum()),
    )


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


def _contig_limits(contig: pa.Array, lengths: dict[str, int]) -> np.ndarray:
    """Length of each line's canonical contig in the build (0 where it has none)."""
    encoded = pc.dictionary_encode(contig)
    names = encoded.dictionary.to_pylist()
    limits = np.array([lengths.get(name, 0) for name in names] + [0], dtype=np.int64)
    indices = pc.fill_null(encoded.indices, len(names)).to_numpy(zero_copy_only=False)
    return limits[indices]


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


def _slow_alleles(line: str, build: str) -> tuple[list[tuple[tuple, str]], bool]:
    """(locus, error) per ALT of a line the fast path could not take ([] for a comment),
    and whether one error stands for the whole line (fewer than five columns, or past a
    bound of :mod:`vipredict.io.bounds`): such a line gets ``VIP_ERR`` alone."""
    out = []
    whole = False
    for alt_number, record in vcf_alleles([line], build):
        whole = alt_number == 0
        if record.key is None:
            out.append(((build, "", 0, "", ""), record.error))
            continue
        build_, chrom, pos, ref, alt = record.key.split(":")
        out.append(((build_, chrom, int(pos), ref, alt), ""))
    return out, whole


class BlockAnnotator:
    """Annotates blocks of VCF lines; holds the store, the scorer and the writer.

    A block is parsed, looked up and scored whole (one look-up per partition,
    one model call), then turned into text in slices of ``slice_records``, which
    bounds the memory the string kernels need.
    """

    def __init__(
        self,
        store: Store,
        scorer: Scorer | None,
        columns: Sequence[str],
        build: str | BuildChoice,
        slice_records: int = 32_768,
        csq: CsqFormat | None = None,
        score_threads: int | None = None,
        guidelines: Sequence[str] | None = None,
        in_order: bool = False,
    ) -> None:
        self.store = store
        #: Where rows are looked up: a file's blocks come in order, read forward through
        #: each store file (:class:`SortedScan`); others (an upload) by the store's join.
        self.matcher: Store | SortedScan = SortedScan(store) if in_order else store
        self.scorer = scorer
        #: ``store`` is pre-scored evidence (:mod:`vipredict.store.prescored`): its answers
        #: are written as they are read, in the guideline versions ``guidelines`` names.
        self.prescored = scorer is None and guidelines is not None
        if self.prescored and not set(EVIDENCE_COLUMNS) <= set(store.schema.names):
            raise ValueError(f"{store.root} holds no pre-scored evidence")
        scored = scorer is not None or self.prescored
        guidelines = scorer.guidelines if scorer is not None else guidelines or ()
        self.writer = InfoWriter(columns, scored=scored, guidelines=guidelines)
        self.choice = (
            build if isinstance(build, BuildChoice) else BuildChoice(normalise_build(build))
        )
        self.build = self.choice.build
        self.lengths = contig_lengths(self.build)
        #: A VEP VCF's CSQ fields: scored from its own annotations (only with a scorer).
        self.csq = csq if scorer is not None else None
        self.slice_records = slice_records
        #: LightGBM's prediction threads (None: its default, ``OMP_NUM_THREADS``).
        self.score_threads = score_threads
        #: What the model reads (its evidence inputs among them decide ``no_features``).
        self.model_columns = list(scorer.evidence_model.feature_names) if scorer else []
        #: The store's pre-rendered INFO text, used when it renders exactly these columns
        #: (pre-scored evidence may also hold the champion's: :func:`text_column`).
        self.text = (
            text_column(store, self.writer.columns)
            if self.prescored
            else INFO_COLUMN
            if store.info_columns == self.writer.columns
            else None
        )
        shown = [self.text] if self.text else self.writer.columns
        #: Pre-scored answers' VIP_* text, when rendered for this run's guideline versions.
        self.answers = (
            ANSWER_TEXT_COLUMN
            if self.prescored and answer_guidelines(store) == list(self.writer.guidelines)
            else None
        )
        answers = (
            [self.answers, "error"]
            if self.answers
            else list(EVIDENCE_COLUMNS)
            if self.prescored
            else []
        )
        self.fetch = list(dict.fromkeys([*self.model_columns, *shown, *answers]))
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
        fast_np &= (position >= 1) & (position <= _contig_limits(contig, self.lengths))
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
        alleles = _Alleles.combine(parts)
        if self.choice.conflict:  # nothing is keyed on a build the header contradicts
            under = (alleles.error == "") | (alleles.error == "position_out_of_range")
            alleles.error[under] = "build_conflict"
        return alleles, counts

    def _slow(
        self, lines: pa.Array, index: np.ndarray, counts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, pa.Table, np.ndarray]:
        """Alleles of the lines the vectorised check did not pass, one record at a time."""
        records, numbers, loci, errors = [], [], [], []
        for i in index:
            found, whole = _slow_alleles(lines[int(i)].as_py(), self.build)
            counts[i] = 0 if whole else len(found) if found else -1
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
        match = self.matcher.match(asked, self.fetch)
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
        n = len(errors)
        unscored = AlleleResults(
            np.full(n, np.nan),
            np.full(n, np.nan),
            np.full(n, ".", dtype=object),
            errors,
            np.full(n, np.nan),
        )
        lookup = _Lookup(found, matched, unscored, pending=self.scorer is not None)
        if self.prescored:
            self._stored_answers(lookup)
        return lookup

    @staticmethod
    def _stored_answers(lookup: _Lookup) -> None:
        """Pre-scored evidence of the matched rows spread over their alleles, as
        :meth:`score` spreads what it scores."""
        results, matched, found = lookup.results, lookup.matched, lookup.found
        hit = np.flatnonzero(matched >= 0)
        order = matched[hit]
        if "score" not in found.column_names:  # written from their text (_answer_texts)
            results.error[hit] = found["error"].to_numpy(zero_copy_only=False)[order]
            return
        results.put(hit, evidence_results(found).take(order))

    def _feature_matrix(self, found: pa.Table) -> FeatureMatrix:
        """The model's columns of the matched rows as one float64 array (NaN: missing)."""
        from vipredict.model.scorer import FeatureMatrix

        return FeatureMatrix(float_matrix(found, self.model_columns), tuple(self.model_columns))

    def score(self, block: _Block) -> _Block:
        """Evidence of the block's matched rows in one call (:meth:`Scorer.row_evidence`,
        the core of ``predict`` and the service), spread back over its alleles.

        Touches only this block, so it may run in another thread while the next
        block is looked up (:func:`_annotated_blocks`): LightGBM and most of the
        Arrow and NumPy work release the GIL.
        """
        lookup = block.lookup
        if self.scorer is None or not lookup.pending:
            return block
        lookup.pending = False
        results, matched = lookup.results, lookup.matched
        hit = np.flatnonzero(matched >= 0)
        if not len(hit):
            return block
        scored = self.scorer.row_evidence(
            self._feature_matrix(lookup.found), threads=self.score_threads
        )
        answers = AlleleResults(
            scored.score, scored.posterior, scored.evidence, scored.error, scored.mis_prd
        )
        results.put(hit, answers.take(matched[hit]))
        return block

    # ---- a VEP VCF: its own annotations, through predict's reader and scorer

    def _from_csq(self, lines: pa.Array) -> tuple[_Alleles, np.ndarray, _Lookup]:
        """Alleles, per-line ALT counts and results of a block of a VEP VCF.

        :meth:`Scorer.score` of :func:`read_csq_lines`'s inputs: the very answers of
        ``vipredict predict`` on the same records.
        """
        assert self.scorer is not None and self.csq is not None
        texts = lines.to_pylist()
        inputs, line_of = read_csq_lines(texts, self.csq, self.choice)
        scored = self.scorer.score(inputs)
        record = np.asarray(line_of, dtype=np.int64)
        per_line = np.bincount(record, minlength=len(texts))
        counts = np.where(per_line > 0, per_line, -1)
        short = pc.less(pc.count_substring(lines, "\t"), 4).to_numpy(zero_copy_only=False)
        counts[short & (per_line > 0)] = 0  # no ALT column: VIP_ERR alone, as in the store path
        refused = np.array([r.error in LINE_ERRORS for r in inputs.records], dtype=bool)
        counts[record[refused]] = 0  # a line past a bound of io.bounds: likewise
        results = scored.results
        errors = results["error"].fillna("").astype(str).to_numpy(dtype=object)
        answers = AlleleResults(
            results["score"].to_numpy(dtype=float),
            results["posterior"].to_numpy(dtype=float),
            results["evidence"].fillna("").astype(str).to_numpy(dtype=object),
            errors,
            results["mis_prd"].to_numpy(dtype=float, na_value=np.nan),
        )
        found, matched = self._own_features(scored.features, [r.key for r in inputs.records])
        empty = _locus_table(self.build, [], [], [], [])
        return _Alleles(record, empty, errors), counts, _Lookup(found, matched, answers)

    def _own_features(
        self, features: pd.DataFrame, keys: Sequence[str | None]
    ) -> tuple[pa.Table, np.ndarray]:
        """The written feature columns of the rows scored, and each record's row (-1: none)."""
        present = [c for c in self.writer.columns if c in features.columns]
        table = pa.table(
            {
                c: pa.array(pd.to_numeric(features[c], errors="coerce"), pa.float64())
                for c in present
            }
        )
        where: dict[str, int] = {}
        if len(features):
            for row, key in enumerate(features["variant"].astype(str)):
                where.setdefault(key, row)
        matched = np.array([where.get(k, -1) if k else -1 for k in keys], dtype=np.int64)
        return table, matched

    # ---- text

    @staticmethod
    def _found_rows(lookup: _Lookup, lo: int, hi: int) -> pa.Array:
        """The matched row of each allele of ``[lo, hi)`` (null: not in the store)."""
        matched = lookup.matched[lo:hi]
        return pa.array(matched, mask=matched < 0)

    def _feature_texts(self, lookup: _Lookup, lo: int, hi: int) -> pa.Array:
        """Feature INFO text of each allele of ``[lo, hi)`` (null: not in the store)."""
        if self.text and self.text in lookup.found.column_names:
            return spread_text(lookup.found[self.text].chunk(0), lookup.matched[lo:hi])
        rows = self._found_rows(lookup, lo, hi)
        shown = {c: lookup.found[c] for c in self.writer.columns if c in lookup.found.column_names}
        return render_info(shown, rows) if shown else pa.nulls(len(rows), pa.string())

    def _answer_texts(self, lookup: _Lookup, lo: int, hi: int) -> pa.Array | None:
        """Pre-scored VIP_* text of each allele of ``[lo, hi)`` (null: not in the store),
        or None when it is rendered here."""
        if not self.answers:
            return None
        return spread_text(lookup.found[self.answers].chunk(0), lookup.matched[lo:hi])

    def __call__(self, lines: pa.Array) -> Iterator[pa.Array]:
        """Annotated lines of one block, each ending in a newline, in input order (in slices)."""
        yield from self.texts(self.score(self.prepare(lines)))

    def prepare(self, lines: pa.Array) -> _Block:
        """A block parsed and looked up in the store (a VEP VCF's: scored from its CSQ)."""
        tabs = pc.count_substring(lines, "\t").to_numpy()
        short = np.flatnonzero(tabs < FIELD_COUNT - 1)
        padded = lines
        if len(short):
            fixes = pa.array([pad_line(lines[int(i)].as_py()) for i in short], pa.string())
            mask = np.zeros(len(lines), dtype=bool)
            mask[short] = True
            padded = pc.replace_with_mask(lines, pa.array(mask), fixes)
        fields = split_fields(padded)
        if self.csq is not None:
            alleles, counts, lookup = self._from_csq(lines)
        else:
            alleles, counts = self._alleles(lines, fields)
            lookup = self._lookup(alleles)
        return _Block(lines, fields, alleles, counts, lookup)

    def texts(self, block: _Block) -> Iterator[pa.Array]:
        """The block's annotated lines (scored: :meth:`score`), counted in the report."""
        lines, fields, alleles, counts, lookup = (
            block.lines,
            block.fields,
            block.alleles,
            block.counts,
            block.lookup,
        )
        self._count(counts, lookup)
        results = lookup.results
        for a in range(0, len(lines), self.slice_records):
            b = min(a + self.slice_records, len(lines))
            lo, hi = (int(i) for i in np.searchsorted(alleles.record, [a, b]))
            part = results.part(lo, hi)
            features = self._feature_texts(lookup, lo, hi)
            texts = self.writer.allele_texts(features, part, self._answer_texts(lookup, lo, hi))
            annotations = self.writer.record_annotations(
                texts, alleles.record[lo:hi] - a, counts[a:b], part.error
            )
            yield self.writer.rebuild(lines[a:b], [f[a:b] for f in fields], annotations)

    def _count(self, counts: np.ndarray, lookup: _Lookup) -> None:
        errors = lookup.results.error
        self.report.records += int((counts >= 0).sum())
        self.report.alleles += len(errors)
        self.report.in_store += int((lookup.matched >= 0).sum())
        self.report.errors.update(errors[errors != ""].tolist())


# --------------------------------------------------------------------------- the command


#: An input file at least this large has its profiles' trees compiled before scoring when
#: they are not cached yet (:func:`use_compiled_trees`). Compiling the 12 profiles of a
#: trained home costs ~52 CPU-s once (26 s on two idle cores); compiled trees then save
#: ~16 CPU-s per 10^6 scored rows (10^7 variants, 3.1 M scored: 206 -> 155 CPU-s), so a
#: smaller file is scored by LightGBM (or by trees compiled earlier).
COMPILE_MIN_BYTES = 32 << 20


def use_compiled_trees(
    scorer: Scorer,
    input_path: Path,
    compile: bool | None,
    settings: Settings | None = None,
    show_progress: bool = False,
) -> list[str]:
    """Give ``scorer`` compiled trees (:meth:`Scorer.compile`); the profiles compiled now.

    ``compile`` False: LightGBM scores. True: every profile's trees, compiled where the
    home has not cached them. None: the cached ones, and the others compiled only when
    ``input_path`` is at least :data:`COMPILE_MIN_BYTES`. The answers are LightGBM's
    either way (:mod:`vipredict.model.compiled`); only the time differs.
    """
    if compile is False:
        return []
    build = compile is True or input_path.stat().st_size >= COMPILE_MIN_BYTES
    return scorer.compile(settings, build=build, show_progress=show_progress)


def join_threads() -> int:
    """DuckDB threads for annotating: half the cores, the other half compress (``bgzip``)."""
    return max(1, (os.cpu_count() or 2) // 2)


def default_columns(scorer: Scorer | None, store: Store) -> list[str]:
    """Features written by default: those of the evidence model, as the store renders them."""
    if scorer is not None:
        return list(scorer.evidence_model.feature_names)
    if store.info_columns:
        return store.info_columns
    raise KeyError(f"the store at {store.root} names no evidence features: give --columns")


def _annotator(
    store: Store,
    scorer: Scorer | None,
    columns: Sequence[str] | None,
    build: BuildChoice,
    csq: CsqFormat | None = None,
    score_threads: int | None = None,
    guidelines: Sequence[str] | None = None,
    in_order: bool = False,
) -> BlockAnnotator:
    """A checked annotator: the store holds the model's features and every asked column.

    ``guidelines`` given without a scorer: ``store`` is pre-scored evidence, whose
    answers are written in those guideline versions. ``in_order``: blocks of one file,
    read in order (:class:`SortedScan`).
    """
    if scorer is not None:
        from vipredict.model.scorer import require_store_columns

        require_store_columns(scorer.evidence_model, store.columns)
    if columns is not None:
        chosen = list(columns)
    elif scorer is None and guidelines is not None:  # pre-scored: the champion's, as scoring
        chosen = scored_features(store)
    else:
        chosen = default_columns(scorer, store)
    unknown = [c for c in chosen if c not in store.info_headers]
    if unknown:
        raise KeyError(f"not features of the store: {', '.join(unknown)}")
    return BlockAnnotator(
        store,
        scorer,
        chosen,
        build,
        csq=csq,
        score_threads=score_threads,
        guidelines=guidelines,
        in_order=in_order,
    )


def prescored_applies(input_path: Path, evidence: Store, columns: Sequence[str] | None) -> bool:
    """Whether pre-scored evidence writes what scoring would: not a VEP VCF (scored from
    its own CSQ), and the features asked for (None: the champion's, as when scoring)
    are those whose INFO text the evidence holds."""
    header, _ = read_header(input_path)
    if csq_format(header) is not None:
        return False
    asked = scored_features(evidence) if columns is None else list(columns)
    return text_column(evidence, asked) is not None


def annotate_vcf(
    input_path: Path,
    output: Path,
    store: Store,
    scorer: Scorer | None = None,
    columns: Sequence[str] | None = None,
    build: str | None = None,
    block_bytes: int | None = None,
    show_progress: bool = True,
    score_threads: int | None = None,
    guidelines: Sequence[str] | None = None,
) -> AnnotationReport:
    """Write ``input_path`` to ``output`` with features and, given a scorer, evidence.

    ``columns`` are store features (default: the evidence model's). ``build``
    None: the header's, else GRCh37; given: the header must agree. The output is
    written beside ``output`` and renamed into place when complete. ``guidelines``
    without a scorer: ``store`` is the store's pre-scored evidence
    (:func:`prescored_applies`), written in those guideline versions.
    """
    header, longest = read_header(input_path)
    choice = choose_build(header, build)
    annotator = _annotator(
        store,
        scorer,
        columns,
        choice,
        csq_format(header),
        score_threads,
        guidelines,
        in_order=True,  # a file's blocks come in its order: read the store forward
    )
    partial = output.with_name(f".partial-{os.getpid()}-{output.name}")  # same suffix
    output.parent.mkdir(parents=True, exist_ok=True)
    head = ("\n".join(annotator.writer.header(header, store.info_headers)) + "\n").encode()
    block = max(BLOCK_BYTES if block_bytes is None else block_bytes, 64 * longest)
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


def annotate_text(text: str, store: Store, scorer: Scorer | None, build: str | None = None) -> str:
    """A whole VCF held in memory (an upload), annotated like :func:`annotate_vcf` does a file.

    Results only (no feature columns), as ``POST /predict/vcf`` answers; a VEP VCF
    from its CSQ annotations. ``build`` as for :func:`annotate_vcf`. Lines are
    split on ``\\n`` only, as every upload parser does.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line.rstrip("\r"))
    choice = choose_build(header, build)
    annotator = _annotator(store, scorer, [], choice, csq_format(header))
    body = pa.array([line.rstrip("\r") for line in lines[len(header) :]], pa.string())
    parts = ["\n".join(annotator.writer.header(header, {})) + "\n"]
    if len(body):
        parts += ["".join(text.to_pylist()) for text in annotator(body)]
    return "".join(parts)


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
        for ready, consumed in _annotated_blocks(annotator, body_blocks(source, skip, block)):
            _write_block(write, annotator.texts(ready))
            # dropped before the next block is read and looked up: two blocks' text,
            # rows and lines were otherwise alive together at the peak
            del ready
            advance(consumed)


def _write_block(write: Callable[[bytes | memoryview], object], texts: Iterator[pa.Array]) -> None:
    """Write a block's annotated lines, a slice at a time (nothing held after)."""
    for text in texts:
        write(text_bytes(text))


def _annotated_blocks(
    annotator: BlockAnnotator, blocks: Iterable[tuple[pa.Array, int]], ahead: int = 1
) -> Iterator[tuple[_Block, int]]:
    """Blocks looked up and scored, in order, with their input bytes.

    With a scorer, block *n+1* is scored in a second thread while this one writes
    block *n* and looks up *n+2* (Parquet decoding, LightGBM and most Arrow kernels
    release the GIL), so the two cores are both busy. At most ``ahead`` blocks wait
    for scoring, which bounds memory to a few blocks.
    """
    if annotator.scorer is None:
        for lines, consumed in blocks:
            yield annotator.prepare(lines), consumed
        return
    with ThreadPoolExecutor(1, thread_name_prefix="vipredict-score") as pool:
        waiting: deque[tuple[Future[_Block], int]] = deque()
        try:
            for lines, consumed in blocks:
                waiting.append((pool.submit(annotator.score, annotator.prepare(lines)), consumed))
                if len(waiting) > ahead:
                    future, done = waiting.popleft()
                    yield future.result(), done
            while waiting:
                future, done = waiting.popleft()
                yield future.result(), done
        finally:
            for future, _ in waiting:
                future.cancel()


def index_vcf(path: Path) -> Path:
    """Tabix index of a bgzipped VCF (``.tbi`` beside it)."""
    import pysam

    return Path(pysam.tabix_index(str(path), preset="vcf", force=True, keep_original=True))
