"""The prediction service's logic, kept free of BentoML so it can be tested and reused directly.

:mod:`vipredict.service.bento` is a thin BentoML shell around :class:`PredictionService`.
Everything a response says comes from :class:`~vipredict.model.scorer.Scorer`:

* PP3/BP4 evidence comes only from the evidence model; the priority model's
  score is reported apart, for ordering curation queues;
* BA1/BS1/PM2_Supporting are read from the ancestry frequency features and kept
  apart from PP3/BP4, because that is where population frequency is counted;
* a variant sent with its own annotations (``POST /predict``) is scored from
  them alone (:func:`vipredict.io.inline.inline_inputs`, then the Scorer) and
  never cached; one request may mix such variants with keys to look up;
* a store of up to ``VIPREDICT_PRELOAD_ROWS`` variants is scored once at start-up
  and kept as ready JSON fragments, so a request is key parsing plus dictionary
  look-ups; the per-feature contributions (TreeSHAP, the dear part) are filled
  in by a background thread, or on demand for a variant asked before it got there;
* a larger store (up to dbNSFP's size) is not read at start-up: a variant is
  looked up, scored and explained when first asked, and at most
  ``VIPREDICT_CACHE_ROWS`` answers are kept (the oldest dropped first), so memory
  stays bounded whatever the store's size. With the store's serving index
  (:mod:`vipredict.store.index`, ``vipredict store-index``) a look-up reads one
  small batch, and a request of a few keys is scored row by row without pandas
  (:class:`~vipredict.model.single.SingleScorer`, same answers); without it, one
  DuckDB query per request;
* ``POST /predict/vcf`` answers JSON from the same cache, TSV through the
  scorer's result table (the columns of ``vipredict predict``) and VCF through
  the one VCF writer (the fields of ``vipredict annotate``).
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from vipredict.config import MAX_AUTO_WORKERS, Limits, Settings, get_settings
from vipredict.io.bounds import TooManyVariantsError
from vipredict.io.inline import InlineVariant, inline_inputs, refusal
from vipredict.io.inputs import InputRecord, Inputs, vcf_text_inputs
from vipredict.jobs.annotate import annotate_text
from vipredict.jobs.predict import results_tsv
from vipredict.model.explain import top_contributions
from vipredict.model.registry import ModelNotReadyError, evidence_champion_ready
from vipredict.model.scorer import (
    Scored,
    Scorer,
    finalise,
    load_scorer,
    result_rows,
    unreported_columns,
)
from vipredict.model.single import SingleScorer
from vipredict.service.card import build_model_card
from vipredict.service.schemas import VariantIn, VariantOut
from vipredict.service.security import (
    ServingError,
    check_count,
    decode_upload,
    too_many_variants,
)
from vipredict.standards.va import va_json
from vipredict.store.index import StoreIndex, open_index
from vipredict.store.partitioned import Store, StoreMissingError
from vipredict.variants import VariantError

UPLOAD_FORMATS = ("vcf", "tsv", "json", "va")
#: Past this many keys to look up, a request is scored as a block (pandas, one model
#: call per profile) rather than row by row: about 50 ms whatever the count, against
#: about a millisecond a row.
SINGLE_KEYS = 32


def preflight(settings: Settings | None = None) -> None:
    """Cheap start-up check (no model load): the store and the evidence champion exist.

    Run before any worker starts (``vipredict serve`` and the service's deployment
    hook), so a broken deployment fails at once with the reason, instead of
    answering with evidence that cannot be traced to a calibration.
    """
    settings = settings or get_settings()
    try:
        Store.open(settings)
    except StoreMissingError as error:
        raise ModelNotReadyError(str(error)) from error
    evidence_champion_ready(settings)


def service_workers(settings: Settings | None = None) -> int:
    """Worker processes for the service: ``VIPREDICT_WORKERS``, else chosen from the store.

    A store scored whole at start-up (at most ``VIPREDICT_PRELOAD_ROWS`` rows) gets one
    worker: each more would hold and score the whole store again. A store answered on
    demand gets one per core (at most :data:`~vipredict.config.MAX_AUTO_WORKERS`): its
    workers are small, and on a 10^8-row store one worker's HTTP stack alone puts the
    single-variant p99 over 25 ms at 8 clients on 2 cores (README, "Genome scale: serving").
    """
    settings = settings or get_settings()
    if settings.workers is not None:
        return settings.workers
    try:
        store = Store.open(settings)
    except StoreMissingError:  # preflight names it; one worker is enough to refuse
        return 1
    if preloads(store, settings):
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


def preloads(store: Store | None, settings: Settings) -> bool:
    """Whether the service scores ``store`` whole at start-up (at most
    ``VIPREDICT_PRELOAD_ROWS`` rows) rather than answering it on demand."""
    return store is not None and len(store) <= settings.preload_rows


def _finite(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _compact(payload: dict[str, Any]) -> str:
    """A JSON object's members without the braces, to be spliced into an answer."""
    return json.dumps(payload, separators=(",", ":"))[1:-1]


def _text(value: Any) -> str | None:
    """A result's text cell as JSON says it: empty or missing is null."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value) or None


def _int(value: Any) -> int | None:
    """A nullable integer cell (``mis_prd``) as JSON says it: missing is null."""
    return None if value is None or value is pd.NA else int(value)


def _warnings(value: Any) -> list[str]:
    """The ``annotation_warnings`` cell (items joined by ``"; "``) as a list."""
    text = _text(value)
    return [] if text is None else [item for item in text.split("; ") if item]


def upload_inputs(text: str, build: str | None, limit: int | None = None) -> Inputs:
    """What an uploaded VCF holds: its records and, in a VEP VCF (a ``CSQ`` header), their
    annotations and gnomAD frequencies, scored from those; else keys for the store.

    ``build``: None = the header's, else GRCh37; given = must agree with the header,
    or every record is ``build_conflict``. An unknown build raises ``VariantError``.
    ``limit``: reading stops at the first variant past it (``TooManyVariantsError``),
    so a request too large is refused before the rest of it is parsed.
    """
    return vcf_text_inputs(text, build or None, limit=limit)


@dataclass(frozen=True)
class RequestPlan:
    """How the variants of one request are answered (indices into the request).

    ``single``: records answered one by one, looked up by key or refused (a bad
    key, or an annotated variant with a refused value: ``records`` holds its
    named error). ``rounds``: annotated variants scored from their values, no key
    twice in a round (one round is one annotation table, keyed by variant; a
    pipeline may send one variant with the values of two transcripts, and each is
    answered from its own). ``copies``: a variant sent again with the very same
    values takes the answer of its first mention instead of another round.
    """

    records: dict[int, InputRecord]
    single: list[int]
    rounds: list[list[int]]
    copies: dict[int, int]


def _signature(variant: InlineVariant) -> str:
    payload = [variant.record.key, variant.annotations, variant.frequencies]
    return json.dumps(payload, sort_keys=True, default=str)


def plan_request(variants: Sequence[InlineVariant]) -> RequestPlan:
    """Split a request's variants into look-ups, refusals, scoring rounds and repeats."""
    records: dict[int, InputRecord] = {}
    single: list[int] = []
    rounds: list[list[int]] = []
    copies: dict[int, int] = {}
    first: dict[str, int] = {}
    mentions: dict[str, int] = {}
    for i, variant in enumerate(variants):
        refused = refusal(variant) if variant.annotated else None
        if not variant.annotated or refused is not None:
            records[i] = refused or variant.record
            single.append(i)
            continue
        signature = _signature(variant)
        if signature in first:
            copies[i] = first[signature]
            continue
        first[signature] = i
        key = str(variant.record.key)
        n = mentions.get(key, 0)
        mentions[key] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)
    return RequestPlan(records, single, rounds, copies)


def _relabelled(answer: str, label: str) -> str:
    """A rendered answer under another ``input`` label (a repeat of the same values)."""
    return json.dumps({**json.loads(answer), "input": label})


@dataclass
class PredictionService:
    """Scores variants through :class:`Scorer` and renders JSON, TSV and annotated VCF."""

    scorer: Scorer
    card: dict[str, Any]
    limits: Limits = field(default_factory=Limits)
    #: Answers kept at most (None: the whole store, scored at start-up).
    cache_limit: int | None = None
    #: One-row scoring over the serving index (answered on demand with an index only).
    single: SingleScorer | None = None
    _base: OrderedDict[str, str] = field(default_factory=OrderedDict, repr=False)
    _detail: OrderedDict[str, str] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, settings: Settings | None = None, precompute: bool = True) -> PredictionService:
        """Champions + store, or :class:`ModelNotReadyError` naming what is missing."""
        settings = settings or get_settings()
        return cls.from_scorer(load_scorer(settings), settings, precompute)

    @classmethod
    def from_scorer(
        cls, scorer: Scorer, settings: Settings, precompute: bool = True
    ) -> PredictionService:
        """The service of an already loaded scorer (its card read from the settings' MLflow).

        A store of at most ``settings.preload_rows`` rows is scored whole (unless
        ``precompute`` is false); a larger one is answered on demand, keeping at most
        ``settings.cache_rows`` answers.
        """
        preload = preloads(scorer.store, settings)
        limit = None if preload else settings.cache_rows
        service = cls(scorer, build_model_card(scorer, settings), settings.limits, limit)
        if precompute and preload:
            service.warm()
        if not preload and scorer.store is not None:
            index = open_index(scorer.store.root)
            if index is not None:
                # Every look-up of the scorer (VA-Spec, TSV, uploads' keys) reads the index.
                service.scorer = replace(scorer, index=index)
                service.single = SingleScorer.of(scorer, index.columns)
        return service

    @property
    def index(self) -> StoreIndex | None:
        """The store's serving index (answered on demand only; None: DuckDB look-ups)."""
        return self.scorer.index

    @property
    def store(self) -> Store:
        assert self.scorer.store is not None  # load_scorer always attaches one
        return self.scorer.store

    def model_card(self) -> dict[str, Any]:
        return self.card

    # ---- scoring and caching

    def warm(self, chunk: int = 20_000) -> None:
        """Score every store variant once (vectorised chunks): the cheap part of each answer."""
        for features in self.store.iter_rows(chunk_rows=chunk):
            keys = features["variant"].astype(str).tolist()
            fresh = np.fromiter((k not in self._base for k in keys), bool, len(keys))
            if fresh.any():
                self._fill(features[fresh].reset_index(drop=True))

    def warm_explanations(self, chunk: int = 2_000, num_threads: int = 1) -> None:
        """Precompute the top contributions of every cached variant.

        TreeSHAP is the dear part (about 0.25 ms per variant here), so the service
        runs this in a background thread on one core after start-up; a request for
        a variant not yet explained computes its own rows on demand.
        """
        if self.cache_limit is not None:  # answered on demand: nothing was scored ahead
            return
        keys = [k for k in list(self._base) if k not in self._detail]
        for start in range(0, len(keys), chunk):
            self._explain(self.store.lookup(keys[start : start + chunk]), num_threads)

    def cache_status(self) -> dict[str, int | None]:
        return {
            "scored": len(self._base),
            "explained": len(self._detail),
            "store": len(self.store),
            "limit": self.cache_limit,
        }

    def _keep(self, cache: OrderedDict[str, str], fresh: dict[str, str]) -> dict[str, str]:
        """Add ``fresh`` to ``cache``, then drop the oldest entries past :attr:`cache_limit`
        (one O(1) pop each: a request never walks the whole cache)."""
        with self._lock:
            cache.update(fresh)
            while self.cache_limit is not None and len(cache) > self.cache_limit:
                cache.popitem(last=False)
        return fresh

    def _cached(self, keys: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
        """The cached fragments of ``keys`` now (another request may drop them later)."""
        with self._lock:
            base = {k: self._base[k] for k in keys if k in self._base}
            detail = {k: self._detail[k] for k in keys if k in self._detail}
        return base, detail

    def _fill(self, features: pd.DataFrame) -> dict[str, str]:
        """Cache the JSON fragment of everything but ``input`` and the top features."""
        frequencies = self.scorer.frequency_of(features)
        results = self.scorer.results_of(features, frequencies)
        model = self._model_ref()
        fresh = {}
        for i, row in enumerate(result_rows(results)):
            body = self._reported(self._body(row, frequencies[i], model))
            fresh[str(row["variant"])] = _compact(body)
        return self._keep(self._base, fresh)

    def _explain(self, features: pd.DataFrame, num_threads: int = 0) -> dict[str, str]:
        """Cache ``"top_features":[..]`` for store rows (judged rows only)."""
        if features.empty:
            return {}
        scores = self.scorer.score_features(features)["score"].to_numpy(dtype=float)
        tops = self._top_features(features, ~np.isnan(scores), num_threads)
        fresh = {
            key: _compact({"top_features": top})
            for key, top in zip(features["variant"].astype(str), tops, strict=True)
        }
        return self._keep(self._detail, fresh)

    def _top_features(
        self, features: pd.DataFrame, judged: np.ndarray, num_threads: int = 0
    ) -> list[list[dict[str, Any]]]:
        """Top contributions of each row; a row the model did not judge has none."""
        model = self.scorer.evidence_model
        explained = iter(
            top_contributions(model, features[judged], num_threads=num_threads)
            if judged.any()
            else []
        )
        return [next(explained) if ok else [] for ok in judged]

    @staticmethod
    def _body(row: dict[str, Any], frequency: dict, model: dict) -> dict:
        code = row["next_level"]
        has_next = isinstance(code, str) and code != ""
        return {
            "variant": row["variant"],
            "gene": None if pd.isna(row["gene"]) else str(row["gene"]),
            "score": _finite(row["score"]),
            "posterior": _finite(row["posterior"]),
            "likelihood_ratio": _finite(row["likelihood_ratio"]),
            "evidence": str(row["evidence"]),
            "profile": _text(row.get("profile")),
            "points": int(row["points"]),
            "mis_prd": _int(row["mis_prd"]),
            "next_level": (
                {"code": code, "score_distance": float(row["next_level_distance"])}
                if has_next
                else None
            ),
            "frequency_evidence": frequency,
            "model": model,
            "priority": {
                "score": _finite(row["priority_score"]),
                "model": _text(row["priority_model"]),
            },
            "annotation_warnings": _warnings(row.get("annotation_warnings")),
            "error": row["error"] or None,
            "error_detail": row["error_detail"] or None,
        }

    def _reported(self, body: dict[str, Any]) -> dict[str, Any]:
        """The answer without the keys of guideline versions this deployment does not report.

        ``VIPREDICT_GUIDELINES`` (:attr:`Scorer.guidelines`): absent, not null, so
        that null keeps its one meaning (``mis_prd`` null: the variant was not scored).
        """
        dropped = unreported_columns(self.scorer.guidelines)
        return {key: value for key, value in body.items() if key not in dropped}

    def _model_ref(self) -> dict[str, str]:
        m = self.scorer.evidence_model
        return {"name": m.name, "version": m.version, "run_id": m.run_id}

    def _error_body(self, record: InputRecord, reason: str, detail: str) -> dict[str, Any]:
        return self._reported(
            {
                "input": record.label,
                "variant": record.key,
                "gene": None,
                "score": None,
                "posterior": None,
                "likelihood_ratio": None,
                "evidence": "none",
                "profile": None,
                "points": 0,
                "mis_prd": None,
                "next_level": None,
                "top_features": [],
                "frequency_evidence": None,
                "model": self._model_ref(),
                "priority": {"score": None, "model": None},
                "annotation_warnings": [],
                "error": reason,
                "error_detail": detail or None,
            }
        )

    def render(self, records: Sequence[InputRecord]) -> list[str]:
        """One JSON object (text) per record, in order; bad records carry their named error."""
        wanted = list(dict.fromkeys(r.key for r in records if r.key is not None))
        missing: dict[str, tuple[str, str]] = {}
        bases, details = self._cached(wanted)
        unscored = [k for k in wanted if k not in bases]
        if unscored and self.single is not None and len(unscored) <= SINGLE_KEYS:
            base, detail, missing = self._answer_singly(unscored)
            bases.update(base)
            details.update(detail)
        elif unscored:
            features, missing = self.scorer.lookup(unscored)  # index, else DuckDB
            if len(features):
                bases.update(self._fill(features))
                details.update(self._explain(features))
        unexplained = [k for k in wanted if k in bases and k not in details]
        if unexplained:
            details.update(self._explain(self.scorer.lookup(unexplained)[0]))
        out = []
        for record in records:
            base = bases.get(record.key) if record.key is not None else None
            if base is not None:
                detail = details[record.key]  # type: ignore[index]
                out.append(f'{{"input":{json.dumps(record.label)},{base},{detail}}}')
                continue
            if record.key is None:
                reason, detail = record.error, record.detail
            else:
                reason, detail = missing.get(record.key, ("no_features", ""))
            out.append(json.dumps(self._error_body(record, reason, detail)))
        return out

    def _answer_singly(
        self, keys: Sequence[str]
    ) -> tuple[dict[str, str], dict[str, str], dict[str, tuple[str, str]]]:
        """Cached fragments (base, top features) of keys scored one row at a time, and
        the named error of each key the store lacks."""
        assert self.index is not None and self.single is not None
        match = self.index.match(keys)
        model = self._model_ref()
        base, detail = {}, {}
        for row in match.rows:
            key = row.variant
            answer = self.single.answer(row.as_dict(match.numbers), key)
            base[key] = _compact(self._reported(self._body(answer.row, answer.frequency, model)))
            detail[key] = _compact({"top_features": answer.top_features})
        return self._keep(self._base, base), self._keep(self._detail, detail), match.missing

    def render_inputs(self, inputs: Inputs) -> list[str]:
        """One JSON object per record of inputs that carry their own annotations, in order.

        Scored through :meth:`Scorer.score` like ``vipredict predict`` scores a VEP
        file; nothing is cached, since the answer belongs to the values sent.
        """
        if inputs.annotations is None:
            return self.render(inputs.records)
        scored = self.scorer.score(inputs)
        results = scored.results
        features = scored.features
        criteria: dict[str, dict] = {}
        tops: dict[str, list] = {}
        if len(features):
            features = features.drop_duplicates("variant").reset_index(drop=True)
            keys = features["variant"].astype(str).tolist()
            criteria = dict(zip(keys, self.scorer.frequency_of(features), strict=True))
            score_of = dict(zip(results["variant"], results["score"], strict=True))
            judged = np.array([np.isfinite(score_of.get(k, np.nan)) for k in keys], bool)
            tops = dict(zip(keys, self._top_features(features, judged), strict=True))
        model = self._model_ref()
        out = []
        for row in result_rows(results):
            key = str(row["variant"])
            if key in criteria:
                body = self._reported(self._body(row, criteria[key], model))
                answer = {"input": row["input"], **body, "top_features": tops[key]}
            else:
                record = InputRecord(str(row["input"]), key or None)
                answer = self._error_body(record, str(row["error"]), str(row["error_detail"]))
            out.append(json.dumps(answer))
        return out

    def render_variants(self, variants: Sequence[InlineVariant]) -> list[str]:
        """Answers of a request's variants in order: keys from the cache/store, the
        annotated ones from their own values (:func:`plan_request`)."""
        plan = plan_request(variants)
        out: list[str] = [""] * len(variants)
        if plan.single:
            answers = self.render([plan.records[i] for i in plan.single])
            for i, text in zip(plan.single, answers, strict=True):
                out[i] = text
        for round_ in plan.rounds:
            inputs = inline_inputs([variants[i] for i in round_])
            for i, text in zip(round_, self.render_inputs(inputs), strict=True):
                out[i] = text
        for i, first in plan.copies.items():
            out[i] = _relabelled(out[first], variants[i].record.label)
        return out

    def score_variants(self, variants: Sequence[InlineVariant]) -> Scored:
        """Results (in request order) and feature rows of a request's variants.

        The DataFrame twin of :meth:`render_variants`, for the queue: keys are
        looked up in the store, annotated variants scored from their own values.
        The features keep one row per variant, from its first mention.
        """
        plan = plan_request(variants)
        parts = [(plan.single, self.scorer.score(Inputs([plan.records[i] for i in plan.single])))]
        for round_ in plan.rounds:
            parts.append((round_, self.scorer.score(inline_inputs([variants[i] for i in round_]))))
        results = pd.concat([scored.results.set_axis(rows) for rows, scored in parts])
        if plan.copies:
            repeats = results.loc[list(plan.copies.values())].set_axis(list(plan.copies))
            repeats["input"] = [variants[i].record.label for i in plan.copies]
            results = pd.concat([results, repeats])
        first: dict[str, int] = {}
        for i, variant in enumerate(variants):
            if variant.record.key is not None:
                first.setdefault(variant.record.key, i)
        found = [scored.features for _, scored in parts if len(scored.features)]
        if not found:
            return Scored(finalise(results.sort_index()), pd.DataFrame())
        features = pd.concat(found)
        features = (
            features.assign(_first=features["variant"].map(first))
            .sort_values("_first", kind="stable")
            .drop_duplicates("variant")
            .drop(columns="_first")
            .reset_index(drop=True)
        )
        return Scored(finalise(results.sort_index()), features)

    # ---- public entry points

    def check_count(self, n: int) -> None:
        check_count(n, self.limits)

    @contextmanager
    def variant_limit(self) -> Iterator[int]:
        """The request's variant limit, for a reader that counts while it reads: a 413 past it.

        :func:`upload_inputs` counts every record and ALT before it builds it (bounds
        per record: :mod:`vipredict.io.bounds`), so no request makes more than
        ``max_variants`` records, whatever its lines hold.
        """
        try:
            yield self.limits.max_variants
        except TooManyVariantsError as error:
            raise too_many_variants(f"more than {error.limit} variants", self.limits) from error

    def predict_json(self, variants: Sequence[VariantIn]) -> bytes:
        """``POST /predict`` body: a JSON array of :class:`VariantOut`, rendered from the cache."""
        self.check_count(len(variants))
        rendered = self.render_variants([v.to_inline() for v in variants])
        return ("[" + ",".join(rendered) + "]").encode()

    def predict_va(self, variants: Sequence[VariantIn]) -> bytes:
        """``POST /predict?format=va``: one GA4GH VA-Spec Statement (or named error) per variant.

        Scored like :meth:`predict_json` (keys from the store, annotated variants from
        their values) but rendered from the result rows, not the JSON cache: a
        statement is the standard's form of the same answer (:mod:`vipredict.standards.va`).
        """
        self.check_count(len(variants))
        results = self.score_variants([v.to_inline() for v in variants]).results
        return self.va_json(results).encode()

    def va_json(self, results: pd.DataFrame) -> str:
        """Result rows as VA-Spec JSON, with this service's card and guideline versions."""
        return va_json(results, self.card, self.scorer.guidelines)

    def predict(self, variants: Sequence[VariantIn]) -> list[VariantOut]:
        """In-process API: validated response models (slower than :meth:`predict_json`)."""
        self.check_count(len(variants))
        rendered = self.render_variants([v.to_inline() for v in variants])
        return [VariantOut.model_validate_json(text) for text in rendered]

    def predict_upload(
        self, data: bytes, fmt: str = "vcf", build: str | None = None
    ) -> tuple[str, str]:
        """``POST /predict/vcf``: (body, media type) as annotated VCF, TSV or JSON."""
        if fmt not in UPLOAD_FORMATS:
            raise ServingError(400, f"format must be vcf, tsv, json or va, not {fmt!r}")
        text = decode_upload(data, self.limits.max_bytes)
        try:
            with self.variant_limit() as limit:
                inputs = upload_inputs(text, build, limit)
        except VariantError as error:
            raise ServingError(400, error.detail) from error
        if not inputs.records:
            raise ServingError(400, "the upload holds no VCF records")
        if fmt == "json":
            return "[" + ",".join(self.render_inputs(inputs)) + "]", "application/json"
        if fmt == "va":
            return self.va_json(self.scorer.score(inputs).results), "application/json"
        if fmt == "tsv":
            results = self.scorer.score(inputs).results
            return results_tsv(results, self.scorer.guidelines), "text/tab-separated-values"
        return annotate_text(text, self.store, self.scorer, build or None), "text/plain"

    def annotate_vcf(self, data: bytes | str, build: str | None = None) -> str:
        """The same VCF with VIP_SCORE/VIP_POST/VIP_EVIDENCE/VIP_ERR declared and set."""
        raw = data.encode() if isinstance(data, str) else data
        return self.predict_upload(raw, "vcf", build)[0]
