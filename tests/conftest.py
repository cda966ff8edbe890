"""Session fixtures shared by the suite: two homes, two tiers.

* ``tiny_home``: a SYNTHETIC home built in seconds (``synthetic.py``: made-up
  variants, scores, labels and frequencies through the real builders, a few
  trees, tens of bootstraps). The logic tests of the service, queue, predict and
  annotate use it; no figure comes from it.
* ``trained_home``: the real chain trained once on the real ClinGen 2019 set
  (real features, real LightGBM and calibration, fewer trees and bootstraps than
  the default). The end-to-end tests and every test of a reported figure use it.

A test that uses ``trained_home`` is marked ``e2e`` automatically; so are the
tests marked slow by hand (real-data calibrations, Dask, live servers).
``make test-fast`` runs everything else (``pytest -m "not e2e"``).

Each test sees ``VIPREDICT_HOME`` pointed at the home it asked for, so CLI and
service code that reads the settings finds the right one. That happens per test:
a session- or module-scoped fixture that runs such code must point the
environment itself (``homes.with_home``), or it reads ``./.vipredict``.

For iterating on one test file, ``VIPREDICT_TEST_HOMES=DIR`` keeps both homes in
``DIR`` and reuses them across pytest runs (tests may write into them; delete
``DIR`` to start afresh). CI never sets it: every run builds both homes anew.

``make test`` runs the suite on two pytest-xdist workers (``--dist loadfile``: a
module's tests, and its module fixtures, stay on one worker). Each worker builds
its own homes, so no two processes ever write into one home; kept homes go to
``DIR/<worker>``. A worker trains LightGBM on one thread: two workers share the
machine's two cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from homes import PROJECT_ROOT, home_settings, with_home
from synthetic import TinyHome, build_tiny_home

from vipredict.config import Settings, default_mirror
from vipredict.model.scorer import Scorer, load_scorer

#: Profiles of the real home (``profiles`` in the training config): the full ClinGen set, its
#: most common fallback, a VEP + dbNSFP run, and the two small sets every training
#: variant carries. The other seven train through the same loop (``test_training.py``
#: trains all twelve on the tiny home); each costs ~5 s per worker here.
E2E_PROFILES = ["clingen", "clingen_without_mpc", "vep_dbnsfp", "core", "cadd_conservation"]
FAST_OVERRIDES = {"n_bootstrap": 200, "cv_folds": 3, "profiles": E2E_PROFILES}
#: The xdist worker running this process ("" when pytest runs alone).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
FAST_LGBM = {"n_estimators": 80, "learning_rate": 0.1, "n_jobs": 1 if WORKER else 2}
_HOME_FIXTURES = ("trained_home", "tiny_home")


def pytest_configure(config: pytest.Config) -> None:
    # Subprocesses (bentoml serve, notebooks) and the tests' own settings read the
    # mirror from the environment: pin it to the project's, whatever their cwd.
    mirror = default_mirror(PROJECT_ROOT)
    if mirror is not None:
        os.environ.setdefault("VIPREDICT_DATA_MIRROR", str(mirror))
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of the real trained home belong to the end-to-end tier."""
    for item in items:
        if "trained_home" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


def _home_dir(factory: pytest.TempPathFactory, name: str) -> tuple[Path, bool]:
    """Where a session home lives, and whether a kept one (VIPREDICT_TEST_HOMES) is ready."""
    kept = os.environ.get("VIPREDICT_TEST_HOMES", "").strip()
    if not kept:
        return factory.mktemp(name), False
    home = Path(kept).resolve() / WORKER / name
    return home, (home / "ready").is_file()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyHome:
    """The SYNTHETIC home and the synthetic inputs it was built from."""
    home, ready = _home_dir(tmp_path_factory, "tiny-home")
    settings = home_settings(home)
    patch = with_home(settings)
    try:
        tiny = build_tiny_home(settings, reuse=ready)
    finally:
        patch.undo()
    (home / "ready").touch()
    return tiny


@pytest.fixture(scope="session")
def tiny_home(tiny: TinyHome) -> Settings:
    return tiny.settings


@pytest.fixture(scope="session")
def tiny_scorer(tiny_home: Settings) -> Scorer:
    """Both tiny champions and the tiny store, loaded once for every fast test."""
    return load_scorer(tiny_home)


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from vipredict.jobs.train import run_training
    from vipredict.model.training import TrainingConfig

    home, ready = _home_dir(tmp_path_factory, "vipredict-home")
    settings = home_settings(home)
    if ready:
        return settings
    base = TrainingConfig.from_toml().to_dict()
    config = TrainingConfig.from_dict(
        {**base, **FAST_OVERRIDES, "lightgbm": {**base["lightgbm"], **FAST_LGBM}}
    )
    patch = with_home(settings)
    try:
        run_training(config, settings)
    finally:
        patch.undo()
    (home / "ready").touch()
    return settings


@pytest.fixture(autouse=True)
def _home_env(request: pytest.FixtureRequest) -> Iterator[None]:
    """Point the environment at the home the test uses (the real one if it uses both)."""
    name = next((n for n in _HOME_FIXTURES if n in request.fixturenames), None)
    if name is None:
        yield
        return
    patch = with_home(request.getfixturevalue(name))
    yield
    patch.undo()
