"""Lost annotation sources: :func:`mask_sources` and :func:`with_masked_copies`, known answers.

Both feed headline figures: the 2020 per-lost-source table and the 2019 nested CV
blank sources with ``mask_sources``; masked copies taught the models what a
missing source means. Every frame here is SYNTHETIC and small enough that the
expected values are written out by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vipredict.model.training import mask_sources, with_masked_copies
from vipredict.schema import CONSERVATION_SCORES, FUNCTIONAL_SCORES

COUNTS = ["functional_n_missing", "conservation_n_missing"]


def _annotated(rows: list[dict[str, float]], counts: list[tuple[float, float]]) -> pd.DataFrame:
    """SYNTHETIC rows: every per-tool and conservation score, a non-score column and the
    two missing counts as given (``rows`` overrides the defaults; NaN = missing)."""
    defaults = {name: 0.1 * (i + 1) for i, name in enumerate(FUNCTIONAL_SCORES)}
    defaults |= {name: float(i + 1) for i, name in enumerate(CONSERVATION_SCORES)}
    table = pd.DataFrame([{**defaults, "blosum62": -1.0, **row} for row in rows])
    table[COUNTS] = np.array(counts, dtype="float64")
    return table.set_index(pd.Index([10, 20, 30][: len(rows)]))  # not 0..n-1: kept as is


def test_masked_sources_are_blanked_and_both_counts_recounted():
    """Three rows, two of them already missing some sources; blanking PolyPhen-2 and
    phyloP: functional counts 0/1/8 -> 1/2/8 (row 30 already lacked PolyPhen-2),
    conservation counts 0/1/0 -> 1/2/1. Nothing else changes, the input included."""
    nan = np.nan
    lacking = dict.fromkeys(FUNCTIONAL_SCORES[:-1], nan)  # only cadd_phred left
    table = _annotated([{}, {"sift_score": nan, "gerp_rs": nan}, lacking], [(0, 0), (1, 1), (8, 0)])
    before = table.copy()
    masked = mask_sources(table, ["polyphen2_score", "phylop100way"])
    assert masked["functional_n_missing"].tolist() == [1.0, 2.0, 8.0]
    assert masked["conservation_n_missing"].tolist() == [1.0, 2.0, 1.0]
    assert masked[["polyphen2_score", "phylop100way"]].isna().all().all()
    untouched = [c for c in table.columns if c not in {"polyphen2_score", "phylop100way", *COUNTS}]
    pd.testing.assert_frame_equal(masked[untouched], table[untouched])
    assert list(masked.columns) == list(table.columns)
    pd.testing.assert_frame_equal(table, before)


def test_counts_are_recounted_not_incremented():
    """A stale count (7, on a row missing nothing) becomes the true one: 0, then 1 with a
    source blanked. Incrementing the stored count would give 7 and 8."""
    table = _annotated([{}], [(7, 7)])
    assert mask_sources(table, [])[COUNTS].iloc[0].tolist() == [0.0, 0.0]
    assert mask_sources(table, ["gerp_rs"])[COUNTS].iloc[0].tolist() == [0.0, 1.0]
    assert mask_sources(table, ["vest4_score"])[COUNTS].iloc[0].tolist() == [1.0, 0.0]


def test_a_table_without_a_family_is_masked_without_it():
    """Only the per-tool scores and their count (no conservation columns): blanking CADD
    recounts the functional count and adds no column."""
    table = _annotated([{}, {"sift_score": np.nan}], [(0, 0), (1, 0)])
    table = table[[*FUNCTIONAL_SCORES, "functional_n_missing"]]
    masked = mask_sources(table, ["cadd_phred"])
    assert list(masked.columns) == list(table.columns)
    assert masked["functional_n_missing"].tolist() == [1.0, 2.0]
    assert masked["cadd_phred"].isna().all()


# --------------------------------------------------------------------------- masked copies


def test_with_one_source_every_copy_lacks_it_and_keeps_its_label():
    """One per-tool score (CADD) in the features: the draw has one choice, so the answer
    is exact. Three rows (labels 1, 0, 1) and three copies without CADD, same labels."""
    features = pd.DataFrame(
        {"cadd_phred": [25.0, 3.0, 31.0], "gerp_rs": [5.1, -2.0, 4.4]}, index=[7, 8, 9]
    )
    augmented, labels = with_masked_copies(features, np.array([1, 0, 1]), seed=11)
    expected = pd.DataFrame(
        {
            "cadd_phred": [25.0, 3.0, 31.0, np.nan, np.nan, np.nan],
            "gerp_rs": [5.1, -2.0, 4.4, 5.1, -2.0, 4.4],
        }
    )
    pd.testing.assert_frame_equal(augmented, expected)
    assert labels.tolist() == [1, 0, 1, 1, 0, 1]


def test_without_a_per_tool_score_nothing_is_copied():
    features = pd.DataFrame({"gerp_rs": [1.0, 2.0]})
    labels = np.array([0, 1])
    augmented, augmented_labels = with_masked_copies(features, labels, seed=0)
    assert augmented is features and augmented_labels is labels


@pytest.fixture(scope="module")
def complete() -> tuple[pd.DataFrame, np.ndarray]:
    """900 SYNTHETIC rows carrying all nine per-tool scores (count 0) and a row id;
    labels 1 on every third row, so a label moved to another row shows."""
    rng = np.random.default_rng(5)
    n = 900
    table = pd.DataFrame(rng.uniform(size=(n, len(FUNCTIONAL_SCORES))), columns=FUNCTIONAL_SCORES)
    table["functional_n_missing"] = 0.0
    table["row_id"] = np.arange(n)
    return table, (np.arange(n) % 3 == 0).astype(int)


def _blanked(copies: pd.DataFrame) -> pd.Series:
    """The one per-tool score each copy lacks."""
    missing = copies[list(FUNCTIONAL_SCORES)].isna()
    assert (missing.sum(axis=1) == 1).all()
    return missing.idxmax(axis=1)


def test_each_row_gets_one_copy_lacking_one_drawn_source(complete):
    """900 rows: 900 originals unchanged, then one copy of each row in which exactly one
    score is blank and the count is 1; every other value and the label are the row's own."""
    features, labels = complete
    augmented, augmented_labels = with_masked_copies(features, labels, seed=3)
    n = len(features)
    assert len(augmented) == len(augmented_labels) == 2 * n
    pd.testing.assert_frame_equal(augmented.iloc[:n], features)
    np.testing.assert_array_equal(augmented_labels[:n], labels)
    copies = augmented.iloc[n:].reset_index(drop=True)
    assert sorted(copies["row_id"]) == list(range(n))  # each row copied exactly once
    blanked = _blanked(copies)
    assert (copies["functional_n_missing"] == 1.0).all()
    originals = features.set_index("row_id").loc[copies["row_id"]].reset_index()
    restored = copies.copy()
    for i, source in blanked.items():
        restored.loc[i, source] = originals.loc[i, source]
    restored["functional_n_missing"] = 0.0
    pd.testing.assert_frame_equal(restored, originals[list(copies.columns)])
    np.testing.assert_array_equal(augmented_labels[n:], labels[copies["row_id"]])


def test_the_blanked_source_is_drawn_evenly_and_repeatably(complete):
    """Nine sources over 900 rows: about 100 copies each (binomial sd 9.4; 60..140 is
    beyond 4 sd), in declared source order; the same seed draws the same, another not."""
    features, labels = complete
    n = len(features)
    augmented, _ = with_masked_copies(features, labels, seed=3)
    blanked = _blanked(augmented.iloc[n:])
    counts = blanked.value_counts()
    assert set(counts.index) == set(FUNCTIONAL_SCORES)
    assert counts.between(60, 140).all()
    order = blanked.map(FUNCTIONAL_SCORES.index).to_numpy()
    assert (np.diff(order) >= 0).all()  # copies grouped by source, in FUNCTIONAL_SCORES order
    again, _ = with_masked_copies(features, labels, seed=3)
    pd.testing.assert_frame_equal(again, augmented)
    other, _ = with_masked_copies(features, labels, seed=4)
    assert (_source_by_row(other, n) != _source_by_row(augmented, n)).any()


def _source_by_row(augmented: pd.DataFrame, n: int) -> np.ndarray:
    """The source blanked in each original row's copy, in row order."""
    copies = augmented.iloc[n:]
    return _blanked(copies).to_numpy()[np.argsort(copies["row_id"].to_numpy())]
