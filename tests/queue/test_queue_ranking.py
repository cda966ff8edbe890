"""Ranking on real scores: orders, reasons, filters, gene lists and frequency facts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vipredict.calibration import POINTS
from vipredict.config import Settings
from vipredict.queue.build import QueueSpec, rank_scored
from vipredict.queue.genes import (
    VALIDITY_FILE,
    GeneContext,
    GeneList,
    acmg_sf,
    load_gene_context,
    parse_gene_validity,
)
from vipredict.queue.ranking import (
    ORDERINGS,
    QueueFilters,
    QueueInputError,
    af_band,
    binary_entropy,
)
from vipredict.scoring import Scorer

FIXTURES = Path(__file__).parent / "fixtures"


def _scored_part(items: pd.DataFrame) -> pd.DataFrame:
    return items[items["error"] == ""]


def _non_increasing(values: pd.Series) -> bool:
    array = values.to_numpy(dtype=float)
    return bool(np.all(np.diff(array) <= 1e-12))


def test_default_queue_orders_by_settle_with_failures_last(ranked: pd.DataFrame):
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    failed = ranked["error"] != ""
    assert failed.sum() >= 2 and failed.to_numpy()[-int(failed.sum()) :].all()
    assert _non_increasing(_scored_part(ranked)["settle"])
    top = ranked.iloc[0]
    assert top["reason"].startswith(f"#1 by settle: settle {top['settle']:.2f}; ")
    assert set(ranked.loc[failed, "reason"].str.extract(r"not ranked: (\w+)")[0]) >= {
        "no_features",
        "malformed_record",
    }


@pytest.mark.parametrize("by", ORDERINGS)
def test_each_ordering_sorts_by_what_its_reason_says(scorer: Scorer, scored, by: str):
    items = _scored_part(rank_scored(scorer, scored, QueueSpec(by=by), GeneContext()))
    key = {
        "settle": items["settle"],
        "posterior": items["posterior"],
        "uncertainty": items["uncertainty"],
        "evidence": items["points"].abs(),
    }[by]
    assert _non_increasing(key)
    assert items["reason"].str.startswith(tuple(f"#{r} by {by}: " for r in items["rank"])).all()


def test_settle_is_agreement_weighted_points_plus_frequency_points(ranked: pd.DataFrame):
    items = _scored_part(ranked)
    weighted = items["points"] * items["agreement"].fillna(0) + items["frequency_points"]
    factor = 1 + 0.25 * items["acmg_sf"].astype(float)
    assert np.allclose(items["settle"], weighted.abs() * factor)
    pp3 = items[items["evidence"].str.startswith("PP3")]
    bp4 = items[items["evidence"].str.startswith("BP4")]
    assert len(pp3) and len(bp4)
    assert np.allclose(pp3["agreement"], pp3["priority_score"])
    assert np.allclose(bp4["agreement"], 1 - bp4["priority_score"])
    assert items.loc[items["evidence"] == "none", "agreement"].isna().all()


def test_points_agree_with_evidence(ranked: pd.DataFrame):
    for evidence, points in zip(ranked["evidence"], ranked["points"], strict=True):
        assert points == POINTS.get(evidence, 0)


def test_acmg_gene_multiplies_settle(scorer: Scorer, scored):
    with_list = rank_scored(scorer, scored, QueueSpec(), GeneContext()).set_index("input")
    empty = GeneList("none", "0", "", "", frozenset())
    without = rank_scored(scorer, scored, QueueSpec(), GeneContext(acmg=empty)).set_index("input")
    acmg = with_list[with_list["acmg_sf"] & (with_list["settle"] > 0)].index
    assert len(acmg) > 10
    ratio = with_list.loc[acmg, "settle"] / without.loc[acmg, "settle"]
    assert np.allclose(ratio, 1.25)
    assert with_list.loc[acmg, "reason"].str.contains("ACMG SF v3.2 gene").all()


def test_acmg_sf_list_is_the_published_81_genes():
    genes = acmg_sf()
    assert len(genes.genes) == 81 and genes.label == "ACMG SF v3.2"
    assert {"CALM1", "CALM2", "CALM3", "BRCA1", "TTN", "TMEM127"} <= genes.genes
    assert "PLN" not in genes.genes  # added only in v3.3
    assert genes.doi == "10.1016/j.gim.2023.100866"


def test_frequency_facts_come_from_the_store(scorer: Scorer, ranked: pd.DataFrame):
    observed = ranked[ranked["groups_observed"] != ""]
    assert len(observed) > 50
    features = scorer.store.lookup(observed["variant"]).set_index("variant")
    for key, groups in zip(observed["variant"], observed["groups_observed"], strict=True):
        for group in groups.split(","):
            counts = features.loc[key, [f"gnomad_{group}_ac", f"exac_{group}_ac"]]
            assert np.nanmax(counts.to_numpy(dtype=float)) > 0
    assert set(ranked["af_band"]) >= {"absent", "unknown"}
    met = ranked[ranked["frequency_evidence"].str.contains("PM2")]
    assert (met["max_af"] < 1e-4).all() and (met["frequency_points"] >= 1).all()


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (float("nan"), "unknown"),
        (0.0, "absent"),
        (5e-5, "ultra_rare"),
        (1e-4, "rare"),
        (0.0099, "rare"),
        (0.01, "low_frequency"),
        (0.05, "common"),
    ],
)
def test_af_band_edges(value: float, band: str):
    assert af_band(value) == band


def test_binary_entropy_peaks_at_one_half():
    values = binary_entropy(np.array([0.5, 0.0, 1.0, 0.1]))
    assert values[0] == pytest.approx(1.0) and values[1] < 1e-9 and values[2] < 1e-9
    assert math.isnan(binary_entropy(np.array([np.nan]))[0])


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"evidence": ["bp4"]}, lambda q: q["evidence"].str.startswith("BP4").all()),
        (
            {"evidence": ["PP3_Strong", "none"]},
            lambda q: q["evidence"].isin(["PP3_Strong", "none"]).all(),
        ),
        (
            {"groups": ["AFR"]},
            lambda q: q["groups_observed"].str.split(",").map(lambda g: "afr" in g).all(),
        ),
        ({"af_bands": ["absent"]}, lambda q: (q["max_af"] == 0).all()),
    ],
)
def test_filters_keep_only_matching_items(scorer: Scorer, scored, filters, check):
    spec = QueueSpec(filters=QueueFilters.create(**filters))
    queue = rank_scored(scorer, scored, spec, GeneContext())
    assert len(queue) > 0 and check(queue)
    assert queue["rank"].tolist() == list(range(1, len(queue) + 1))


def test_gene_filter(scorer: Scorer, scored, ranked: pd.DataFrame):
    gene = ranked["gene"].dropna().value_counts().index[0]
    spec = QueueSpec(filters=QueueFilters.create(genes=[gene.lower()]))
    queue = rank_scored(scorer, scored, spec, GeneContext())
    assert (queue["gene"] == gene).all()
    assert len(queue) == (ranked["gene"] == gene).sum()


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"evidence": ["PP9"]}, "invalid_evidence"),
        ({"groups": ["martian"]}, "invalid_group"),
        ({"af_bands": ["often"]}, "invalid_af_band"),
    ],
)
def test_bad_filter_values_are_named(kwargs, reason):
    with pytest.raises(QueueInputError) as caught:
        QueueFilters.create(**kwargs)
    assert caught.value.reason == reason


def test_unknown_ordering_is_named(scorer: Scorer, scored):
    with pytest.raises(QueueInputError) as caught:
        rank_scored(scorer, scored, QueueSpec(by="alphabetical"), GeneContext())
    assert caught.value.reason == "invalid_by"


def test_clingen_validity_export_keeps_strongest_classification():
    text = (FIXTURES / "clingen_validity_banner_and_repeats.csv").read_text()
    validity = parse_gene_validity(text)
    assert validity == {"BRCA1": "definitive", "MYH7": "strong", "OBSCN": "limited"}


def test_validity_file_in_home_raises_established_genes(scorer: Scorer, scored, ranked, tmp_path):
    gene = ranked.loc[(ranked["settle"] > 0) & ~ranked["acmg_sf"], "gene"].iloc[0]
    (tmp_path / VALIDITY_FILE).write_text(f"gene\tclassification\n{gene}\tModerate\n")
    context = load_gene_context(Settings(home=tmp_path, data_mirror=None))
    assert context.validity_source == str(tmp_path / VALIDITY_FILE)
    queue = rank_scored(scorer, scored, QueueSpec(), context).set_index("input")
    before = ranked.set_index("input")
    hits = queue.index[queue["gene"] == gene]
    assert np.allclose(queue.loc[hits, "settle"], before.loc[hits, "settle"] * 1.25)
    assert queue.loc[hits, "reason"].str.contains("ClinGen validity moderate").all()
