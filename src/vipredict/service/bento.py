"""The BentoML service: its routes over :class:`~vipredict.service.predictor.PredictionService`.

Endpoints: ``POST /predict``, ``POST /predict/vcf``, ``GET /model``, ``GET /audit``
(latest ancestry audit report), and the curation queue (``POST /queue``, ``GET
/queue/{id}``, ``POST /queue/{id}/decisions``, ``GET /queue/{id}/reevaluation``,
``POST /queue/{id}/reviews``; writes need an API key, and the key names the curator).
BentoML keeps ``/healthz``, ``/livez``, ``/readyz``, ``/metrics`` and the OpenAPI
document at ``/docs.json``; with keys set, all but the three health probes need one.

Importing this module only declares the service. Its work happens when BentoML
starts it: the deployment hook (once, before any worker) refuses to start when
the store or the evidence champion is missing (exit status 3), or when ``bentoml
serve`` would listen beyond loopback without API keys (exit status 4); each worker
then checks the addresses it really listens on by the same rule, loads the
champions and the store, patches BentoML's middlewares (:mod:`.bentoml_fixes`),
and reads its keys and limits from the settings.
"""

from __future__ import annotations

import logging
import os
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
from vipredict.deadline import DeadlineExceeded
from vipredict.model.registry import ModelNotReadyError
from vipredict.service.bentoml_fixes import apply_fixes, tracing_config
from vipredict.service.predictor import PredictionService, preflight, service_workers
from vipredict.service.queue import QueueService
from vipredict.service.schemas import VariantIn, VariantOut
from vipredict.service.security import (
    REQUEST_TIMEOUT_S,
    SecurityMiddleware,
    ServingError,
    curator_of,
    exposure_refusal,
    listening_hosts,
)
from vipredict.service.ui import error_page, mount_ui

logger = logging.getLogger("vipredict.service")
#: ``bentoml serve`` target of this service, from any working directory.
SERVICE_REF = "vipredict.service.bento:VariantPredictor"
EXIT_NOT_READY = 3
#: The worker's thread that precomputes explanations after start-up.
EXPLAIN_THREAD = "vipredict-explain"
#: Exit status when the service would listen beyond loopback without API keys.
EXIT_EXPOSED = 4
#: Requests in progress at once per worker (BentoML's ``max_concurrency``); one more is a 503.
#: The serving benchmark runs 32 concurrent clients; large bodies have their own, smaller
#: bound (``security.MAX_LARGE_BODIES``).
MAX_CONCURRENCY = 32
#: Query parameters of ``GET /queue/{id}/reevaluation`` (others are ignored, as elsewhere).
REEVALUATION_QUERY = frozenset(("old_version", "new_version", "all_items", "changed_only"))
#: Answers of ``POST /predict``: ``VariantOut`` JSON, or GA4GH VA-Spec statements.
PREDICT_FORMATS = ("json", "va")
model_app = FastAPI(title="vipredict model card", docs_url=None, redoc_url=None, openapi_url=None)
# The curators' page (/ui) over the running worker's QueueService: the API's own objects.
mount_ui(model_app, lambda: bentoml.get_current_service().queues)


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
    except DeadlineExceeded as error:
        body, media_type = ServingError(error.status, error.message).body(), "application/json"
        status = error.status
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


def serve_bind_host(argv: list[str] | None = None, env: dict[str, str] | None = None) -> str | None:
    """The host ``bentoml serve`` was asked to bind, or None outside that command.

    ``--host``, else ``BENTOML_HOST`` (its environment variable), else BentoML's
    configured ``http.host``, which is 0.0.0.0 unless a config file says otherwise.
    """
    argv = sys.argv if argv is None else argv
    env = dict(os.environ) if env is None else env
    program = Path(argv[0]) if argv else Path()
    if "bentoml" not in (program.name, program.parent.name) or argv[1:2] not in (
        ["serve"],
        ["serve-http"],
    ):
        return None
    for i, arg in enumerate(argv):
        if arg == "--host" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--host="):
            return arg.split("=", 1)[1]
    if env.get("BENTOML_HOST"):
        return env["BENTOML_HOST"]
    from bentoml._internal.configuration.containers import BentoMLContainer

    return str(BentoMLContainer.http.host.get())


def _refuse(message: str, status: int) -> None:
    message = f"vipredict service refuses to start: {message}"
    logger.critical(message)
    print(message, file=sys.stderr, flush=True)
    sys.exit(status)


#: Worker processes, chosen when BentoML imports the service (before any worker starts):
#: ``VIPREDICT_WORKERS``, else one for a preloaded store and one per core for a large one.
WORKERS = service_workers()


@bentoml.service(
    name="vipredict",
    workers=WORKERS,
    # BentoML divides max_concurrency among the workers: give it the per-worker bound times
    # the workers, or two workers would refuse past 16 requests each.
    traffic={"timeout": REQUEST_TIMEOUT_S, "max_concurrency": MAX_CONCURRENCY * WORKERS},
    tracing=tracing_config(),  # no spans made for nobody (sample rate unset)
)
@bentoml.asgi_app(model_app, path="/")
class VariantPredictor:
    """Loads the champions and the feature store once per worker, then scores from memory
    (a store past ``VIPREDICT_PRELOAD_ROWS``: on demand, with a bounded cache)."""

    @bentoml.on_deployment
    def check_ready() -> None:
        """Once, before any worker starts: refuse to start without a store or a champion, or
        on a non-loopback host without API keys."""
        settings = configure_runtime_env()
        host = serve_bind_host()
        refusal = exposure_refusal([host], settings) if host else None
        if refusal:
            _refuse(refusal, EXIT_EXPOSED)
        try:
            preflight()
        except ModelNotReadyError as error:
            _refuse(str(error), EXIT_NOT_READY)

    def __init__(self) -> None:
        settings = configure_runtime_env()
        # The worker's own sockets are the truth, however the server was started.
        refusal = exposure_refusal(listening_hosts(), settings)
        if refusal:
            logger.critical("vipredict service refuses to start: %s", refusal)
            raise RuntimeError(refusal)
        apply_fixes()  # BentoML 1.4: timer leak, raw-path metrics, 429 for overload
        try:
            self.service = PredictionService.load()
            self.queues = QueueService.load(self.service)
        except ModelNotReadyError as error:
            logger.critical("vipredict service refuses to start: %s", error)
            raise
        threading.Thread(
            target=self.service.warm_explanations, name=EXPLAIN_THREAD, daemon=True
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
        """Record accept/reject/defer + note by the key's curator; 200 once durably stored."""
        body = await request.body()
        curator = curator_of(request.scope)
        answer = await run_in_threadpool(self.queues.decide, queue_id, body, curator)
        return answer.response()

    @model_app.get("/queue/{queue_id}/reevaluation")
    async def reevaluation(self, queue_id: str, request: Request) -> Response:
        """Decided items whose evidence another model version changes (``old_version``,
        ``new_version``: default the queue's and the champion; ``all_items``, ``changed_only``)."""
        query = {k: v for k, v in request.query_params.items() if k in REEVALUATION_QUERY}
        return (await run_in_threadpool(self.queues.reevaluation, queue_id, **query)).response()

    @model_app.post("/queue/{queue_id}/reviews")
    async def review(self, queue_id: str, request: Request) -> Response:
        """Mark items reviewed for a model change, by the key's curator; 200 once durable."""
        body = await request.body()
        curator = curator_of(request.scope)
        answer = await run_in_threadpool(self.queues.review, queue_id, body, curator)
        return answer.response()

    @bentoml.api(route="/predict")
    def predict(self, variants: list[VariantIn], ctx: bentoml.Context) -> list[VariantOut]:
        """Score variants (keys or parts), each looked up in the store or, sent with its own
        ``annotations``/``frequencies``, scored from those; each bad variant (a bad key, a
        value of the wrong type or out of range) gets its named error. ``?format=va``:
        GA4GH VA-Spec statements with VRS Alleles instead of the ``VariantOut`` answers."""
        fmt = ctx.request.query_params.get("format", "json")

        def produce() -> tuple[bytes, str]:
            if fmt not in PREDICT_FORMATS:
                raise ServingError(400, f"format must be json or va, not {fmt!r}")
            render = self.service.predict_va if fmt == "va" else self.service.predict_json
            return render(variants), "application/json"

        return _answer(ctx, produce)

    @bentoml.api(route="/predict/vcf")
    def predict_vcf(
        self, file: Path, ctx: bentoml.Context, format: str = "vcf", build: str = ""
    ) -> str:
        """Upload a VCF (plain or gzip); ``?format=vcf|tsv|json|va`` (query wins over the form;
        ``va``: GA4GH VA-Spec statements).

        A VEP VCF (``CSQ`` declared in the header) is scored from its annotations.
        ``build`` (GRCh37/GRCh38): when given, the header must agree, or every record
        is ``build_conflict``; when not, the header's build, else GRCh37.
        """
        query = ctx.request.query_params
        fmt = query.get("format", format)
        chosen = query.get("build", build) or None
        return _answer(ctx, lambda: self.service.predict_upload(file.read_bytes(), fmt, chosen))


VariantPredictor.add_asgi_middleware(SecurityMiddleware, html_error=error_page)
