"""Where the test homes live and how a test points the environment at one.

A plain module (not a conftest) so that any test file can import it: pytest
loads every folder's ``conftest.py`` under the one module name ``conftest``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vipredict.config import Settings, get_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def home_settings(home: Path) -> Settings:
    """Settings of a home at ``home``, everything else as the environment says."""
    return get_settings({**os.environ, "VIPREDICT_HOME": str(home)})


def with_home(home: Settings) -> pytest.MonkeyPatch:
    """A MonkeyPatch that points VIPREDICT_HOME and BENTOML_HOME at ``home`` (undo it)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("VIPREDICT_HOME", str(home.home))
    patch.setenv("BENTOML_HOME", str(home.bentoml_home))
    return patch
