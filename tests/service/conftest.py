"""Fixtures of the service tests: the SYNTHETIC tiny home, one in-process service, one ASGI app.

Everything hangs off the session fixture ``tiny_home`` (made-up variants, real
builders, a few trees): the service under test loads genuine champions from a
real MLflow registry, but no answer is a real figure. The ASGI app is the BentoML
service itself (``VariantPredictor.to_asgi()``); it reads its settings from the
environment when it starts, so the environment points at the tiny home while it
is built and started.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from apps import join_explanation_threads
from homes import with_home
from starlette.testclient import TestClient

from vipredict.config import Settings
from vipredict.model.scorer import Scorer, has_enough_annotation
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES
from vipredict.service.predictor import PredictionService
from vipredict.store.partitioned import Store

#: ``VIPREDICT_MAX_VARIANTS`` of the started app: set in its environment, so the limit
#: tests show the service reading it from the settings (and stay small and quick).
APP_MAX_VARIANTS = 64


@pytest.fixture(scope="session")
def prediction_service(tiny_home: Settings, tiny_scorer: Scorer) -> PredictionService:
    """The service's logic, warmed, on the tiny home's champions (loaded once per session)."""
    patch = with_home(tiny_home)
    try:
        return PredictionService.from_scorer(tiny_scorer, tiny_home)
    finally:
        patch.undo()


@pytest.fixture(scope="session")
def store_rows(tiny_home: Settings) -> pd.DataFrame:
    """Every row of the SYNTHETIC tiny store, in key order (repeatable picks)."""
    return Store.open(tiny_home).read_all().sort_values("variant").reset_index(drop=True)


@pytest.fixture(scope="session")
def judged_keys(store_rows: pd.DataFrame, tiny_scorer: Scorer) -> list[str]:
    """Tiny-store keys the evidence model judges (an annotation profile in full)."""
    enough = has_enough_annotation(tiny_scorer.evidence_model, store_rows)
    keys = store_rows.loc[enough, "variant"].astype(str).tolist()
    assert len(keys) > 100
    return keys


@pytest.fixture(scope="session")
def unjudged_keys(store_rows: pd.DataFrame, tiny_scorer: Scorer) -> dict[str, list[str]]:
    """Tiny-store keys that are stored yet get a per-variant error, by that error."""
    scores = [c for c in (*CONSERVATION_SCORES, *FUNCTIONAL_SCORES) if c in store_rows]
    blank = store_rows[scores].isna().all(axis=1).to_numpy()
    thin = ~has_enough_annotation(tiny_scorer.evidence_model, store_rows) & ~blank
    out = {
        "no_features": store_rows.loc[blank, "variant"].astype(str).tolist(),
        "insufficient_annotation": store_rows.loc[thin, "variant"].astype(str).tolist(),
    }
    assert all(out.values()), "the synthetic home should hold both kinds"
    return out


@pytest.fixture(scope="session")
def app_max_variants() -> int:
    return APP_MAX_VARIANTS


@pytest.fixture(scope="session")
def asgi_app(tiny_home: Settings):
    """The BentoML service as an ASGI app, built with the environment on the tiny home."""
    from vipredict.service.bento import VariantPredictor

    patch = with_home(tiny_home)
    try:
        return VariantPredictor.to_asgi()
    finally:
        patch.undo()


@pytest.fixture(scope="session")
def client(asgi_app, tiny_home: Settings) -> Iterator[TestClient]:
    """The app started (lifespan: champions, store, middleware) on the tiny home."""
    patch = with_home(tiny_home)
    patch.setenv("VIPREDICT_MAX_VARIANTS", str(APP_MAX_VARIANTS))
    try:
        with TestClient(asgi_app) as test_client:
            patch.undo()
            yield test_client
    finally:
        patch.undo()
        join_explanation_threads()
