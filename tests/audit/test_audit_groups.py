"""Group assignment read from the real feature table's frequency columns (69 ACMG genes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vipredict.audit.groups import NOT_OBSERVED, UNKNOWN, assign_groups
from vipredict.audit.sets import LABELLED_SETS, load_set
from vipredict.config import Settings
from vipredict.features.frequency import DEFAULT_GROUPS, GRPMAX_EXCLUDED
from vipredict.featurestore import FeatureStore
from vipredict.readers.popfreq import gene_of_export
from vipredict.sources import sources_matching


@pytest.fixture(scope="module")
def clingen(trained_home: Settings):
    return load_set(FeatureStore.load(trained_home), LABELLED_SETS[0])


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
