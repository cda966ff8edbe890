"""The ingest's grouping of the frequency rows by variant, made by one Arrow hash pass.

``_first_appearance`` stands in for pandas' ``Index.unique`` + ``get_indexer``
(two hash passes over 1.3 million keys, about half a second of every run). It
reads the dictionary of an Arrow-backed index chunk by chunk, so these tests
give it several chunks, keys repeated across chunks, a missing key and an empty
index. Keys are made up (only their grouping matters here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from vipredict.store.ingest import FrequencyIndex, _first_appearance


def _index(chunks: list[list[str | None]]) -> pd.Index:
    arrow = pa.chunked_array([pa.array(c, pa.string()) for c in chunks], pa.string())
    return pd.Index(pd.array(arrow, dtype=pd.StringDtype("pyarrow")))


CHUNKED = [["a", "b", "a"], ["c", "b"], [], ["d", None, "a", "e"], ["e"]]


@pytest.mark.parametrize(
    "index",
    [
        _index(CHUNKED),
        _index([["x"], ["y"], ["x"]]),  # the last chunk adds no key
        _index([[]]),
        pd.Index(["k1", "k2", "k1", "k3"], dtype=object),  # not Arrow-backed: one chunk
    ],
)
def test_first_appearance_is_unique_and_get_indexer(index: pd.Index) -> None:
    known, codes = _first_appearance(index)
    assert list(known) == list(index.unique())
    np.testing.assert_array_equal(codes, pd.Index(index.unique()).get_indexer(index))


def test_frequency_rows_are_the_rows_of_the_asked_keys() -> None:
    long = pd.DataFrame(
        {
            "variant": pd.array(["v2", "v1", "v2", "v3", "v1", "v2"], dtype="string"),
            "dataset": "gnomad_2017_browser",
            "group": ["afr", "afr", "nfe", "afr", "nfe", "sas"],
            "ac": [1, 2, 3, 4, 5, 6],
            "an": 10,
        }
    )
    index = FrequencyIndex.of((long, {}))
    rows = index.frequency_rows(pd.Series(["v1", "v9", "v2", "v1"]))
    assert rows["ac"].tolist() == [2, 5, 1, 3, 6]  # v1's rows, then v2's, in table order
    assert index.frequency_rows(pd.Series(["v9"])).empty


def test_positions_spare_look_ups_and_change_no_answer() -> None:
    """Keys at a position no known key has are not looked up; the rows are the same."""
    known = ["GRCh37:1:100:A:G", "GRCh37:1:100:A:T", "GRCh37:2:300:C:T", "GRCh37:1:100:A:G"]
    long = pd.DataFrame(
        {
            "variant": pd.array(known, dtype="string"),
            "dataset": "gnomad_2017_browser",
            "group": ["afr", "afr", "nfe", "nfe"],
            "ac": [1, 2, 3, 4],
            "an": 10,
        }
    )
    index = FrequencyIndex.of((long, {}))
    np.testing.assert_array_equal(index.positions, [100, 300])
    asked = pd.Series(
        ["GRCh37:2:300:C:T", "GRCh37:1:100:A:C", "GRCh37:1:200:A:G", "GRCh37:1:100:A:G"]
    )
    positions = np.array([300, 100, 200, 100])
    by_text = index.frequency_rows(asked)
    by_position = index.frequency_rows(asked, positions)
    pd.testing.assert_frame_equal(by_position, by_text)
    assert by_position["ac"].tolist() == [3, 1, 4]
    # a key at a position no known key has is never looked up: even a known one
    assert index.frequency_rows(asked, np.array([301, 101, 200, 101])).empty
    assert index.frequency_rows(asked, np.array([1000, 2000, 3000, 4000])).empty
    assert index.frequency_rows(asked, np.array([1, 2, 3, 4])).empty


def test_keys_that_are_not_loci_turn_the_positions_off() -> None:
    long = pd.DataFrame(
        {"variant": pd.array(["v1", "GRCh37:1:5:A:G"], dtype="string"), "dataset": "x",
         "group": "afr", "ac": [1, 2], "an": 10}
    )  # fmt: skip
    index = FrequencyIndex.of((long, {}))
    assert index.positions is None
    assert index.frequency_rows(pd.Series(["v1"]), np.array([7]))["ac"].tolist() == [1]
