"""A service over the serving index answers exactly as the preloaded service does.

On the trained home (real store rows, real champions): the service that scores
its whole store at start-up is the reference; the service past
``VIPREDICT_PRELOAD_ROWS`` with the store's serving index answers a few keys row
by row (:class:`vipredict.model.single.SingleScorer`, no pandas) and larger
requests as a block, both from index look-ups. Their JSON must be identical,
text for text, for stored keys of every kind (each annotation profile, missing
sources, no features at all, stored frequencies, both builds) and for keys the
store lacks (wrong REF, another ALT, an absent locus).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vipredict.config import Settings
from vipredict.model.scorer import Scorer, load_scorer, route
from vipredict.service.predictor import SINGLE_KEYS, PredictionService
from vipredict.service.schemas import VariantIn
from vipredict.store.index import build_index
from vipredict.store.partitioned import Store


@pytest.fixture(scope="module")
def scorer(trained_home: Settings) -> Scorer:
    return load_scorer(trained_home)


@pytest.fixture(scope="module")
def reference(scorer: Scorer, trained_home: Settings) -> PredictionService:
    service = PredictionService.from_scorer(scorer, trained_home)
    assert service.cache_limit is None  # the trained store is small: preloaded
    return service


def _on_demand(scorer: Scorer, home: Settings, root: Path) -> PredictionService:
    """A service over a copy of the store at ``root``, past the preload bound."""
    settings = dataclasses.replace(home, preload_rows=0)
    return PredictionService.from_scorer(dataclasses.replace(scorer, store=Store(root)), settings)


@pytest.fixture(scope="module")
def indexed_root(trained_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("indexed") / "store"
    shutil.copytree(trained_home.store_dir, root)
    build_index(root)
    return root


@pytest.fixture(scope="module")
def keys(scorer: Scorer) -> list[str]:
    """Real stored keys of every kind, and keys the store lacks."""
    rows = scorer.store.read_all()
    rng = np.random.default_rng(0)
    routes = route(scorer.evidence_model, rows)
    evidence = [c for c in ("sift_score", "cadd_phred", "gerp_rs") if c in rows]
    picks: list[str] = []

    def some(mask: pd.Series | np.ndarray, n: int) -> None:
        found = rows.loc[np.asarray(mask), "variant"].astype(str).tolist()
        picks.extend(rng.permutation(found)[:n].tolist())

    for name in pd.unique(routes):  # every profile, and "" (no profile in full)
        some(routes == name, 25)
    some(rows[evidence].isna().all(axis=1), 10)  # few or no evidence inputs
    some(rows["gnomad_observed"].notna(), 40)  # stored frequencies: BA1/BS1/PM2 decided
    some(rows["variant"].str.startswith("GRCh38"), 15)  # the other build's copies
    some(rows["annotation_warnings"].fillna("") != "", 10)
    absent = []
    for key in picks[:15]:
        build, chrom, pos, ref, alt = key.split(":")
        other = next(b for b in "ACGT" if b not in (ref, alt))
        absent += [f"{build}:{chrom}:{pos}:{other}:{alt}", f"{build}:{chrom}:{pos}:{ref}:{other}"]
        absent.append(f"{build}:{chrom}:{int(pos) + 7}:{ref}:{alt}")
    assert len(set(picks)) > 150
    return list(dict.fromkeys([*picks, *absent]))


def test_index_service_answers_as_the_preloaded_one(
    reference: PredictionService, scorer: Scorer, trained_home: Settings, indexed_root: Path,
    keys: list[str],
):  # fmt: skip
    """Asked one key at a time (row by row) and all at once (as a block): the same JSON."""
    service = _on_demand(scorer, trained_home, indexed_root)
    assert service.index is not None and service.single is not None
    for key in keys:
        asked = [VariantIn(variant=key)]
        assert service.predict_json(asked) == reference.predict_json(asked), key
    scored = service.cache_status()["scored"]
    assert scored == len([k for k in keys if k in reference._base])  # each answered singly
    errors = {a.error for a in service.predict([VariantIn(variant=k) for k in keys])}
    assert {None, "ref_mismatch", "no_features", "insufficient_annotation"} <= errors
    block = _on_demand(scorer, trained_home, indexed_root)
    assert len(keys) > SINGLE_KEYS
    asked = [VariantIn(variant=k) for k in keys]
    assert block.predict_json(asked) == reference.predict_json(asked)
    # Answered again from the bounded cache: the same text.
    assert block.predict_json(asked[:5]) == reference.predict_json(asked[:5])


def test_without_an_index_the_store_is_asked(
    reference: PredictionService, scorer: Scorer, trained_home: Settings, keys: list[str],
    tmp_path: Path,
):  # fmt: skip
    """A store without its index (or with a stale one) is served through DuckDB, alike."""
    root = tmp_path / "store"
    shutil.copytree(trained_home.store_dir, root)
    service = _on_demand(scorer, trained_home, root)
    assert service.index is None and service.single is None
    asked = [VariantIn(variant=k) for k in keys[:20]]
    assert service.predict_json(asked) == reference.predict_json(asked)


def test_va_statements_come_from_the_index_too(
    reference: PredictionService, scorer: Scorer, trained_home: Settings, indexed_root: Path,
    keys: list[str], monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    """``?format=va`` (scored through ``Scorer.score``) reads the index, not DuckDB, and
    states what the preloaded service states, variant for variant."""
    service = _on_demand(scorer, trained_home, indexed_root)
    assert service.scorer.index is service.index is not None

    def no_duckdb(*args: object, **kwargs: object) -> None:
        raise AssertionError("the store was asked through DuckDB")

    monkeypatch.setattr(Store, "match", no_duckdb)
    asked = [VariantIn(variant=k) for k in keys[:60]]
    got = service.predict_va(asked)
    monkeypatch.undo()
    assert got == reference.predict_va(asked)
