"""Re-evaluation: which decided items' evidence a new model version would change.

When a new evidence champion is registered, a curator needs to know which of
their past decisions rest on evidence the new model would give differently. This
module compares, item by item, the evidence a queue's items were decided on
("old") with what another registered version of the evidence model says from the
same inputs ("new"), and records that a curator has reviewed a change.

Choices, and why:

* **Same inputs.** Each item's feature row is kept with the queue when it is built
  (``queue_item_features``, :meth:`QueueStore.save`), so a variant uploaded with its
  own annotations (VEP CSQ, inline) is scored again from exactly those, and a store
  rebuilt since does not blur a model change with a data change. Queues stored before
  features were kept fall back to the feature store; an item found in neither is
  listed as ``not_rescored`` (``features_not_kept``), never silently dropped.
* **Old = what was decided on.** By default "old" is the version recorded in the
  queue's ``models`` and its values are the stored item's (what the curator saw, no
  model load). Another ``old_version`` is scored from the same features.
  "New" defaults to the current ``@champion``.
* **Changed** = the ACMG v3 code (``evidence``, hence its points) or the SVCv4
  ``mis_prd`` points differ, of the guidelines the deployment reports
  (``VIPREDICT_GUIDELINES``). The posterior is shown old and new but a shift
  inside one level is not a change: it alters no evidence a curator applied.
* **Reviews** are kept per (queue, variant, model, old version, new version): a
  change reviewed for v1 -> v2 is shown unreviewed again for v1 -> v3.
* Only the evidence model is compared: the priority model orders work and never
  becomes evidence, and BA1/BS1/PM2 come from frequencies, not from a model.

Public calls (the CLI, :class:`vipredict.service.queue.QueueService` and the page use
these): :func:`reevaluate_queue`, :func:`mark_reviewed`, :func:`resolve_versions`,
:class:`ModelVersions`, :meth:`Reevaluation.to_dict`.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vipredict.config import ACMG_V3, GUIDELINES, SVCV4, ModelRole, Settings, get_settings
from vipredict.model.registry import (
    LoadedModel,
    ModelNotReadyError,
    champion_version,
    load_role,
    registered_name,
    setup_mlflow,
)
from vipredict.model.scorer import Scorer
from vipredict.queue.ranking import QueueInputError
from vipredict.queue.store import UNKEPT_FEATURES, QueueStore, check_curator, check_version
from vipredict.store.partitioned import Store

#: Item statuses: evidence changed, unchanged, or not scored again (no features to do it).
STATUSES = ("changed", "unchanged", "not_rescored")
#: Why an item could not be scored again.
NOT_RESCORED = "features_not_kept"
#: What each guideline's evidence is compared by: a difference in any reported one is a change.
CHANGE_FIELDS = {ACMG_V3: ("evidence",), SVCV4: ("mis_prd",)}
#: Evidence fields shown old and new (``old_<field>``, ``new_<field>``); the guideline each
#: belongs to (None: every deployment shows it).
COMPARED_FIELDS = (
    ("evidence", ACMG_V3),
    ("points", ACMG_V3),
    ("mis_prd", SVCV4),
    ("posterior", None),
    ("profile", None),
)
#: One row of a re-evaluation, in output order.
REEVALUATION_COLUMNS: tuple[str, ...] = (
    "rank",
    "variant",
    "gene",
    "decision",
    "curator",
    "decided_at",
    "status",
    "change",
    *(f"{side}_{name}" for name, _ in COMPARED_FIELDS for side in ("old", "new")),
    "features_from",
    "rescore_error",
    "reviewed",
    "reviewed_by",
    "reviewed_at",
)
#: Models kept loaded by one :class:`ModelVersions` (each is ~1-2 s to load, a few MB).
CACHED_VERSIONS = 4


@dataclass(frozen=True)
class VersionPair:
    """The evidence model compared and its two registered versions (as text)."""

    model: str
    old: str
    new: str


def recorded_evidence_model(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence model a queue records it was built with: ``name``, ``version``,
    ``run_id`` (empty for a queue that records none)."""
    return dict((meta.get("models") or {}).get("evidence") or {})


def resolve_versions(
    meta: dict[str, Any],
    settings: Settings | None = None,
    old_version: str | int | None = None,
    new_version: str | int | None = None,
) -> VersionPair:
    """The versions to compare for a queue: the given ones, else the queue's recorded version
    (old) and the current ``@champion`` (new).

    Raises :class:`QueueInputError` (a 422) when the queue records no evidence version and
    none was given, when it was built by a differently named evidence model, or when there
    is no champion.
    """
    settings = settings or get_settings()
    name = registered_name(ModelRole.EVIDENCE)
    recorded = recorded_evidence_model(meta)
    if recorded.get("name") not in (None, name):
        raise QueueInputError(
            "other_model",
            f"queue {meta.get('id')} was scored by {recorded['name']}, not {name}: "
            "its versions are not comparable",
        )
    if old_version is None or str(old_version).strip() == "":
        if recorded.get("version") in (None, ""):
            raise QueueInputError(
                "unknown_model_version",
                f"queue {meta.get('id')} records no evidence model version: give old_version",
            )
        old_version = recorded["version"]
    if new_version is None or str(new_version).strip() == "":
        champion = champion_version(setup_mlflow(settings), name)
        if champion is None:
            raise QueueInputError("no_champion", f"no champion version of {name} is registered")
        new_version = champion.version
    return VersionPair(
        name, check_version(old_version, "old_version"), check_version(new_version, "new_version")
    )


class ModelVersions:
    """Registered evidence-model versions, loaded once each (a few kept, least recent dropped).

    A registered version's artifacts never change, so a loaded one stays right; the
    service keeps one of these so the page's re-evaluation does not reload models on
    every request. Thread-safe. ``seed``: models already loaded (the service's champion).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        seed: Iterable[LoadedModel] = (),
        size: int = CACHED_VERSIONS,
    ) -> None:
        self.settings = settings or get_settings()
        self.size = size
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict(
            (model.version, model) for model in seed
        )
        self._lock = threading.Lock()

    def evidence(self, version: str) -> LoadedModel:
        """Version ``version`` of the evidence model, checked as the champion is (thresholds,
        profiles); :class:`QueueInputError` ``model_version_unavailable`` when it cannot be."""
        with self._lock:
            if version in self._loaded:
                self._loaded.move_to_end(version)
                return self._loaded[version]
            try:
                model = load_role(ModelRole.EVIDENCE, self.settings, version)
            except ModelNotReadyError as error:
                raise QueueInputError("model_version_unavailable", str(error)) from error
            self._loaded[version] = model
            while len(self._loaded) > self.size:
                self._loaded.popitem(last=False)
            return model


@dataclass(frozen=True)
class Reevaluation:
    """A queue's items compared under two evidence-model versions.

    ``items`` holds :data:`REEVALUATION_COLUMNS`, one row per item considered (the
    decided ones, or every item with ``all_items``), in rank order; ``status`` says
    ``changed``, ``unchanged`` or ``not_rescored``.
    """

    queue_id: str
    versions: VersionPair
    run_ids: dict[str, str]
    scope: str
    items: pd.DataFrame
    guidelines: tuple[str, ...] = GUIDELINES
    counts: dict[str, int] = field(default_factory=dict)

    def changed(self) -> pd.DataFrame:
        """The items whose evidence changed, and those that could not be scored again."""
        return self.items[self.items["status"] != "unchanged"].reset_index(drop=True)

    def columns(self) -> list[str]:
        """:data:`REEVALUATION_COLUMNS` of the reported guidelines only."""
        hidden = {
            f"{side}_{name}"
            for name, guideline in COMPARED_FIELDS
            if guideline is not None and guideline not in self.guidelines
            for side in ("old", "new")
        }
        return [c for c in REEVALUATION_COLUMNS if c not in hidden]

    def to_dict(self, changed_only: bool = True) -> dict[str, Any]:
        """JSON-ready answer (``GET /queue/{id}/reevaluation``): versions, counts and items
        (only those not ``unchanged`` unless ``changed_only`` is False)."""
        shown = self.changed() if changed_only else self.items
        shown = shown[self.columns()]
        return {
            "queue_id": self.queue_id,
            "model": self.versions.model,
            "old_version": self.versions.old,
            "new_version": self.versions.new,
            "old_run_id": self.run_ids.get("old", ""),
            "new_run_id": self.run_ids.get("new", ""),
            "scope": self.scope,
            "changed_only": changed_only,
            **{f"n_{name}": value for name, value in self.counts.items()},
            "items": json.loads(shown.to_json(orient="records")) if len(shown) else [],
        }


def with_model_columns(features: pd.DataFrame, models: Iterable[LoadedModel]) -> pd.DataFrame:
    """``features`` with every column the models read (NaN where a kept row had no value).

    Kept rows hold only their non-null values, and a newer model may read columns an
    older store never had: absent is missing, exactly as the scorer treats NaN.
    """
    needed = ["variant", "gene"]
    for model in models:
        needed += model.feature_names
        for profile in model.profiles:
            needed += [*profile.feature_names, *profile.profile.sources]
    missing = [c for c in dict.fromkeys(needed) if c not in features.columns]
    if not missing:
        return features
    return pd.concat([features, pd.DataFrame(np.nan, features.index, missing)], axis=1)


def rescore(model: LoadedModel, features: pd.DataFrame) -> pd.DataFrame:
    """Evidence of one registered version for feature rows, indexed by variant.

    The evidence model alone (no priority model, no store): evidence does not depend
    on either.
    """
    if not len(features):
        return pd.DataFrame(columns=["evidence", "points", "mis_prd", "posterior", "profile"])
    frame = with_model_columns(features.reset_index(drop=True), [model])
    results = Scorer(model).results_of(frame)
    return results.set_index(results["variant"].astype(str))


def features_of(
    store: QueueStore, queue_id: str, variants: Sequence[str], feature_store: Store | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Feature rows of ``variants``: those kept with the queue, then the feature store's for the
    rest (queues stored before features were kept); and where each row came from."""
    kept = store.features(queue_id, variants)
    source = {str(v): "queue" for v in (kept["variant"] if len(kept) else [])}
    rest = [v for v in variants if v not in source]
    if rest and feature_store is not None:
        found = feature_store.lookup(rest)
        found = found.drop(columns=[c for c in UNKEPT_FEATURES if c in found.columns])
        source |= {str(v): "store" for v in found["variant"]}
        kept = pd.concat([kept, found], ignore_index=True) if len(kept) else found
    return kept, source


def _same(old: pd.Series, new: pd.Series) -> np.ndarray:
    """Element-wise equality where two missing values are equal (and one missing is not)."""
    a = old.astype(object).where(old.notna(), None).tolist()
    b = new.astype(object).where(new.notna(), None).tolist()
    return np.array([x == y for x, y in zip(a, b, strict=True)], dtype=bool)


def _fmt_points(value: Any) -> str:
    return "none" if value is None or pd.isna(value) else f"{int(value):+d}"


def describe_change(row: dict[str, Any], guidelines: Sequence[str]) -> str:
    """The change in words, e.g. ``PP3_Moderate -> PP3_Strong; MIS_PRD +2 -> +3``."""
    parts = []
    if ACMG_V3 in guidelines and row["old_evidence"] != row["new_evidence"]:
        parts.append(f"{row['old_evidence']} -> {row['new_evidence']}")
    if SVCV4 in guidelines and _fmt_points(row["old_mis_prd"]) != _fmt_points(row["new_mis_prd"]):
        parts.append(
            f"MIS_PRD {_fmt_points(row['old_mis_prd'])} -> {_fmt_points(row['new_mis_prd'])}"
        )
    return "; ".join(parts)


def compare(
    items: pd.DataFrame,
    old: pd.DataFrame,
    new: pd.DataFrame,
    guidelines: Sequence[str] = GUIDELINES,
) -> pd.DataFrame:
    """Old against new evidence of ``items`` (rows with ``variant``): the comparison columns,
    ``status`` and ``change``.

    ``old`` and ``new`` are evidence rows indexed by variant; an item absent from
    either was not scored again (``not_rescored``).
    """
    out = items.reset_index(drop=True).copy()
    keys = pd.Index(out["variant"].astype(str))
    rescored = keys.isin(old.index) & keys.isin(new.index)
    for name, _ in COMPARED_FIELDS:
        for side, frame in (("old", old), ("new", new)):
            column = frame[name] if name in frame.columns else pd.Series(dtype=object)
            values = column[~column.index.duplicated()].reindex(keys)
            out[f"{side}_{name}"] = values.to_numpy()
    for name in ("points", "mis_prd"):  # whole points; missing where not scored again
        for side in ("old", "new"):
            values = pd.to_numeric(out[f"{side}_{name}"], errors="coerce")
            out[f"{side}_{name}"] = values.astype("Int64")
    same = np.ones(len(out), dtype=bool)
    for guideline in guidelines:
        for name in CHANGE_FIELDS.get(guideline, ()):
            same &= _same(out[f"old_{name}"], out[f"new_{name}"])
    out["status"] = np.where(~rescored, "not_rescored", np.where(same, "unchanged", "changed"))
    out["change"] = [
        describe_change(row, guidelines) if row["status"] == "changed" else ""
        for row in out.to_dict("records")
    ]
    return out


def _considered(items: pd.DataFrame, all_items: bool) -> pd.DataFrame:
    """Keyed items (decided ones unless ``all_items``), in rank order."""
    keyed = items["variant"].fillna("").astype(str) != ""
    decided = items["decision"].notna() & (items["decision"].astype(str) != "")
    chosen = items[keyed & (decided | all_items)]
    return chosen.sort_values("rank").reset_index(drop=True)


def reevaluate(
    store: QueueStore,
    queue_id: str,
    versions: VersionPair,
    models: ModelVersions,
    *,
    feature_store: Store | None = None,
    all_items: bool = False,
    guidelines: Sequence[str] = GUIDELINES,
) -> Reevaluation:
    """Compare the queue's decided items (every item with ``all_items``) under two versions.

    Old values are the stored items' when ``versions.old`` is the version the queue
    records (what the curator decided on); otherwise both sides are scored from the
    same features. Each row carries its latest review of this version pair.
    """
    record = store.load(queue_id)
    items = _considered(record.items, all_items)
    variants = items["variant"].astype(str).tolist()
    features, source = features_of(store, queue_id, variants, feature_store)
    new_model = models.evidence(versions.new)
    new = rescore(new_model, features)
    if str(recorded_evidence_model(record.meta).get("version", "")) == versions.old:
        old = items.set_index(items["variant"].astype(str))
        old = old[old.index.isin(new.index)]  # no new answer: nothing to compare against
        old_run = str(recorded_evidence_model(record.meta).get("run_id", ""))
    else:
        old_model = models.evidence(versions.old)
        old = rescore(old_model, features)
        old_run = old_model.run_id
    compared = compare(items, old, new, guidelines)
    compared["features_from"] = [source.get(v, "") for v in variants]
    compared["rescore_error"] = np.where(compared["status"] == "not_rescored", NOT_RESCORED, "")
    reviews = store.reviews(queue_id, versions.model, versions.old, versions.new)
    compared = compared.merge(reviews, on="variant", how="left")
    compared["reviewed"] = compared["reviewed_by"].notna()
    result = compared[list(REEVALUATION_COLUMNS)]
    counts = {
        "considered": len(result),
        **{status: int((result["status"] == status).sum()) for status in STATUSES},
        "reviewed": int(result["reviewed"].sum()),
    }
    return Reevaluation(
        queue_id=queue_id,
        versions=versions,
        run_ids={"old": old_run, "new": new_model.run_id},
        scope="all" if all_items else "decided",
        items=result,
        guidelines=tuple(guidelines),
        counts=counts,
    )


def reevaluate_queue(
    store: QueueStore,
    queue_id: str,
    *,
    settings: Settings | None = None,
    old_version: str | int | None = None,
    new_version: str | int | None = None,
    all_items: bool = False,
    models: ModelVersions | None = None,
    feature_store: Store | None = None,
) -> Reevaluation:
    """The one call behind ``vipredict queue reevaluate`` and ``GET /queue/{id}/reevaluation``.

    ``old_version``/``new_version`` default to the queue's recorded version and the
    current champion (:func:`resolve_versions`); ``models`` caches loaded versions (the
    service passes its own); ``feature_store`` answers for queues stored before
    features were kept. Refusals are :class:`QueueInputError` (422) and
    :class:`~vipredict.queue.store.QueueNotFoundError` (404), never a traceback.
    """
    settings = settings or get_settings()
    meta = store.meta(queue_id)
    versions = resolve_versions(meta, settings, old_version, new_version)
    return reevaluate(
        store,
        queue_id,
        versions,
        models or ModelVersions(settings),
        feature_store=feature_store,
        all_items=all_items,
        guidelines=settings.guidelines,
    )


def mark_reviewed(
    store: QueueStore,
    queue_id: str,
    variants: Sequence[str],
    curator: str,
    *,
    settings: Settings | None = None,
    old_version: str | int | None = None,
    new_version: str | int | None = None,
) -> list[dict[str, Any]]:
    """Record that ``curator`` reviewed these items for a model change; the durable rows.

    The versions default as in :func:`reevaluate_queue`, so marking what the page or
    the CLI listed needs no version. All variants must be items of the queue, else
    nothing is written (``unknown_variant``, a 404).
    """
    curator = check_curator(curator)
    versions = resolve_versions(store.meta(queue_id), settings, old_version, new_version)
    return store.review(
        queue_id,
        variants,
        model=versions.model,
        old_version=versions.old,
        new_version=versions.new,
        curator=curator,
    )
