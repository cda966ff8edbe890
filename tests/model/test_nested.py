"""Band likelihood ratios and the nested cross-validation that chooses the evidence design.

The band arithmetic is checked on hand-made codes whose LRs are worked out in the
test; the nested run on the SYNTHETIC tiny rows (fast tier), for what it must
guarantee whatever the data: no variant is scored by a profile whose source it
lost, and every fold's figures come from variants outside that fold's training.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from synthetic import CONFIG as TINY_CONFIG
from synthetic import DATASET as TINY_DATASET

from vipredict.acmg import CLINGEN_LR
from vipredict.config import Settings
from vipredict.features.sets import load_feature_set
from vipredict.model.evaluation import band_coverage_and_lr, coverage_and_lr
from vipredict.model.nested import nested_evaluation, profile_codes, scenarios_of
from vipredict.model.training import mask_sources, train_profiles
from vipredict.store.partitioned import Store


def test_a_band_counts_only_its_own_code_and_mirrors_bp4():
    """10 P/LP and 20 B/LB. PP3_Supporting: 3 P, 1 B: (3/10)/(1/20) = 6.0 >= 2.406, holds.
    PP3_Strong: 2 P, 0 B: inf. BP4_Moderate: 10 B, 1 P: (10/20)/(1/10) = 5.0 < 5.79, fails."""
    labels = np.array([1] * 10 + [0] * 20)
    codes = np.array(["none"] * 30, dtype=object)
    codes[[0, 1, 2]] = "PP3_Supporting"
    codes[[10]] = "PP3_Supporting"
    codes[[3, 4]] = "PP3_Strong"
    codes[11:21] = "BP4_Moderate"
    codes[[5]] = "BP4_Moderate"
    bands = band_coverage_and_lr(codes, labels)
    assert set(bands) == {"PP3_Supporting", "PP3_Strong", "BP4_Moderate"}
    assert bands["PP3_Supporting"]["lr"] == pytest.approx(6.0)
    assert bands["PP3_Supporting"]["share"] == pytest.approx(0.3)
    assert bands["PP3_Supporting"]["holds"]
    assert bands["PP3_Strong"]["lr"] == math.inf and bands["PP3_Strong"]["holds"]
    assert bands["BP4_Moderate"]["lr"] == pytest.approx(5.0)
    assert bands["BP4_Moderate"]["clingen_lr"] == pytest.approx(CLINGEN_LR["Moderate"])
    assert not bands["BP4_Moderate"]["holds"]
    # Cumulative counting lets the Strong band carry Supporting: (5/10)/(1/20) = 10.
    _, cumulative = coverage_and_lr(codes, labels)
    assert cumulative["PP3_Supporting"] == pytest.approx(10.0)


@pytest.fixture(scope="module")
def tiny_rows(tiny_home: Settings) -> pd.DataFrame:
    """The labelled SYNTHETIC rows of the tiny home's store."""
    return Store.open(tiny_home).dataset_rows(TINY_DATASET, labelled=True).reset_index(drop=True)


@pytest.fixture(scope="module")
def fast_config():
    return replace(
        TINY_CONFIG, n_bootstrap=50, lightgbm={**TINY_CONFIG.lightgbm, "n_estimators": 10}
    )


def test_a_variant_that_lost_a_source_is_never_scored_by_a_profile_that_needs_it(
    tiny_rows, fast_config
):
    """SYNTHETIC rows: after blanking each source, no row is routed to a profile naming it."""
    noaf = load_feature_set("noaf")
    profiles, _ = train_profiles(tiny_rows, noaf, fast_config)
    needs = {p.name: set(p.sources) for p in noaf.profiles}
    for name, blanked in scenarios_of(noaf).items():
        _, posterior, routes = profile_codes(profiles, mask_sources(tiny_rows, blanked))
        assert all(not (needs[r] & set(blanked)) for r in routes if r), name
        assert np.isnan(posterior[routes == ""]).all()
        assert not np.isnan(posterior[routes != ""]).any()


def test_nested_evaluation_reports_every_scenario_and_profile(tiny_rows, fast_config):
    """SYNTHETIC rows: every scenario and profile has its table; as annotated, the rows
    routed to the profiles add up to the rows scored."""
    noaf = load_feature_set("noaf")
    report = nested_evaluation(tiny_rows, noaf, fast_config, outer_folds=3)
    assert set(report["profiles"]) == set(scenarios_of(noaf))
    assert set(report["single_model"]) == set(scenarios_of(noaf))
    assert set(report["by_profile"]) == {p.name for p in noaf.profiles}
    routed = sum(report["by_profile"][p]["n"] for p in report["by_profile"])
    assert routed == round(report["profiles"]["as_annotated"]["scored"] * len(tiny_rows))
    for summary in report["profiles"].values():
        assert summary["all_bands_hold"] == all(b["holds"] for b in summary["bands"].values())
    # Losing every source but the smallest profile's can only lower the share scored.
    smallest = noaf.profiles[-1].name
    assert (
        report["profiles"][f"only_{smallest}"]["scored"]
        <= report["profiles"]["as_annotated"]["scored"]
    )


def test_nested_evaluation_measures_only_the_profiles_the_config_trains(tiny_rows, fast_config):
    """SYNTHETIC rows: with ``profiles`` set, the scenarios and ``by_profile`` are those of
    the selected profiles, as ``vipredict train`` would register them."""
    noaf = load_feature_set("noaf")
    picked = ("clingen", "cadd_conservation")
    config = replace(fast_config, profiles=picked)
    report = nested_evaluation(tiny_rows, noaf, config, outer_folds=3, with_single=False)
    selected = replace(noaf, profiles=tuple(p for p in noaf.profiles if p.name in picked))
    assert set(report["profiles"]) == set(scenarios_of(selected))
    assert list(report["by_profile"]) == list(picked)
