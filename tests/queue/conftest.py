"""Fixtures for the queue tests: the SYNTHETIC tiny home, keys of its store, a fresh DB.

The tiny home (``tests/synthetic.py``) is made up: its variants are observed in an
invented gnomAD export, absent from it in a covered gene (not observed), or in genes
the export does not cover (unknown); BRCA1 and TP53 are on the ACMG SF list. The
queues built here exercise the queue's logic through the real scorer, store and
ranking; no figure is ever read from them (``queue evaluate`` uses the real home).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vipredict.config import Settings
from vipredict.io.inputs import record_from_key
from vipredict.model.scorer import Scorer
from vipredict.queue.build import QueueSpec, rank_scored
from vipredict.queue.genes import GeneContext
from vipredict.queue.ranking import describe
from vipredict.queue.store import QueueStore
from vipredict.store.partitioned import Store

#: Two inputs that cannot be scored: unknown to the store, and not a variant at all.
UNSCORABLE = ("GRCh37:1:1:A:G", "junk")
#: Tiny-store variants outside the invented export taken into the sample (keeps tests quick).
N_UNKNOWN = 120


@pytest.fixture(scope="session")
def scorer(tiny_scorer: Scorer) -> Scorer:
    return tiny_scorer


@pytest.fixture(scope="session")
def sample_keys(tiny_home: Settings) -> list[str]:
    """SYNTHETIC store variants: observed in the invented export, absent in a covered gene, other.

    Every observed and every not-observed one, then the first ``N_UNKNOWN`` the
    export says nothing about, each part in key order.
    """
    table = Store.open(tiny_home).read_all().sort_values("variant")
    observed = table[table["gnomad_observed"] == 1]
    absent = table[table["gnomad_observed"] == 0]
    unknown = table[table["gnomad_observed"].isna()].head(N_UNKNOWN)
    assert len(observed) > 50 and len(absent) > 20  # what the tests below rely on
    return pd.concat([observed, absent, unknown])["variant"].astype(str).tolist()


@pytest.fixture(scope="session")
def scored(scorer: Scorer, sample_keys: list[str]) -> pd.DataFrame:
    """Scorer answers for the sample and the two unscorable inputs, in input order."""
    return scorer.score_records([record_from_key(k) for k in [*sample_keys, *UNSCORABLE]])


@pytest.fixture(scope="session")
def features(scorer: Scorer, sample_keys: list[str]) -> pd.DataFrame:
    """Store rows of the sample (the frequency columns the queue describes items by)."""
    assert scorer.store is not None
    return scorer.store.lookup(sample_keys)


@pytest.fixture(scope="session")
def items(scorer: Scorer, scored: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Unranked items of the sample (ACMG SF list, no validity file): re-ranked cheaply."""
    return describe(scored, features, GeneContext(), scorer.bs1_faf)


@pytest.fixture(scope="session")
def ranked(scorer: Scorer, scored: pd.DataFrame) -> pd.DataFrame:
    """The default (settle) queue of the sample, through the one build path."""
    return rank_scored(scorer, scored, QueueSpec(), GeneContext())


@pytest.fixture
def store(tmp_path: Path) -> QueueStore:
    return QueueStore(f"sqlite:///{tmp_path / 'queue.db'}")
