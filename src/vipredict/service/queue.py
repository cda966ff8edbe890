"""The queue endpoints' logic, free of BentoML: ``POST /queue``, ``GET /queue/{id}``, decisions.

:mod:`vipredict.service.bento` only forwards raw request bodies here and returns the
:class:`QueueAnswer`. Every refusal has a status and a named ``reason``:
422 for a request the queue cannot honour (``invalid_decision``,
``curator_mismatch``, ``invalid_by``, ...), 404 for an unknown queue or item,
413 past the service's limits, 504 past the request's deadline. API keys are checked
before this code runs, by ``service.security.SecurityMiddleware``, which refuses
queue writes outright when no key is configured; the key's curator id is the
curator of a decision (a ``curator`` field in the body may only repeat it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.responses import Response

from vipredict.config import Settings, get_settings
from vipredict.deadline import DeadlineExceeded
from vipredict.model.scorer import Scored, reported_columns
from vipredict.queue.build import QueueSpec, rank_scored, save_queue
from vipredict.queue.genes import GeneContext, load_gene_context
from vipredict.queue.ranking import QueueFilters, QueueInputError
from vipredict.queue.reevaluate import ModelVersions, mark_reviewed, reevaluate_queue
from vipredict.queue.store import Decision, QueueNotFoundError, QueueStore, check_queue_name
from vipredict.service.predictor import PredictionService, upload_inputs
from vipredict.service.schemas import ShortText, VariantIn
from vipredict.service.security import ServingError
from vipredict.variants import VariantError

DEFAULT_PAGE = 1000


class QueueRequest(BaseModel):
    """Body of ``POST /queue``: ``variants`` (as for ``/predict``, with or without their own
    annotations) or ``vcf`` text (VEP's CSQ read when present), not both."""

    model_config = ConfigDict(extra="forbid")

    variants: list[VariantIn] | None = None
    vcf: str | None = None
    build: ShortText | None = None
    name: ShortText = ""
    by: ShortText = "settle"
    genes: list[ShortText] = []
    evidence: list[ShortText] = []
    groups: list[ShortText] = []
    af_bands: list[ShortText] = []


class DecisionRequest(BaseModel):
    """Body of ``POST /queue/{id}/decisions``; values are vetted by :class:`Decision`.

    ``curator`` is optional: the decision's curator is the API key's. A body that names
    another curator is refused (``curator_mismatch``) rather than silently re-attributed.
    """

    model_config = ConfigDict(extra="forbid")

    variant: Any = None
    decision: Any = None
    curator: Any = None
    note: Any = ""


class ReviewRequest(BaseModel):
    """Body of ``POST /queue/{id}/reviews``: the items a curator has looked at again after a
    model change. The versions default as in ``GET /queue/{id}/reevaluation`` (the queue's
    recorded version -> the current champion); ``curator`` may only repeat the key's."""

    model_config = ConfigDict(extra="forbid")

    variants: Any = None
    old_version: ShortText | None = None
    new_version: ShortText | None = None
    curator: Any = None


def _flag(text: str | bool, name: str) -> bool:
    """A query-string boolean: true/false, 1/0, yes/no (case-insensitive)."""
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("", "0", "false", "no"):
        return False
    raise QueueInputError("invalid_flag", f"{name} must be true or false, not {text!r}")


@dataclass(frozen=True)
class QueueAnswer:
    """Status and JSON body of one queue request."""

    status: int
    body: bytes

    def response(self) -> Response:
        return Response(content=self.body, status_code=self.status, media_type="application/json")


def _json(payload: Any, status: int = 200) -> QueueAnswer:
    return QueueAnswer(status, json.dumps(payload, allow_nan=False).encode())


def _refusal(status: int, reason: str, message: str) -> QueueAnswer:
    return _json({"error": message, "reason": reason}, status)


def items_json(items: pd.DataFrame, guidelines: Iterable[str]) -> list[dict[str, Any]]:
    """Items as JSON-ready records (NaN -> null, numpy scalars -> Python), with the fields
    of the guidelines the deployment reports only (``VIPREDICT_GUIDELINES``)."""
    if not len(items):
        return []
    kept = items[reported_columns(guidelines, list(items.columns))]
    return json.loads(kept.to_json(orient="records"))


def _page_value(text: str | int, name: str, default: int) -> int:
    try:
        value = int(text) if str(text).strip() else default
    except ValueError:
        raise QueueInputError("invalid_page", f"{name} must be an integer, not {text!r}") from None
    if value < 0:
        raise QueueInputError("invalid_page", f"{name} must not be negative")
    return value


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise QueueInputError("invalid_request", f"{where}: {first.get('msg')}") from error


@dataclass
class QueueService:
    """Builds, shows and records decisions on queues for the HTTP service."""

    prediction: PredictionService
    store: QueueStore
    genes: GeneContext
    #: Evidence-model versions loaded for re-evaluation (the service's champion to start with).
    versions: ModelVersions | None = None
    settings: Settings | None = None

    @classmethod
    def load(cls, prediction: PredictionService, settings: Settings | None = None) -> QueueService:
        settings = settings or get_settings()
        return cls(
            prediction,
            QueueStore.from_settings(settings),
            load_gene_context(settings),
            None,
            settings,
        )

    def model_versions(self) -> ModelVersions:
        """Registered evidence versions, loaded once each (re-evaluation, the variant page)."""
        if self.versions is None:
            self.versions = ModelVersions(
                self.settings, seed=[self.prediction.scorer.evidence_model]
            )
        return self.versions

    def _answer(self, produce: Any) -> QueueAnswer:
        try:
            return _json(produce())
        except QueueInputError as error:
            return _refusal(422, error.reason, error.message)
        except QueueNotFoundError as error:
            return _refusal(404, error.reason, error.message)
        except ServingError as error:
            return _refusal(
                error.status, "limit" if error.status == 413 else "refused", error.message
            )
        except DeadlineExceeded as error:
            return _refusal(error.status, "deadline", error.message)

    def _scored(self, request: QueueRequest) -> tuple[Scored, str]:
        """The request's variants scored (after the count limit), and where they came from."""
        if (request.variants is None) == (request.vcf is None):
            raise QueueInputError("invalid_request", "give either `variants` or `vcf` text")
        if request.variants is not None:
            self._check_count(len(request.variants))
            variants = [v.to_inline() for v in request.variants]
            return self.prediction.score_variants(variants), "POST /queue variants"
        try:
            with self.prediction.variant_limit() as limit:  # a 413 at the first one too many
                inputs = upload_inputs(request.vcf or "", request.build, limit)
        except VariantError as error:
            raise QueueInputError(error.reason, error.detail) from error
        self._check_count(len(inputs.records))  # the limit was counted while read: only empty
        return self.prediction.scorer.score(inputs), "POST /queue vcf"

    def _check_count(self, n: int) -> None:
        if not n:
            raise QueueInputError("invalid_request", "the request holds no variants")
        self.prediction.check_count(n)

    def _create(self, raw: bytes) -> dict[str, Any]:
        request = _parse(QueueRequest, raw)
        check_queue_name(request.name)  # before any scoring, not at the end of it
        filters = QueueFilters.create(
            request.genes, request.evidence, request.groups, request.af_bands
        )
        scored, source = self._scored(request)
        spec = QueueSpec(by=request.by, filters=filters, name=request.name)
        scorer = self.prediction.scorer
        items = rank_scored(scorer, scored.results, spec, self.genes, scored.features)
        queue_id = save_queue(self.store, scorer, items, spec, source, scored.features)
        return {**self.store.meta(queue_id), "items": items_json(items, scorer.guidelines)}

    def create(self, raw: bytes) -> QueueAnswer:
        """``POST /queue``: score, rank and store; answers the queue with all its items."""
        return self._answer(lambda: self._create(raw))

    def show(
        self, queue_id: str, offset: str | int = 0, limit: str | int = DEFAULT_PAGE
    ) -> QueueAnswer:
        """``GET /queue/{id}``: a page of items in rank order with their current decisions."""

        def produce() -> dict[str, Any]:
            start = _page_value(offset, "offset", 0)
            size = min(
                _page_value(limit, "limit", DEFAULT_PAGE), self.prediction.limits.max_variants
            )
            record = self.store.load(queue_id, start, size)
            return {
                **record.meta,
                "offset": start,
                "limit": size,
                "items": items_json(record.items, self.prediction.scorer.guidelines),
            }

        return self._answer(produce)

    def decide(self, queue_id: str, raw: bytes, curator: str | None) -> QueueAnswer:
        """``POST /queue/{id}/decisions`` by ``curator`` (the API key's): 200 only once the
        decision is durably stored."""

        def produce() -> dict[str, Any]:
            self.store.meta(queue_id)  # an unknown queue is a 404 whatever the body says
            body = _parse(DecisionRequest, raw)
            who = self._check_curator(body.curator, curator, "decision", "records decisions")
            decision = Decision.create(body.variant, body.decision, who, body.note)
            return {**self.store.decide(queue_id, decision), "acknowledged": True}

        return self._answer(produce)

    def _check_curator(
        self, given: Any, curator: str | None, write: str = "write", verb: str = "writes"
    ) -> str:
        """The key's curator; a body naming another is refused, never re-attributed
        (``write``/``verb`` word the refusal for the request: a decision, a review)."""
        if curator is None:  # the middleware refuses keyless writes: never reached by HTTP
            raise QueueInputError("missing_curator", f"a {write} needs an API key's curator")
        if given is not None and given != curator:
            raise QueueInputError(
                "curator_mismatch",
                f"this API key {verb} as curator {curator!r}; the body names another "
                "(leave `curator` out)",
            )
        return curator

    def reevaluation_payload(
        self,
        queue_id: str,
        old_version: str | None = None,
        new_version: str | None = None,
        all_items: str | bool = False,
        changed_only: str | bool = True,
    ) -> dict[str, Any]:
        """The re-evaluation of a queue as JSON-ready data (the page renders this).

        Keys: ``queue_id``, ``model``, ``old_version``, ``new_version``, ``old_run_id``,
        ``new_run_id``, ``scope`` (decided|all), ``changed_only``, counts ``n_considered``,
        ``n_changed``, ``n_unchanged``, ``n_not_rescored``, ``n_reviewed``, and ``items``
        (:data:`~vipredict.queue.reevaluate.REEVALUATION_COLUMNS` of the reported
        guidelines; only items not ``unchanged`` unless ``changed_only`` is false).
        Versions default to the queue's recorded one and the current champion. Raises
        QueueInputError / QueueNotFoundError (:meth:`reevaluation` turns them into 422/404).
        """
        result = reevaluate_queue(
            self.store,
            queue_id,
            settings=self.settings,
            old_version=old_version,
            new_version=new_version,
            all_items=_flag(all_items, "all_items"),
            models=self.model_versions(),
            feature_store=self.prediction.scorer.store,
        )
        return result.to_dict(changed_only=_flag(changed_only, "changed_only"))

    def reevaluation(
        self,
        queue_id: str,
        old_version: str | None = None,
        new_version: str | None = None,
        all_items: str | bool = False,
        changed_only: str | bool = True,
    ) -> QueueAnswer:
        """``GET /queue/{id}/reevaluation``: decided items whose evidence another model version
        changes, old against new, each with its review (see :meth:`reevaluation_payload`)."""
        return self._answer(
            lambda: self.reevaluation_payload(
                queue_id, old_version, new_version, all_items, changed_only
            )
        )

    def review_payload(self, queue_id: str, raw: bytes, curator: str | None) -> dict[str, Any]:
        """Record ``POST /queue/{id}/reviews`` (body :class:`ReviewRequest`) by the key's
        ``curator``; returns ``{"reviews": [...stored rows...], "acknowledged": true}`` once
        durable. Raises as :meth:`reevaluation_payload` does."""
        self.store.meta(queue_id)  # an unknown queue is a 404 whatever the body says
        body = _parse(ReviewRequest, raw)
        who = self._check_curator(body.curator, curator)
        rows = mark_reviewed(
            self.store,
            queue_id,
            body.variants,
            who,
            settings=self.settings,
            old_version=body.old_version,
            new_version=body.new_version,
        )
        return {"reviews": rows, "acknowledged": True}

    def review(self, queue_id: str, raw: bytes, curator: str | None) -> QueueAnswer:
        """``POST /queue/{id}/reviews``: mark items reviewed for a model change (keyed write)."""
        return self._answer(lambda: self.review_payload(queue_id, raw, curator))
