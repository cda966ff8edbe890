"""The BentoML service: its routes over :class:`~vipredict.service.predictor.PredictionService`.

Endpoints: ``POST /predict``, ``POST /predict/vcf``, ``GET /model``, ``GET /audit``
(latest ancestry audit report), and the curation queue (``POST /queue``, ``GET
/queue/{id}``, ``POST /queue/{id}/decisions``; writes need an API key). BentoML
keeps ``/healthz``, ``/livez``, ``/readyz``, ``/metrics`` and the OpenAPI
document at ``/docs.json``.

Importing this module only declares the service. Its work happens when BentoML
starts it: the deployment hook (once, before any worker) refuses to start when
the store or the evidence champion is missing, with the reason and exit status 3;
each worker then loads the champions and the store, patches BentoML's timeout
middleware, and reads its keys and limits from the settings.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bentoml
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from vipredict.audit.result import latest_report
from vipredict.config import configure_runtime_env
from vipredict.model.registry import ModelNotReadyError
from vipredict.service.bentoml_fixes import cancel_timeout_timers
from vipredict.service.predictor import PredictionService, preflight
from vipredict.service.queue import QueueService
from vipredict.service.schemas import VariantIn, VariantOut
from vipredict.service.security import SecurityMiddleware, ServingError

logger = logging.getLogger("vipredict.service")
#: ``bentoml serve`` target of this service, from any working directory.
SERVICE_REF = "vipredict.service.bento:VariantPredictor"
REQUEST_TIMEOUT_S = 300
EXIT_NOT_READY = 3
model_app = FastAPI(title="vipredict model card", docs_url=None, redoc_url=None, openapi_url=None)


def _answer(ctx: bentoml.Context, produce: Callable[[], tuple[Any, str]]) -> Response:
    """Run ``produce`` -> (body, media type); a ServingError becomes its 4xx JSON answer.

    BentoML copies ``ctx.response.status_code`` onto the returned response, so
    the status is set there as well as on the response itself.
    """
    try:
        body, media_type = produce()
        status = 200
    except ServingError as error:
        body, media_type, status = error.body(), "application/json", error.status
    ctx.response.status_code = status
    return Response(content=body, media_type=media_type, status_code=status)


@model_app.get("/audit")
def audit_report() -> Response:
    """The latest ancestry audit report (HTML); 404 until ``vipredict audit`` has run."""
    report = latest_report()
    if report is None:
        error = ServingError(404, "no audit report yet: run `vipredict audit` on this home")
        return Response(error.body(), status_code=error.status, media_type="application/json")
    return HTMLResponse(report.read_text(encoding="utf-8"))


@bentoml.service(name="vipredict", workers=1, traffic={"timeout": REQUEST_TIMEOUT_S})
@bentoml.asgi_app(model_app, path="/")
class VariantPredictor:
    """Loads the champions and the feature store once per worker, then scores from memory."""

    @bentoml.on_deployment
    def check_ready() -> None:
        """Once, before any worker starts: refuse to start without a store or a champion."""
        configure_runtime_env()
        try:
            preflight()
        except ModelNotReadyError as error:
            message = f"vipredict service refuses to start: {error}"
            logger.critical(message)
            print(message, file=sys.stderr, flush=True)
            sys.exit(EXIT_NOT_READY)

    def __init__(self) -> None:
        configure_runtime_env()
        cancel_timeout_timers()  # BentoML 1.4 keeps every request's context for `timeout` s
        try:
            self.service = PredictionService.load()
            self.queues = QueueService.load(self.service)
        except ModelNotReadyError as error:
            logger.critical("vipredict service refuses to start: %s", error)
            raise
        threading.Thread(
            target=self.service.warm_explanations, name="vipredict-explain", daemon=True
        ).start()

    @model_app.get("/model")
    def model(self) -> JSONResponse:
        """Model card: versions, training data digest, calibration, validation metrics, rules."""
        return JSONResponse({**self.service.model_card(), "cache": self.service.cache_status()})

    @model_app.post("/queue")
    async def create_queue(self, request: Request) -> Response:
        """Rank variants (``variants`` or ``vcf`` text) into a stored curation queue."""
        body = await request.body()
        return (await run_in_threadpool(self.queues.create, body)).response()

    @model_app.get("/queue/{queue_id}")
    def show_queue(self, queue_id: str, offset: str = "0", limit: str = "1000") -> Response:
        """A page of the queue in rank order, with each item's current decision."""
        return self.queues.show(queue_id, offset, limit).response()

    @model_app.post("/queue/{queue_id}/decisions")
    async def decide(self, queue_id: str, request: Request) -> Response:
        """Record accept/reject/defer + curator + note; 200 once durably stored."""
        body = await request.body()
        return (await run_in_threadpool(self.queues.decide, queue_id, body)).response()

    @bentoml.api(route="/predict")
    def predict(self, variants: list[VariantIn], ctx: bentoml.Context) -> list[VariantOut]:
        """Score variants (keys or parts), each looked up in the store or, sent with its own
        ``annotations``/``frequencies``, scored from those; each bad variant (a bad key, a
        value of the wrong type or out of range) gets its named error."""
        return _answer(ctx, lambda: (self.service.predict_json(variants), "application/json"))

    @bentoml.api(route="/predict/vcf")
    def predict_vcf(
        self, file: Path, ctx: bentoml.Context, format: str = "vcf", build: str = ""
    ) -> str:
        """Upload a VCF (plain or gzip); ``?format=vcf|tsv|json`` (query wins over the form).

        A VEP VCF (``CSQ`` declared in the header) is scored from its annotations.
        ``build`` (GRCh37/GRCh38): when given, the header must agree, or every record
        is ``build_conflict``; when not, the header's build, else GRCh37.
        """
        query = ctx.request.query_params
        fmt = query.get("format", format)
        chosen = query.get("build", build) or None
        return _answer(ctx, lambda: self.service.predict_upload(file.read_bytes(), fmt, chosen))


VariantPredictor.add_asgi_middleware(SecurityMiddleware)
