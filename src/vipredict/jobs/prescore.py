"""``vipredict prescore``: the evidence champion's answer for every stored variant, once.

``annotate`` then reads the answers (:mod:`vipredict.store.prescored`) instead of
scoring each matched row again: byte for byte the same output, at the cost of the
``--no-score`` join. Pre-scoring is per registered version: when another version
becomes champion, or the store gains or rewrites files, the evidence is stale for
those files and ``annotate`` scores as before until ``prescore`` runs again (it
then scores only what is stale).

Checking which version is champion reads the home's SQLite registry
(:mod:`vipredict.model.versions`), so an annotation from pre-scored evidence
never loads the model stack: no MLflow, LightGBM or scikit-learn in its memory.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from vipredict.config import ModelRole, Settings, get_settings, registered_model_of
from vipredict.model.versions import sqlite_version
from vipredict.store.partitioned import Store, float_matrix
from vipredict.store.prescored import (
    EVIDENCE_SCHEMA,
    EvidenceOf,
    FileRunner,
    ScoredBy,
    open_prescored,
    prescore_file,
    prescore_store,
    prescored_root,
)
from vipredict.workers import default_workers

if TYPE_CHECKING:  # the model stack loads only to pre-score
    from vipredict.model.scorer import Scorer

#: Store bytes to pre-score below which one process scores them all: a worker process
#: spends a few seconds importing and loading the champion before its first file.
POOL_BYTES = 64 << 20


class PrescoreError(ValueError):
    """A store whose rows cannot be pre-scored for this champion (the message says why)."""


def champion_scored_by(settings: Settings | None = None) -> ScoredBy:
    """The evidence champion's registered version, read without MLflow where the home
    allows (:func:`~vipredict.model.versions.sqlite_version`)."""
    name = registered_model_of(ModelRole.EVIDENCE)
    found = sqlite_version(name, None, settings)
    if found is None:  # another backend or schema: MLflow reads it, or words the error
        from vipredict.model.registry import mlflow_version

        found = mlflow_version(name, None, settings)
    return ScoredBy(name, found.version, found.run_id)


def stored_evidence(
    store: Store, settings: Settings | None = None, threads: int | None = None
) -> Store | None:
    """The store's pre-scored evidence by the current evidence champion, or None."""
    return open_prescored(store.root, champion_scored_by(settings or get_settings()), threads)


def prescore(
    store: Store,
    scorer: Scorer,
    settings: Settings | None = None,
    show_progress: bool = False,
    compile: bool = True,
    workers: int | None = None,
) -> dict[str, int]:
    """Pre-score every store row the current evidence champion has not scored yet.

    Scored through :meth:`Scorer.row_evidence` (``annotate``'s own core), so the
    answers are those ``annotate`` would give; ``compile``: with the profiles' trees
    compiled (and cached in the home), which changes the time, not the answers.
    The store must hold the rendered INFO text of its features: that text is what
    an annotation from pre-scored evidence writes (:func:`prescored_applies`).
    ``workers``: processes pre-scoring files side by side (None: one per core), used
    when there are at least :data:`POOL_BYTES` to score; each loads the same
    registered version. The files are the same either way.
    """
    from vipredict.model.scorer import require_store_columns

    settings = settings or get_settings()
    model = scorer.evidence_model
    require_store_columns(model, store.columns)
    columns = list(model.feature_names)
    if store.info_columns is None:
        raise PrescoreError(
            f"the store at {store.root} holds no rendered INFO text: rebuild it "
            "(`vipredict features`)"
        )
    if compile:
        scorer.compile(settings, build=True, show_progress=show_progress)
    scored_by = ScoredBy(model.name, str(model.version), model.run_id)
    guidelines = settings.guidelines
    processes = default_workers() if workers is None else workers
    pool = _Pool(processes, settings, scored_by, columns, guidelines, compile, store.root)
    return prescore_store(
        store.root, scored_by, evidence_of(scorer, columns), columns, guidelines,
        show_progress, pool.runner,
    )  # fmt: skip


def evidence_of(scorer: Scorer, columns: Sequence[str]) -> EvidenceOf:
    """The evidence columns ``scorer`` gives a table of store rows, from ``columns``."""
    from vipredict.model.scorer import FeatureMatrix

    def evidence(table: pa.Table) -> pa.Table:
        found = scorer.row_evidence(FeatureMatrix(float_matrix(table, columns), tuple(columns)))
        values = [found.score, found.posterior, found.evidence, found.mis_prd, found.error]
        return pa.table(
            [pa.array(v, f.type) for v, f in zip(values, EVIDENCE_SCHEMA, strict=True)],
            schema=EVIDENCE_SCHEMA,
        )

    return evidence


class _Pool:
    """Store files pre-scored in worker processes, each loading the champion once.

    The files are independent, and a file's time goes mostly to reading, rendering
    and writing, not to scoring (12 files of a 10^7-row store: 3.2 s reading, 1.2
    rendering, 1.2 writing, 0.4 scoring), so scoring threads would not help.
    """

    def __init__(
        self,
        workers: int,
        settings: Settings,
        scored_by: ScoredBy,
        columns: Sequence[str],
        guidelines: Sequence[str],
        compiled: bool,
        store_root: Path,
    ) -> None:
        self.workers, self.settings, self.scored_by = workers, settings, scored_by
        self.columns, self.guidelines, self.compiled = list(columns), list(guidelines), compiled
        self.store_root = Path(store_root)

    def runner(self, total_bytes: int) -> FileRunner | None:
        """What scores the files in worker processes (None: too few bytes, or one worker)."""
        if self.workers <= 1 or total_bytes < POOL_BYTES:
            return None
        return self._run

    def _run(self, sources: Sequence[Path], written: Callable[[Path], None]) -> None:
        start = (self.settings, self.scored_by, self.columns, self.compiled)
        root = prescored_root(self.store_root)
        with ProcessPoolExecutor(
            min(self.workers, len(sources)),
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_start_worker,
            initargs=start,
        ) as pool:
            task = (root, self.scored_by, self.columns, self.guidelines)
            futures = [
                pool.submit(_prescore_in_worker, self.store_root, source, *task)
                for source in sources
            ]
            try:
                for future in as_completed(futures):
                    written(future.result())
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise


#: A worker's scorer (or the error loading it), set once when the worker starts.
_WORKER: dict[str, Any] = {}


def _start_worker(
    settings: Settings, scored_by: ScoredBy, columns: list[str], compiled: bool
) -> None:
    """Load the registered version ``scored_by`` names, once a worker (compiled trees from
    the home's cache when ``compiled``). An error is kept, to be raised with the first file.
    """
    try:
        from vipredict.model.registry import load_role
        from vipredict.model.scorer import Scorer

        pa.set_cpu_count(1)  # one worker per core already
        model = load_role(ModelRole.EVIDENCE, settings, scored_by.version, estimator=False)
        if model.run_id != scored_by.run_id:
            raise PrescoreError(f"{scored_by} is not the registered version a worker loaded")
        scorer = Scorer(model, None, None, settings.bs1_faf, settings.guidelines)
        if compiled:
            scorer.compile(settings, build=False)
        _WORKER["evidence_of"] = evidence_of(scorer, columns)
    except Exception as error:  # raised in the parent with its traceback, not a broken pool
        _WORKER["error"] = error


def _prescore_in_worker(
    store_root: Path,
    source: Path,
    root: Path,
    scored_by: ScoredBy,
    columns: list[str],
    guidelines: list[str],
) -> Path:
    """Pre-score one store file in a worker; the file, once written."""
    if "error" in _WORKER:
        raise _WORKER["error"]
    prescore_file(
        store_root, source, root, scored_by, _WORKER["evidence_of"], columns, guidelines
    )
    return source
