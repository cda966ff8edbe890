"""Fixtures for the queue tests: the session's trained home, real store variants, a fresh DB.

Everything hangs off ``trained_home`` (real ClinGen data, small real models), so
the queues under test are built from genuine scores and frequencies.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vipredict.config import Settings
from vipredict.queue.build import QueueSpec, rank_scored
from vipredict.queue.genes import GeneContext
from vipredict.queue.store import QueueStore
from vipredict.scoring import Scorer, load_scorer

#: Two inputs that cannot be scored: unknown to the store, and not a variant at all.
UNSCORABLE = ("GRCh37:1:1:A:G", "junk")


@pytest.fixture(scope="session")
def scorer(trained_home: Settings) -> Scorer:
    return load_scorer(trained_home)


@pytest.fixture(scope="session")
def sample_keys(scorer: Scorer) -> list[str]:
    """Real store variants: observed in gnomAD, absent from it in a covered gene, and others."""
    table = scorer.store.table.sort_values("variant")
    observed = table[table["gnomad_observed"] == 1].head(150)
    absent = table[table["gnomad_observed"] == 0].head(100)
    other = table[table["gnomad_observed"].isna()].head(250)
    return pd.concat([observed, absent, other])["variant"].astype(str).tolist()


@pytest.fixture(scope="session")
def scored(scorer: Scorer, sample_keys: list[str]) -> pd.DataFrame:
    return scorer.score_keys([*sample_keys, *UNSCORABLE])


@pytest.fixture(scope="session")
def ranked(scorer: Scorer, scored: pd.DataFrame) -> pd.DataFrame:
    """The default (settle) queue of the sample."""
    return rank_scored(scorer, scored, QueueSpec(), GeneContext())


@pytest.fixture
def store(tmp_path: Path) -> QueueStore:
    return QueueStore(f"sqlite:///{tmp_path / 'queue.db'}")
