"""``annotate`` scores block *n+1* in a second thread while block *n* is written.

The pipeline (:func:`vipredict.jobs.annotate._annotated_blocks`) must change
nothing but the timing: the file is the one the blocks give when annotated one
after another, in order; at most a bounded number of blocks are held at once; a
failure in the scoring thread is raised, and no output is left. The scoring core
it calls reads a :class:`~vipredict.model.scorer.FeatureMatrix` built from Arrow
columns: its routes and answers are those of the frame path.

The SYNTHETIC tiny home (fast tier) is used throughout; the real store's rows
are scored through both paths in ``test_annotate_scoring.py``'s fixture home.
"""

from __future__ import annotations

import gzip
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from vipredict.config import Settings
from vipredict.io.inputs import choose_build
from vipredict.io.readers.csq import csq_format
from vipredict.io.vcf import body_blocks, read_header, text_bytes
from vipredict.jobs.annotate import BlockAnnotator, _annotated_blocks, _annotator, annotate_vcf
from vipredict.model.registry import LoadedModel
from vipredict.model.scorer import (
    FeatureMatrix,
    RowEvidence,
    Scorer,
    load_scorer,
    route,
    route_codes,
    row_evidence,
)
from vipredict.store.partitioned import Store

#: Small blocks, so that the tiny VCF makes many of them (the pipeline is exercised).
SMALL_BLOCK = 4096


def _annotator_of(path: Path, store: Store, scorer: Scorer | None) -> tuple[BlockAnnotator, int]:
    header, _ = read_header(path)
    return _annotator(store, scorer, None, choose_build(header, None), csq_format(header)), len(
        header
    )


def _sequential_body(path: Path, store: Store, scorer: Scorer) -> bytes:
    """The body as the blocks give it one after another in this thread (no pipeline)."""
    annotator, skip = _annotator_of(path, store, scorer)
    out = []
    for lines, _ in body_blocks(path, skip, SMALL_BLOCK):
        out += [bytes(text_bytes(text)) for text in annotator(lines)]
    return b"".join(out)


def _body(path: Path) -> bytes:
    with gzip.open(path, "rb") as handle:
        return b"".join(line for line in handle if not line.startswith(b"#"))


def test_pipelined_file_is_the_blocks_annotated_one_after_another(
    tiny_vcf, tiny_store, tiny_scorer, tmp_path: Path
):
    """Many small blocks: the written body is byte for byte the sequential one."""
    output = tmp_path / "out.vcf.gz"
    report = annotate_vcf(
        tiny_vcf.path,
        output,
        tiny_store,
        tiny_scorer,
        block_bytes=SMALL_BLOCK,
        show_progress=False,
    )
    expected = _sequential_body(tiny_vcf.path, tiny_store, tiny_scorer)
    assert expected.count(b"\n") > 10 * (SMALL_BLOCK // 256)  # many blocks, not one
    assert _body(output) == expected
    assert report.records == len(tiny_vcf.errors)
    assert b"VIP_SCORE=0" in expected  # scored records among them


class _Counting:
    """An annotator stand-in that records how many blocks are prepared but not yet handed on."""

    def __init__(self) -> None:
        self.scorer = object()  # a scorer: the pipelined path
        self.prepared = 0
        self.scored: list[int] = []

    def prepare(self, lines: int) -> int:
        self.prepared += 1
        return lines

    def score(self, block: int) -> int:
        self.scored.append(block)
        return block


def test_blocks_come_out_in_order_with_at_most_two_beyond_the_one_written():
    """Order kept, every block scored once, and memory bounded: when block k is handed
    on, no more than blocks k+1 and k+2 have been prepared (one scored, one looked up)."""
    counting = _Counting()
    seen = []
    blocks = ((i, 10 * i) for i in range(25))
    for block, consumed in _annotated_blocks(counting, blocks):  # type: ignore[arg-type]
        assert consumed == 10 * block
        assert counting.prepared <= block + 2
        seen.append(block)
    assert seen == list(range(25))
    assert sorted(counting.scored) == list(range(25))


def test_a_written_block_is_let_go_before_the_next_is_looked_up(
    tiny_vcf, tiny_store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """Without a scorer, one block is alive at a time: when block k+1 is prepared,
    nothing holds block k (its lines, stored rows and text were otherwise a second
    block's worth of the peak)."""
    alive: list[weakref.ref] = []
    prepare = BlockAnnotator.prepare

    def prepare_once_the_last_is_gone(self: BlockAnnotator, lines: pa.Array):
        assert all(block() is None for block in alive), "the block before is still held"
        block = prepare(self, lines)
        alive.append(weakref.ref(block))
        return block

    monkeypatch.setattr(BlockAnnotator, "prepare", prepare_once_the_last_is_gone)
    annotate_vcf(
        tiny_vcf.path,
        tmp_path / "out.vcf.gz",
        tiny_store,
        None,
        block_bytes=SMALL_BLOCK,
        show_progress=False,
    )
    assert len(alive) >= 3  # several blocks, each checked when the next one came


def test_a_failure_in_the_scoring_thread_is_raised_and_leaves_no_file(
    tiny_vcf, tiny_store, tiny_scorer, tmp_path: Path
):
    """The error of the scoring thread reaches the caller; the partial output is removed."""

    class Broken(Scorer):
        def row_evidence(self, features: object, threads: int | None = None) -> RowEvidence:
            raise RuntimeError("scoring failed in its thread")

    broken = Broken(**{f: getattr(tiny_scorer, f) for f in tiny_scorer.__dataclass_fields__})
    output = tmp_path / "out.vcf.gz"
    with pytest.raises(RuntimeError, match="scoring failed in its thread"):
        annotate_vcf(
            tiny_vcf.path,
            output,
            tiny_store,
            broken,
            block_bytes=SMALL_BLOCK,
            show_progress=False,
        )
    assert list(tmp_path.iterdir()) == []


def _thinned(rows: pd.DataFrame, model: LoadedModel, seed: int = 0) -> pd.DataFrame:
    """Rows with sources blanked at random, so that every profile and none get rows."""
    rng = np.random.default_rng(seed)
    out = rows.copy()
    sources = list(dict.fromkeys(s for p in model.profiles for s in p.profile.sources))
    for column in sources:
        out.loc[rng.random(len(out)) < 0.25, column] = np.nan
    return out


def _matrix_of_arrow(rows: pd.DataFrame, columns: list[str]) -> FeatureMatrix:
    """The model's columns through Arrow, as ``annotate`` builds them (nulls, not NaN)."""
    table = pa.Table.from_pandas(rows[columns], preserve_index=False)
    values = np.column_stack(
        [table[c].cast(pa.float64()).to_numpy(zero_copy_only=False) for c in columns]
    )
    return FeatureMatrix(values, tuple(columns))


def _assert_same_evidence(model: LoadedModel, rows: pd.DataFrame) -> None:
    columns = list(model.feature_names)
    by_frame = row_evidence(model, rows)
    by_matrix = row_evidence(model, _matrix_of_arrow(rows, columns))
    only_model = row_evidence(model, rows[columns])
    codes = route_codes(model, _matrix_of_arrow(rows, columns))
    names = np.array([p.name for p in model.profiles] + [""], dtype=object)
    assert names[codes].tolist() == route(model, rows).tolist()
    for found in (by_matrix, only_model):
        np.testing.assert_array_equal(found.score, by_frame.score)
        np.testing.assert_array_equal(found.posterior, by_frame.posterior)
        np.testing.assert_array_equal(found.mis_prd, by_frame.mis_prd)
        assert found.evidence.tolist() == by_frame.evidence.tolist()
        assert found.profile.tolist() == by_frame.profile.tolist()
    # ``annotate`` gives the model's columns only: evidence inputs outside them do not count
    assert by_matrix.error.tolist() == only_model.error.tolist()
    assert len(set(by_frame.profile.tolist())) >= 3


def test_matrix_and_frame_give_the_same_routes_and_answers_synthetic(tiny_scorer):
    """SYNTHETIC tiny store, sources blanked at random: every route and answer agrees."""
    assert tiny_scorer.store is not None
    model = tiny_scorer.evidence_model
    _assert_same_evidence(model, _thinned(tiny_scorer.store.read_all(), model))


def test_matrix_and_frame_give_the_same_routes_and_answers_real(trained_home: Settings):
    """The real champion (all its profiles) on the real store's rows, sources blanked."""
    scorer = replace(
        load_scorer(trained_home, with_priority=False, with_store=False),
        store=Store.open(trained_home),
    )
    assert scorer.store is not None
    model = scorer.evidence_model
    rows = _thinned(scorer.store.read_all(), model, seed=1)
    _assert_same_evidence(model, rows)
    assert (row_evidence(model, rows).profile == "").any()


def test_a_matrix_names_a_column_it_lacks(tiny_scorer):
    model = tiny_scorer.evidence_model
    source = model.profiles[0].profile.sources[0]
    columns = [c for c in model.feature_names if c != source]
    matrix = FeatureMatrix(np.zeros((2, len(columns))), tuple(columns))
    with pytest.raises(KeyError, match=source):
        row_evidence(model, matrix)
    with pytest.raises(ValueError, match="3 columns"):
        FeatureMatrix(np.zeros((2, 2)), ("a", "b", "c"))
