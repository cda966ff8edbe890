"""Shared fixtures for the feature-family tests: hand tables and the real 2019 ClinGen set."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from vipredict.io.readers.clingen import read_clingen_set
from vipredict.schema import conform_annotations


@pytest.fixture(scope="session")
def clingen_2019() -> pd.DataFrame:
    """The real ClinGen 2019 training set, read once per session (it takes seconds)."""
    return read_clingen_set("2019")


@pytest.fixture(scope="session")
def make_annotations() -> Callable[[list[dict[str, object]]], pd.DataFrame]:
    """Build a canonical annotation table from a few hand-written rows."""

    def build(rows: list[dict[str, object]]) -> pd.DataFrame:
        return conform_annotations(pd.DataFrame(rows))

    return build
