"""Fixtures for the serving tests: one trained home, one in-process service, one ASGI app.

Everything hangs off the session fixture ``trained_home`` (real ClinGen data,
small real models), so the service under test loads genuine champions.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from starlette.testclient import TestClient

from vipredict.config import PROJECT_ROOT, Settings
from vipredict.serving import PredictionService

SERVING_DIR = PROJECT_ROOT / "serving"


@pytest.fixture(scope="session")
def prediction_service(trained_home: Settings) -> PredictionService:
    return PredictionService.load(trained_home)


@pytest.fixture(scope="session")
def judged_keys(prediction_service: PredictionService) -> list[str]:
    """Store keys the evidence model can judge (they have conservation/functional scores)."""
    keys = [k for k, body in prediction_service._base.items() if '"error":null' in body]
    assert len(keys) > 100
    return keys


@pytest.fixture(scope="session")
def service_module(trained_home: Settings) -> ModuleType:
    sys.path.insert(0, str(SERVING_DIR))
    import service  # the BentoML module, imported only once the trained home exists

    return service


@pytest.fixture(scope="session")
def asgi_app(service_module: ModuleType):
    return service_module.VariantPredictor.to_asgi()


@pytest.fixture(scope="session")
def client(asgi_app) -> Iterator[TestClient]:
    with TestClient(asgi_app) as test_client:
        yield test_client
