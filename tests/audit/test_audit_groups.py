"""Group assignment: on hand-made frequency rows (no home), and on the REAL store's frequency
columns of the ClinGen rows (69 ACMG genes in the gnomAD exports; trained home, e2e)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vipredict.audit.groups import (
    EXCLUDED_ONLY,
    NOT_OBSERVED,
    UNKNOWN,
    assign_groups,
    group_order,
)
from vipredict.audit.sets import LABELLED_SETS, load_set
from vipredict.config import Settings
from vipredict.features.frequency import DEFAULT_GROUPS, GRPMAX_EXCLUDED
from vipredict.io.readers.popfreq import gene_of_export
from vipredict.io.sources import sources_matching
from vipredict.store.partitioned import Store

NAN = float("nan")


def hand_rows() -> pd.DataFrame:
    """Five made-up rows of ``gnomad_*`` columns, one per case the groupings tell apart.

    0: seen in afr, nfe and fin (fin is bottlenecked: not eligible for grpmax), group-max
       AF exactly 0.01% (a band edge); 1: seen in asj only; 2: gene covered, variant absent;
    3: no frequency data; 4: common in nfe. No ``sas`` column at all (as in ExAC's asj).
    """
    ac = {"afr": [2, 0, 0, NAN, 0], "nfe": [1, 0, 0, NAN, 400], "fin": [10, 0, 0, NAN, 0]}
    ac |= {"asj": [0, 3, 0, NAN, 0], "amr": [0, 0, 0, NAN, 0], "eas": [0, 0, 0, NAN, 0]}
    an = 20_000
    frame = {f"gnomad_{g}_ac": values for g, values in ac.items()}
    frame |= {f"gnomad_{g}_af": [v / an for v in values] for g, values in ac.items()}
    frame["gnomad_grpmax_af"] = [1e-4, NAN, NAN, NAN, 0.02]
    frame["gnomad_observed"] = [1, 1, 0, NAN, 1]
    return pd.DataFrame(frame)


def _labels(membership: pd.DataFrame, grouping: str) -> list:
    chosen = membership[membership["grouping"] == grouping]
    return chosen.sort_values("row")["group"].tolist()


def test_single_groupings_of_hand_rows():
    membership = assign_groups(hand_rows(), "gnomad")
    assert _labels(membership, "all") == ["all"] * 5
    assert _labels(membership, "grpmax_group") == [
        "afr",
        EXCLUDED_ONLY,
        NOT_OBSERVED,
        UNKNOWN,
        "nfe",
    ]
    bands = _labels(membership, "af_band")
    assert [bands[i] for i in (0, 2, 3, 4)] == [
        "0.01% ≤ AF < 0.1%",  # left-closed: exactly 1e-4 is in the upper band
        NOT_OBSERVED,
        UNKNOWN,
        "AF ≥ 1%",
    ]
    assert set(membership["group"]) <= set(group_order())


def test_observed_in_lists_every_group_of_hand_rows():
    membership = assign_groups(hand_rows(), "gnomad")
    observed_in = membership[membership["grouping"] == "observed_in"]
    groups: dict[int, set[str]] = {}
    for row, group in zip(observed_in["row"], observed_in["group"], strict=True):
        groups.setdefault(int(row), set()).add(str(group))
    assert groups == {
        0: {"afr", "nfe", "fin"},  # every group with an allele, eligible for grpmax or not
        1: {"asj"},
        2: {NOT_OBSERVED},
        3: {UNKNOWN},
        4: {"nfe"},
    }


@pytest.fixture(scope="module")
def clingen(trained_home: Settings):
    return load_set(Store.open(trained_home), LABELLED_SETS[0])


@pytest.fixture(scope="module")
def membership(clingen) -> pd.DataFrame:
    return assign_groups(clingen.freq, clingen.spec.prefix)


def _grouping(membership: pd.DataFrame, name: str) -> pd.Series:
    return membership[membership["grouping"] == name].set_index("row")["group"].sort_index()


def test_unknown_means_outside_the_69_exported_genes_and_not_listed(clingen, membership):
    genes = {gene_of_export(Path(s.path)) for s in sources_matching("gnomad_export_")}
    assert len(genes) == 69
    in_genes = clingen.rows["gene"].isin(genes).to_numpy()
    unknown = (_grouping(membership, "grpmax_group") == UNKNOWN).to_numpy()
    assert unknown.sum() > 1000
    assert not (unknown & in_genes).any()
    # Known outside the 69 genes only when an export lists the variant itself (ClinGen names
    # its gene differently): then the export gave an allele number.
    listed = clingen.freq.filter(regex=r"^gnomad_[a-z]+_an$").notna().any(axis=1).to_numpy()
    assert listed[~unknown & ~in_genes].all()


def test_grpmax_group_is_the_most_frequent_outbred_group(clingen, membership):
    grpmax = _grouping(membership, "grpmax_group")
    eligible = [g for g in DEFAULT_GROUPS if g not in GRPMAX_EXCLUDED]
    af = clingen.freq[[f"gnomad_{g}_af" for g in eligible]].to_numpy()
    observed = grpmax.isin(eligible).to_numpy()
    assert observed.sum() > 300
    best = np.asarray(eligible)[np.nanargmax(af[observed], axis=1)]
    assert (grpmax[observed].to_numpy() == best).all()
    top = np.nanmax(af[observed], axis=1)
    assert np.allclose(top, clingen.freq["gnomad_grpmax_af"].to_numpy()[observed])


def test_observed_in_lists_every_group_with_an_allele(clingen, membership):
    observed_in = membership[membership["grouping"] == "observed_in"]
    for group in ("afr", "nfe", "asj"):
        expected = np.flatnonzero(clingen.freq[f"gnomad_{group}_ac"].to_numpy() > 0)
        assert sorted(observed_in.loc[observed_in["group"] == group, "row"]) == list(expected)
    absent = (clingen.freq["gnomad_observed"] == 0).to_numpy()
    not_observed = observed_in.loc[observed_in["group"] == NOT_OBSERVED, "row"]
    assert sorted(not_observed) == list(np.flatnonzero(absent))


def test_every_row_has_one_band_and_one_grpmax_group(clingen, membership):
    for grouping in ("all", "grpmax_group", "af_band"):
        rows = membership.loc[membership["grouping"] == grouping, "row"]
        assert sorted(rows) == list(range(len(clingen.rows)))
