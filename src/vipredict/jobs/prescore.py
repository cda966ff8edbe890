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

from typing import TYPE_CHECKING

import pyarrow as pa

from vipredict.config import ModelRole, Settings, get_settings, registered_model_of
from vipredict.model.versions import sqlite_version
from vipredict.store.partitioned import Store, float_matrix
from vipredict.store.prescored import EVIDENCE_SCHEMA, ScoredBy, open_prescored, prescore_store

if TYPE_CHECKING:  # the model stack loads only to pre-score
    from vipredict.model.scorer import Scorer


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
) -> dict[str, int]:
    """Pre-score every store row the current evidence champion has not scored yet.

    Scored through :meth:`Scorer.row_evidence` (``annotate``'s own core), so the
    answers are those ``annotate`` would give; ``compile``: with the profiles' trees
    compiled (and cached in the home), which changes the time, not the answers.
    The store must hold the rendered INFO text of its features: that text is what
    an annotation from pre-scored evidence writes (:func:`prescored_applies`).
    """
    from vipredict.model.scorer import FeatureMatrix, require_store_columns

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

    def evidence_of(table: pa.Table) -> pa.Table:
        found = scorer.row_evidence(FeatureMatrix(float_matrix(table, columns), tuple(columns)))
        values = [found.score, found.posterior, found.evidence, found.mis_prd, found.error]
        return pa.table(
            [pa.array(v, f.type) for v, f in zip(values, EVIDENCE_SCHEMA, strict=True)],
            schema=EVIDENCE_SCHEMA,
        )

    scored_by = ScoredBy(model.name, str(model.version), model.run_id)
    guidelines = settings.guidelines
    return prescore_store(store.root, scored_by, evidence_of, columns, guidelines, show_progress)
