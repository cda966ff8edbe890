"""The curators' page at ``/ui``: the queue, each variant's evidence, decisions, uploads, exports.

Server-rendered HTML (jinja2, autoescaped; templates and static files in ``ui/``
beside this module) over the very objects the JSON API uses: a decision made here
goes through :meth:`QueueService.decide`, the code behind ``POST
/queue/{id}/decisions``, into the same :class:`QueueStore`, so the API, ``vipredict
queue export`` and this page read one record. Uploads are read by the readers
``vipredict queue build`` uses and stored by :func:`queue_from_inputs`; exports are
:func:`export_text`.

The door is :class:`~vipredict.service.security.SecurityMiddleware`: reads are open
or keyed as the API's are, every page ``POST`` but sign-in/out is a write (a key
required, refused outright when the service has none), and a browser's key rides in
an HttpOnly cookie set by the sign-in form, never in a URL. Nothing here loads from
the network: the charts are inline SVG drawn from numbers computed below, the script
and style sheet are this package's own files.

The functions that compute what a page shows take plain values and return plain
values (:func:`queue_rows`, :func:`variant_facts`, the ``*_chart`` geometry); the
FastAPI routes of :func:`ui_router` only read the request and render.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import UploadFile
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from vipredict.acmg import BA1_FAF, CLINGEN_PRIOR, EVIDENCE_CODES, NO_EVIDENCE, PM2_AF
from vipredict.config import ACMG_V3, SVCV4
from vipredict.deadline import DeadlineExceeded
from vipredict.features.frequency import DEFAULT_DATASETS, GROUP_ORDER, dataset_prefix
from vipredict.io.inputs import Inputs, read_inputs
from vipredict.model.calibration import CalibrationResult
from vipredict.model.explain import top_contributions
from vipredict.model.registry import LoadedModel, ProfileModel
from vipredict.model.scorer import row_evidence
from vipredict.queue.build import QueueSpec, queue_from_inputs
from vipredict.queue.export import FORMATS, ExportError, export_text
from vipredict.queue.ranking import (
    AF_BANDS,
    EVIDENCE_FILTERS,
    ORDERINGS,
    QueueFilters,
    QueueInputError,
)
from vipredict.queue.reevaluate import recorded_evidence_model, with_model_columns
from vipredict.queue.store import (
    DECISION_TABLE,
    DECISIONS,
    MAX_NOTE,
    QUEUES,
    QueueNotFoundError,
    QueueStore,
    check_queue_name,
)
from vipredict.service.predictor import upload_inputs
from vipredict.service.queue import QueueService
from vipredict.service.security import (
    CURATOR_SCOPE_KEY,
    KEY_COOKIE,
    KEYED_SCOPE_KEY,
    UI_LOGIN,
    UI_LOGOUT,
    UI_PREFIX,
    UI_STATIC_PREFIX,
    UI_UPLOAD,
    ServingError,
    decode_upload,
)
from vipredict.variants import VariantError

logger = logging.getLogger("vipredict.service.ui")
HERE = Path(__file__).with_name("ui")
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: Rows per page of the queue table, and the default.
PAGE_SIZES = (50, 100, 250, 500)
DEFAULT_PAGE_SIZE = 100
#: Sort choices of the queue table: label, item column, ascending by default.
SORTS: dict[str, tuple[str, str, bool]] = {
    "rank": ("rank", "rank", True),
    "posterior": ("posterior", "posterior", False),
    "distance": ("distance to next level", "next_level_distance", True),
    "points": ("points", "points", False),
    "mis_prd": ("MIS_PRD", "mis_prd", False),
    "gene": ("gene", "gene", True),
    "af": ("largest group AF", "max_af", False),
}
DECIDED_CHOICES = ("any", "yes", "no")
#: Formats the upload form offers (``auto``: sniffed as ``vipredict queue build`` does).
UPLOAD_FORMATS = {
    "auto": "detect",
    "vcf": "VCF (VEP CSQ read when declared)",
    "vep": "VEP tab output",
    "tsv": "TSV of variants",
}
BUILD_CHOICES = ("", "GRCh37", "GRCh38")
FREQUENCY_FLAGS = (("BA1", "BA1"), ("BS1", "BS1"), ("PM2_Supporting", "PM2"))
#: Charts: inner width/height in SVG units and the axis range of the frequency chart.
CHART_W, CHART_H = 600, 260
AF_LOG_MIN = -6.0
POSTERIOR_LOG_MIN = -3.0
CURVE_POINTS = 240

Queues = Callable[[], QueueService]


class PageError(Exception):
    """A page that cannot be shown: its status and a sentence for the curator."""

    def __init__(self, status: int, message: str, note: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.note = note


# --------------------------------------------------------------------------- templates


def fmt_number(value: Any, digits: int = 3) -> str:
    """A number as people read it ('' when missing), significant digits, no noise."""
    if value is None or value is pd.NA:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return ""
    if number != 0 and abs(number) < 1e-3:
        return f"{number:.{max(digits - 1, 1)}e}"
    return f"{number:.{digits}g}"


def fmt_points(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{int(value):+d}"


def variant_href(queue_id: str, key: str) -> str:
    return f"{UI_PREFIX}/queue/{queue_id}/variant/{urllib.parse.quote(str(key), safe=':')}"


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_number
    env.filters["pts"] = fmt_points
    env.globals.update(
        ui=UI_PREFIX,
        static=UI_STATIC_PREFIX,
        login_path=UI_LOGIN,
        logout_path=UI_LOGOUT,
        upload_path=UI_UPLOAD,
        variant_href=variant_href,
    )
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def error_html(status: int, message: str, note: str | None = None, **context: Any) -> str:
    """The page of a refusal: what happened, and a way on (a sign-in form for a 401)."""
    return render("error.html", status=status, message=message, note=note, **context)


def error_page(status: int, message: str) -> bytes:
    """:class:`SecurityMiddleware`'s HTML refusal on ``/ui`` paths (bad key, too large ...)."""
    return error_html(status, message, keyed=True).encode()


# --------------------------------------------------------------------------- queue list


def list_queues(store: QueueStore) -> list[dict[str, Any]]:
    """Every stored queue, newest first, with how many of its items have a decision."""
    decided = (
        sa.select(
            DECISION_TABLE.c.queue_id,
            sa.func.count(sa.distinct(DECISION_TABLE.c.variant)).label("decided"),
        )
        .group_by(DECISION_TABLE.c.queue_id)
        .subquery()
    )
    query = (
        sa.select(QUEUES, sa.func.coalesce(decided.c.decided, 0).label("decided"))
        .select_from(QUEUES.outerjoin(decided, decided.c.queue_id == QUEUES.c.id))
        .order_by(QUEUES.c.created_at.desc())
    )
    with store.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    out = []
    for row in rows:
        models = json.loads(row["models"])
        evidence = models.get("evidence", {})
        out.append(
            {
                **{k: row[k] for k in ("id", "name", "created_at", "ordering", "n_items")},
                "decided": int(row["decided"]),
                "model": f"{evidence.get('name', '?')} v{evidence.get('version', '?')}",
            }
        )
    return out


# --------------------------------------------------------------------------- queue table


def _one(params: Mapping[str, str], name: str, default: str = "") -> str:
    return str(params.get(name, default) or default).strip()


@dataclass(frozen=True)
class QueueView:
    """What the queue table shows: filters (the queue's own :class:`QueueFilters` plus
    decided or not), the sort, and the page."""

    filters: QueueFilters
    decided: str = "any"
    sort: str = "rank"
    descending: bool = False
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> QueueView:
        """The view a query string asks for; unknown values raise :class:`QueueInputError`."""
        genes = [g for g in _one(params, "gene").replace(",", " ").split() if g]
        evidence, group, band = (_one(params, k) for k in ("evidence", "group", "af_band"))
        filters = QueueFilters.create(
            genes, [evidence] if evidence else [], [group] if group else [], [band] if band else []
        )
        decided = _one(params, "decided", "any")
        sort = _one(params, "sort", "rank")
        if decided not in DECIDED_CHOICES:
            raise QueueInputError("invalid_decided", f"decided must be one of {DECIDED_CHOICES}")
        if sort not in SORTS:
            raise QueueInputError("invalid_sort", f"sort must be one of {', '.join(SORTS)}")
        direction = _one(params, "dir")
        if direction not in ("", "asc", "desc"):
            raise QueueInputError("invalid_sort", "dir must be asc or desc")
        descending = (direction == "desc") if direction else not SORTS[sort][2]
        try:
            page = max(1, int(_one(params, "page", "1")))
            size = int(_one(params, "size", str(DEFAULT_PAGE_SIZE)))
        except ValueError:
            raise QueueInputError("invalid_page", "page and size must be whole numbers") from None
        if size not in PAGE_SIZES:
            raise QueueInputError("invalid_page", f"size must be one of {PAGE_SIZES}")
        return cls(filters, decided, sort, descending, page, size)

    def query(self, **changes: Any) -> str:
        """The query string of this view with ``changes`` (``page=2``, ``sort=gene`` ...)."""
        values = {
            "gene": " ".join(self.filters.genes),
            "evidence": self.filters.evidence[0] if self.filters.evidence else "",
            "group": self.filters.groups[0] if self.filters.groups else "",
            "af_band": self.filters.af_bands[0] if self.filters.af_bands else "",
            "decided": self.decided,
            "sort": self.sort,
            "dir": "desc" if self.descending else "asc",
            "page": self.page,
            "size": self.size,
        }
        values.update(changes)
        kept = {k: v for k, v in values.items() if v not in ("", None, "any")}
        return urllib.parse.urlencode(kept)


def select_items(items: pd.DataFrame, view: QueueView) -> pd.DataFrame:
    """The items the view keeps, in its order (missing values last, ties by rank)."""
    kept = items[view.filters.keep(items)] if len(items) else items
    if view.decided != "any" and len(kept):
        has = kept["decision"].notna().to_numpy()
        kept = kept[has if view.decided == "yes" else ~has]
    column = SORTS[view.sort][1]
    if column == "rank" or not len(kept):
        return kept.sort_values("rank", ascending=not view.descending, kind="stable")
    key = kept[column]
    if column == "gene":
        key = key.astype("string").str.upper()
    else:
        key = pd.to_numeric(key, errors="coerce").astype("float64")
    order = pd.DataFrame({"key": key.to_numpy(), "rank": kept["rank"].to_numpy()})
    order = order.sort_values(
        ["key", "rank"], ascending=[not view.descending, True], na_position="last", kind="stable"
    )
    return kept.iloc[order.index.to_numpy()]


def flags_of(item: Mapping[str, Any]) -> list[dict[str, str]]:
    """BA1/BS1/PM2 of an item that are met or unknown (``not_met`` says nothing to look at)."""
    out = []
    for column, label in FREQUENCY_FLAGS:
        status = item.get(column)
        if status in ("met", "unknown"):
            out.append({"label": label, "status": str(status)})
    return out


def _present(value: Any) -> bool:
    return (
        value is not None
        and value is not pd.NA
        and not (isinstance(value, float) and math.isnan(value))
    )


def item_row(item: Mapping[str, Any]) -> dict[str, Any]:
    """One table row's values (plain Python, missing as None)."""
    clean = {k: (v if _present(v) else None) for k, v in item.items()}
    clean["flags"] = flags_of(item)
    return clean


def queue_rows(items: pd.DataFrame, view: QueueView) -> tuple[list[dict[str, Any]], int, int]:
    """The page of rows the view shows, how many items it keeps, and its number of pages."""
    kept = select_items(items, view)
    total = len(kept)
    pages = max(1, math.ceil(total / view.size))
    start = (min(view.page, pages) - 1) * view.size
    page = kept.iloc[start : start + view.size]
    return [item_row(r) for r in page.to_dict("records")], total, pages


def genes_of(items: pd.DataFrame) -> list[str]:
    return sorted({str(g) for g in items["gene"].dropna() if str(g)}) if len(items) else []


# --------------------------------------------------------------------------- variant facts


def _scale(value: float, low: float, high: float, size: float) -> float:
    return (min(max(value, low), high) - low) / (high - low) * size


def _log(value: float, floor: float) -> float:
    return math.log10(value) if value > 0 else floor


def calibration_chart(
    calibration: CalibrationResult, score: float | None, posterior: float | None
) -> dict[str, Any]:
    """Geometry of the score-to-posterior curve with its band, thresholds and the variant.

    x is the score over the calibration grid; y is the local posterior on a log scale
    (ClinGen's benign levels sit at posteriors of a few in a thousand).
    """
    grid = np.asarray(calibration.grid, dtype=float)
    if grid.size < 2:
        return {}
    low, high = float(np.nanmin(grid)), float(np.nanmax(grid))
    step = max(1, grid.size // CURVE_POINTS)
    idx = np.arange(0, grid.size, step)

    def x(v: float) -> float:
        return round(_scale(v, low, high, CHART_W), 1)

    def y(p: float) -> float:
        value = _log(float(p), POSTERIOR_LOG_MIN)
        return round(CHART_H - _scale(value, POSTERIOR_LOG_MIN, 0.0, CHART_H), 1)

    def path(values: np.ndarray) -> str:
        points = [
            f"{x(grid[i])},{y(values[i])}" for i in idx if np.isfinite(values[i]) and values[i] > 0
        ]
        return "M" + " L".join(points) if points else ""

    lower = path(np.asarray(calibration.posterior_lower, dtype=float))
    upper = np.asarray(calibration.posterior_upper, dtype=float)
    back = [
        f"{x(grid[i])},{y(upper[i])}" for i in idx[::-1] if np.isfinite(upper[i]) and upper[i] > 0
    ]
    band = f"{lower} L{' L'.join(back)} Z" if lower and back else ""
    thresholds = []
    for code in EVIDENCE_CODES:
        value = calibration.thresholds.get(code)
        if value is None or not math.isfinite(float(value)):
            continue
        family, level = code.split("_", 1)
        short = "VS" if level == "VeryStrong" else level[:3]
        thresholds.append(
            {"code": code, "label": f"{family} {short}", "score": float(value),
             "x": x(float(value)), "family": family.lower()}
        )  # fmt: skip
    thresholds.sort(key=lambda t: t["x"])
    for n, t in enumerate(thresholds):  # labels above the plot, neighbours on two rows
        t["label_y"] = -8 if n % 2 else -22
    ticks_y = [{"y": y(10.0**e), "label": f"{10.0**e:g}"} for e in range(int(POSTERIOR_LOG_MIN), 1)]
    ticks_x = [{"x": x(v), "label": f"{v:.2g}"} for v in np.linspace(low, high, 6)]
    marker = None
    if score is not None and posterior is not None and math.isfinite(score):
        at = x(score)
        left = at > CHART_W * 0.7  # the label goes where the plot has room
        marker = {
            "x": at,
            "y": y(posterior),
            "label_x": at - 10 if left else at + 10,
            "anchor": "end" if left else "start",
            "score": score,
            "posterior": posterior,
        }
    return {
        "width": CHART_W,
        "height": CHART_H,
        "curve": path(np.asarray(calibration.posterior, dtype=float)),
        "band": band,
        "thresholds": thresholds,
        "prior_y": y(calibration.prior or CLINGEN_PRIOR),
        "ticks_x": ticks_x,
        "ticks_y": ticks_y,
        "marker": marker,
        "reverse": bool(calibration.reverse),
    }


def contribution_chart(top: Sequence[Mapping[str, Any]], reverse: bool) -> dict[str, Any]:
    """Bars of each feature's TreeSHAP contribution (log-odds) around zero.

    ``reverse``: the calibration reads low scores as pathogenic, so a negative
    contribution is the one toward PP3.
    """
    if not top:
        return {}
    biggest = max(abs(float(t["contribution"])) for t in top) or 1.0
    half = CHART_W / 2
    bars = []
    for i, t in enumerate(top):
        c = float(t["contribution"])
        length = abs(c) / biggest * (half - 10)
        toward_pathogenic = (c > 0) != reverse
        bars.append(
            {
                "feature": str(t["feature"]),
                "value": t.get("value"),
                "contribution": c,
                "x": round(half if c >= 0 else half - length, 1),
                "y": 8 + i * 30,
                "width": round(max(length, 1.0), 1),
                "side": "pathogenic" if toward_pathogenic else "benign",
            }
        )
    return {"width": CHART_W, "height": 16 + len(bars) * 30, "mid": half, "bars": bars}


def frequency_rows(features: pd.DataFrame) -> list[dict[str, Any]]:
    """Per dataset and ancestry group: AF, FAF95, AC and AN where the row has them."""
    if not len(features):
        return []
    row = features.iloc[0]

    def value(column: str) -> float | None:
        v = row.get(column)
        try:
            number = float(v)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None

    out = []
    for dataset in DEFAULT_DATASETS:
        prefix = dataset_prefix(dataset)
        for group in GROUP_ORDER:
            stats = {k: value(f"{prefix}_{group}_{k}") for k in ("af", "faf95", "ac", "an")}
            if stats["af"] is None and stats["faf95"] is None:
                continue
            out.append({"dataset": prefix, "group": group, **stats})
    return out


def frequency_chart(rows: Sequence[Mapping[str, Any]], bs1_faf: float) -> dict[str, Any]:
    """Bars of each group's AF (log scale) with FAF95 ticks and the PM2/BS1/BA1 lines."""
    if not rows:
        return {}

    def x(v: float | None) -> float:
        return round(_scale(_log(v or 0.0, AF_LOG_MIN), AF_LOG_MIN, 0.0, CHART_W), 1)

    bars = []
    for i, r in enumerate(rows):
        bars.append(
            {
                **r,
                "label": f"{r['dataset']} {r['group']}",
                "y": 6 + i * 22,
                "width": x(r["af"]) if r["af"] else 0.0,
                "faf_x": x(r["faf95"]) if r["faf95"] else None,
            }
        )
    lines = [
        {"label": "PM2 AF < 0.0001", "x": x(PM2_AF), "kind": "pm2"},
        {"label": f"BS1 FAF95 > {bs1_faf:g}", "x": x(bs1_faf), "kind": "bs1"},
        {"label": "BA1 FAF95 > 0.05", "x": x(BA1_FAF), "kind": "ba1"},
    ]
    ticks = [{"x": x(10.0**e), "label": f"{10.0**e:g}"} for e in range(int(AF_LOG_MIN), 1)]
    return {"width": CHART_W, "height": 12 + len(bars) * 22, "bars": bars, "lines": lines,
            "ticks": ticks}  # fmt: skip


def _item_model(queues: QueueService, meta: Mapping[str, Any]) -> tuple[LoadedModel, str]:
    """The evidence model version that scored the queue's items, and a note when another is used.

    A queue records the version it was built with; its curve, thresholds and contributions
    are what the curator's evidence came from, so the page draws that version's, not the
    current champion's. A version that can no longer be loaded falls back to the champion,
    and the page says so.
    """
    champion = queues.prediction.scorer.evidence_model
    recorded = recorded_evidence_model(meta)
    version = str(recorded.get("version") or "")
    if not version or version == champion.version or recorded.get("name") != champion.name:
        return champion, ""
    try:
        return queues.model_versions().evidence(version), ""
    except QueueInputError as error:
        return champion, (
            f"{champion.name} v{version}, which scored this queue, cannot be loaded "
            f"({error.message}); shown: the current champion v{champion.version}"
        )


def _profile_of(model: LoadedModel, profile: str | None) -> ProfileModel | None:
    """The model's profile of that name (None: not one of its profiles)."""
    return next((p for p in model.profiles if p.name == profile), None)


def _calibration_of(model: LoadedModel, profile: str | None) -> CalibrationResult:
    found = _profile_of(model, profile)
    return found.calibration if found else model.calibration


def _item_features(queues: QueueService, queue_id: str, key: str) -> tuple[pd.DataFrame, str]:
    """The feature row the item was scored from (kept with the queue), else the store's."""
    kept = queues.store.features(queue_id, [key])
    if len(kept):
        return kept, "kept with the queue when it was made"
    found = queues.prediction.store.lookup([key])
    return found, "the feature store's row today (this queue kept none)"


def explanation(model: LoadedModel, features: pd.DataFrame, item: Mapping[str, Any]) -> dict:
    """``model``'s top contributions for the item's feature row, and whether it still
    scores that row as the queue did (it will not when the row came from today's store)."""
    if not len(features) or not _present(item.get("score")):
        return {"top": [], "why": "the evidence model did not judge this item"}
    frame = with_model_columns(features.head(1).reset_index(drop=True), [model])
    now = row_evidence(model, frame).score[0]
    top = top_contributions(model, frame)[0] if _present(now) else []
    same = _present(now) and abs(float(now) - float(item["score"])) < 1e-9
    why = (
        ""
        if same
        else (
            f"{model.name} v{model.version} scores this row {fmt_number(now)}; the queue "
            f"holds {fmt_number(item['score'])} from v{item.get('model_version')}"
        )
    )
    return {"top": top, "why": why}


def _missing_features(model: LoadedModel, features: pd.DataFrame, profile: str | None) -> list:
    found = _profile_of(model, profile)
    names = (found.feature_names if found else None) or model.feature_names
    if not len(features):
        return list(names)
    row = features.iloc[0]
    return [n for n in names if not _present(row.get(n))]


def variant_facts(queues: QueueService, queue_id: str, key: str) -> dict[str, Any]:
    """Everything the variant page shows of one queue item."""
    found = queues.store.item(queue_id, key)  # unknown: QueueNotFoundError("unknown_variant")
    item = found.item
    features, origin = _item_features(queues, queue_id, key)
    profile = item.get("profile") if _present(item.get("profile")) else None
    model, model_note = _item_model(queues, found.meta)
    calibration = _calibration_of(model, profile)
    score = float(item["score"]) if _present(item.get("score")) else None
    posterior = float(item["posterior"]) if _present(item.get("posterior")) else None
    explained = explanation(model, features, item)
    history = queues.store.history(queue_id, variant=key).iloc[::-1]
    freq = frequency_rows(features)
    warnings = str(item.get("annotation_warnings") or "")
    return {
        "meta": found.meta,
        "item": item_row(item),
        "features_origin": origin,
        "calibration": calibration_chart(calibration, score, posterior),
        "calibration_profile": profile or "(model default)",
        "calibration_model": f"{model.name} v{model.version}",
        "calibration_note": model_note,
        "contributions": contribution_chart(explained["top"], calibration.reverse),
        "contributions_note": explained["why"],
        "frequencies": freq,
        "frequency_chart": frequency_chart(freq, queues.prediction.scorer.bs1_faf),
        "warnings": [w for w in warnings.split("; ") if w],
        "missing": _missing_features(model, features, profile) if score is not None else [],
        "history": history.to_dict("records"),
        "previous": found.previous,
        "next": found.next,
    }


# --------------------------------------------------------------------------- writes


def decide(queues: QueueService, queue_id: str, form: Mapping[str, Any], curator: str | None):
    """Record the form's decision through :meth:`QueueService.decide` (the API's code)."""
    body = {
        "variant": str(form.get("variant", "")),
        "decision": str(form.get("decision", "")),
        "note": str(form.get("note", "")),
    }
    return queues.decide(queue_id, json.dumps(body).encode(), curator)


def _read_upload(text: str, fmt: str, build: str | None, limit: int, suffix: str) -> Inputs:
    """The upload's records (and annotations), read as ``vipredict queue build`` reads files."""
    if fmt == "vcf" or (fmt == "auto" and text.startswith("##fileformat=VCF")):
        return upload_inputs(text, build, limit)
    with tempfile.TemporaryDirectory(prefix="vipredict-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_text(text, encoding="utf-8")
        return read_inputs(path, None if fmt == "auto" else fmt, build)


def create_from_upload(
    queues: QueueService,
    data: bytes,
    filename: str,
    *,
    fmt: str = "auto",
    build: str = "",
    name: str = "",
    by: str = "settle",
) -> str:
    """Score, rank and store an uploaded file as a new queue; its id.

    Every refusal is a :class:`PageError` (nothing is stored then): a format or build
    not offered, an empty, binary or unreadable file, too many variants.
    """
    if fmt not in UPLOAD_FORMATS:
        raise PageError(422, f"format must be one of {', '.join(UPLOAD_FORMATS)}")
    if build not in BUILD_CHOICES:
        raise PageError(422, "build must be GRCh37 or GRCh38 (or left to the file)")
    if by not in ORDERINGS:
        raise PageError(422, f"order must be one of {', '.join(ORDERINGS)}")
    check_queue_name(name)
    prediction = queues.prediction
    text = decode_upload(data, prediction.limits.max_bytes)
    suffix = "".join(Path(filename).suffixes[-2:]).removesuffix(".gz") or ".txt"
    try:
        with prediction.variant_limit() as limit:
            inputs = _read_upload(text, fmt, build or None, limit, suffix)
    except VariantError as error:
        raise PageError(422, f"{filename}: {error.detail}") from error
    except (ValueError, KeyError, pd.errors.ParserError, UnicodeError) as error:
        raise PageError(
            422, f"{filename} could not be read as {UPLOAD_FORMATS[fmt]}: {error}"
        ) from error
    if not inputs.records:
        raise PageError(422, f"{filename} holds no variants")
    prediction.check_count(len(inputs.records))
    spec = QueueSpec(by=by, name=name or filename)
    queue_id, _ = queue_from_inputs(
        prediction.scorer, queues.store, inputs, spec, queues.genes, f"upload {filename}"
    )
    return queue_id


def export(queues: QueueService, queue_id: str, fmt: str) -> tuple[str, str]:
    """(text, file name) of the queue in ``fmt``, with the deployment's guideline fields."""
    if fmt not in FORMATS:
        raise PageError(404, f"exports are {', '.join(FORMATS)}, not {fmt!r}")
    record = queues.store.load(queue_id)
    text = export_text(record, fmt, queues.prediction.scorer.guidelines)
    return text, f"queue-{queue_id[:8]}.{fmt}"


def reevaluation(queues: QueueService, queue_id: str, params: Mapping[str, str]) -> dict:
    """The re-evaluation the page shows: :meth:`QueueService.reevaluation_payload`, the code
    behind ``GET /queue/{id}/reevaluation`` and ``vipredict queue reevaluate``."""
    options = {
        k: str(params[k]).strip()
        for k in ("old_version", "new_version", "all_items", "changed_only")
        if str(params.get(k, "")).strip()
    }
    return queues.reevaluation_payload(queue_id, **options)


def mark_reviewed(
    queues: QueueService, queue_id: str, form: Mapping[str, Any], curator: str | None
) -> Any:
    """Record the checked items as reviewed through :meth:`QueueService.review` (the API's)."""
    body = {
        "variants": list(form.get("variants", [])),
        "old_version": str(form.get("old_version", "")) or None,
        "new_version": str(form.get("new_version", "")) or None,
    }
    return queues.review(queue_id, json.dumps(body).encode(), curator)


# --------------------------------------------------------------------------- routes


def _page(status: int, html: str) -> HTMLResponse:
    return HTMLResponse(html, status_code=status)


def _refused(error: Exception) -> tuple[int, str, str | None]:
    """Status and sentence of a refusal raised while building a page."""
    if isinstance(error, PageError):
        return error.status, error.message, error.note
    if isinstance(error, QueueNotFoundError):
        return 404, error.message, None
    if isinstance(error, (QueueInputError,)):
        return 422, error.message, None
    if isinstance(error, ServingError):
        return error.status, error.message, None
    if isinstance(error, ExportError):
        return 422, str(error), None
    if isinstance(error, DeadlineExceeded):
        return error.status, error.message, None
    logger.exception("curators' page failed", exc_info=error)
    return 500, "the page failed on the server (see the service log); nothing was written", None


def _context(request: Request) -> dict[str, Any]:
    return {
        "curator": request.scope.get(CURATOR_SCOPE_KEY),
        "keyed": bool(request.scope.get(KEYED_SCOPE_KEY)),
        "path": request.url.path,
    }


def _guarded(request: Request, build: Callable[[], Response], note: str | None = None) -> Response:
    try:
        return build()
    except Exception as error:  # every refusal becomes a page, never a trace
        status, message, kept = _refused(error)
        return _page(status, error_html(status, message, kept or note, **_context(request)))


#: Page paths that only take a form: never a place to return to after signing in.
_FORM_ENDS = ("/decisions", "/reviews", UI_UPLOAD, UI_LOGIN, UI_LOGOUT)


def _safe_next(target: str) -> str:
    """Only a page of this site that can be read may follow the sign-in (no open redirect)."""
    parsed = urllib.parse.urlsplit(target)
    ok = not parsed.scheme and not parsed.netloc and parsed.path.startswith(UI_PREFIX)
    ok = ok and not target.startswith("//") and not parsed.path.endswith(_FORM_ENDS)
    return target if ok else UI_PREFIX


def ui_router(queues: Queues) -> APIRouter:
    """The page's routes; ``queues`` gives the running service's :class:`QueueService`."""
    # Pages, not API: kept out of the OpenAPI document (`/docs.json`).
    router = APIRouter(include_in_schema=False)

    @router.get(UI_PREFIX)
    def queue_list(request: Request) -> Response:
        def build() -> Response:
            service = queues()
            limits = service.prediction.limits
            return _page(
                200,
                render(
                    "queues.html",
                    queues=list_queues(service.store),
                    formats=UPLOAD_FORMATS,
                    builds=BUILD_CHOICES,
                    orderings=ORDERINGS,
                    max_bytes=limits.max_bytes,
                    max_variants=limits.max_variants,
                    **_context(request),
                ),
            )

        return _guarded(request, build)

    @router.get(UI_PREFIX + "/queue/{queue_id}")
    def queue_table(request: Request, queue_id: str) -> Response:
        def build() -> Response:
            service = queues()
            meta = service.store.meta(queue_id)
            view = QueueView.parse(request.query_params)
            items = service.store.load(queue_id).items
            rows, total, pages = queue_rows(items, view)
            guidelines = service.prediction.scorer.guidelines
            return _page(
                200,
                render(
                    "queue.html",
                    meta=meta,
                    rows=rows,
                    total=total,
                    pages=pages,
                    view=view,
                    genes=genes_of(items),
                    evidence_choices=EVIDENCE_FILTERS,
                    groups=GROUP_ORDER[:8],
                    af_bands=AF_BANDS,
                    decided_choices=DECIDED_CHOICES,
                    sorts=SORTS,
                    sizes=PAGE_SIZES,
                    formats=FORMATS,
                    show_v3=ACMG_V3 in guidelines,
                    show_svcv4=SVCV4 in guidelines,
                    none=NO_EVIDENCE,
                    **_context(request),
                ),
            )

        return _guarded(request, build)

    @router.get(UI_PREFIX + "/queue/{queue_id}/variant/{key:path}")
    def variant_page(request: Request, queue_id: str, key: str) -> Response:
        return _guarded(request, lambda: _variant(request, queue_id, key, 200))

    def _variant(request: Request, queue_id: str, key: str, status: int, **extra: Any) -> Response:
        service = queues()
        facts = variant_facts(service, queue_id, key)
        guidelines = service.prediction.scorer.guidelines
        return _page(
            status,
            render(
                "variant.html",
                queue_id=queue_id,
                key=key,
                decisions=DECISIONS,
                max_note=MAX_NOTE,
                saved=request.query_params.get("saved") == "1",
                show_v3=ACMG_V3 in guidelines,
                show_svcv4=SVCV4 in guidelines,
                **facts,
                **extra,
                **_context(request),
            ),
        )

    @router.post(UI_PREFIX + "/queue/{queue_id}/decisions")
    async def record_decision(request: Request, queue_id: str) -> Response:
        form = await request.form()
        fields = {k: str(form.get(k, "")) for k in ("variant", "decision", "note")}
        curator = request.scope.get(CURATOR_SCOPE_KEY)
        service = queues()
        answer = await _in_thread(decide, service, queue_id, fields, curator)
        if answer.status == 200:
            href = variant_href(queue_id, fields["variant"])
            return RedirectResponse(f"{href}?saved=1#decision", status_code=303)
        message = json.loads(answer.body).get("error", "the decision was refused")

        def again() -> Response:
            return _variant(
                request, queue_id, fields["variant"], answer.status, refusal=message,
                draft=fields,
            )  # fmt: skip

        if answer.status == 404:  # no item to show again: say so, and keep the note
            return _page(404, error_html(404, message, fields["note"], **_context(request)))
        return _guarded(request, again, fields["note"])

    @router.get(UI_PREFIX + "/queue/{queue_id}/reevaluation")
    def reevaluation_page(request: Request, queue_id: str) -> Response:
        def build() -> Response:
            service = queues()
            meta = service.store.meta(queue_id)
            params = dict(request.query_params)
            guidelines = service.prediction.scorer.guidelines
            return _page(
                200,
                render(
                    "reevaluation.html",
                    meta=meta,
                    result=reevaluation(service, queue_id, params),
                    params=params,
                    saved=params.get("saved") == "1",
                    show_v3=ACMG_V3 in guidelines,
                    show_svcv4=SVCV4 in guidelines,
                    **_context(request),
                ),
            )

        return _guarded(request, build)

    @router.post(UI_PREFIX + "/queue/{queue_id}/reviews")
    async def record_reviews(request: Request, queue_id: str) -> Response:
        form = await request.form()
        fields = {
            "variants": [str(v) for v in form.getlist("variants")],
            "old_version": str(form.get("old_version", "")),
            "new_version": str(form.get("new_version", "")),
        }
        curator = request.scope.get(CURATOR_SCOPE_KEY)
        answer = await _in_thread(mark_reviewed, queues(), queue_id, fields, curator)
        if answer.status != 200:
            message = json.loads(answer.body).get("error", "the review was refused")
            return _page(answer.status, error_html(answer.status, message, **_context(request)))
        versions = {k: fields[k] for k in ("old_version", "new_version") if fields[k]}
        query = urllib.parse.urlencode({**versions, "saved": "1"})
        return RedirectResponse(f"{UI_PREFIX}/queue/{queue_id}/reevaluation?{query}", 303)

    @router.post(UI_UPLOAD)
    async def upload(request: Request) -> Response:
        try:
            form = await request.form()
        except Exception as error:  # starlette raises several types for a broken body
            return _page(400, error_html(400, f"unreadable form: {error}", **_context(request)))
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return _page(400, error_html(400, "choose a file to upload", **_context(request)))
        data = await file.read()
        await form.close()
        options = {k: str(form.get(k, "")).strip() for k in ("format", "build", "name", "by")}
        service = queues()
        try:
            queue_id = await _in_thread(
                create_from_upload,
                service,
                data,
                file.filename,
                fmt=options["format"] or "auto",
                build=options["build"],
                name=options["name"],
                by=options["by"] or "settle",
            )
        except Exception as error:  # every refusal becomes a page; nothing was stored
            status, message, _ = _refused(error)
            return _page(status, error_html(status, message, **_context(request)))
        return RedirectResponse(f"{UI_PREFIX}/queue/{queue_id}", status_code=303)

    @router.get(UI_PREFIX + "/queue/{queue_id}/export.{fmt}")
    def export_file(request: Request, queue_id: str, fmt: str) -> Response:
        def build() -> Response:
            text, filename = export(queues(), queue_id, fmt)
            media = {"csv": "text/csv", "tsv": "text/tab-separated-values"}.get(fmt, "text/plain")
            return Response(
                text,
                media_type=f"{media}; charset=utf-8",
                headers={"content-disposition": f'attachment; filename="{filename}"'},
            )

        return _guarded(request, build)

    @router.get(UI_LOGIN)
    def login_form(request: Request, next: str = UI_PREFIX) -> Response:
        html = render("login.html", next=_safe_next(next), **_context(request))
        return _page(200, html)

    @router.post(UI_LOGIN)
    async def login(request: Request) -> Response:
        """The middleware has checked the key (a 401 page if wrong): keep it in the cookie."""
        form = await request.form()
        response = RedirectResponse(_safe_next(str(form.get("next", UI_PREFIX))), status_code=303)
        response.set_cookie(
            KEY_COOKIE,
            str(form.get("api_key", "")).strip(),
            path=UI_PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post(UI_LOGOUT)
    def logout() -> Response:
        response = RedirectResponse(UI_PREFIX, status_code=303)
        response.delete_cookie(KEY_COOKIE, path=UI_PREFIX, httponly=True, samesite="strict")
        return response

    @router.api_route(UI_PREFIX + "/{rest:path}", methods=["GET", "POST"])
    def not_a_page(request: Request, rest: str) -> Response:
        """Any other address under the page: a 404 page, not the framework's JSON."""
        message = f"there is no page at {request.url.path[:200]}"
        return _page(404, error_html(404, message, **_context(request)))

    return router


async def _in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args, **kwargs)


def mount_ui(app: FastAPI, queues: Queues) -> None:
    """Add the page's routes and its static files (``/ui/static``) to ``app``."""
    # The files first: the router's last route takes every other address under /ui.
    app.mount(UI_STATIC_PREFIX.rstrip("/"), StaticFiles(directory=str(STATIC)), name="ui-static")
    app.include_router(ui_router(queues))
