"""Ranking on SYNTHETIC scores (the tiny home): orders, reasons, filters, gene lists, frequencies.

The scores, frequencies and genes are made up; what is tested is the queue's logic
on top of the real scorer: every ordering, every filter, the settle formula and
the reason each item gives for its rank.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vipredict.acmg import POINTS
from vipredict.config import Settings
from vipredict.model.scorer import RESULT_COLUMNS
from vipredict.queue.genes import (
    VALIDITY_FILE,
    GeneContext,
    GeneList,
    acmg_sf,
    load_gene_context,
    parse_gene_validity,
)
from vipredict.queue.ranking import (
    ITEM_COLUMNS,
    ORDERINGS,
    QueueFilters,
    QueueInputError,
    af_band,
    binary_entropy,
    describe,
    rank,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _scored_part(items: pd.DataFrame) -> pd.DataFrame:
    return items[items["error"] == ""]


def _non_increasing(values: pd.Series) -> bool:
    array = values.to_numpy(dtype=float)
    return bool(np.all(np.diff(array) <= 1e-12))


def _settle_queue(items: pd.DataFrame, genes: GeneContext | None = None) -> pd.DataFrame:
    return rank(items, "settle", QueueFilters(), genes or GeneContext())


def test_items_carry_the_scorer_answer_before_the_queue_facts(ranked: pd.DataFrame):
    """Synthetic queue: every result column (BA1/BS1/PM2, next_level, error_detail) is kept."""
    assert ITEM_COLUMNS[: len(RESULT_COLUMNS) + 1] == ("rank", *RESULT_COLUMNS)
    assert list(ranked.columns) == list(ITEM_COLUMNS)
    assert {"BA1", "BS1", "PM2_Supporting", "next_level", "error_detail"} <= set(ITEM_COLUMNS)


def test_default_queue_orders_by_settle_with_failures_last(ranked: pd.DataFrame):
    """Synthetic queue: ranks 1..n, settle non-increasing, named failures last without a level."""
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
    assert (ranked.loc[failed, "error_detail"] != "").all()
    unknown = ranked.set_index("input").loc["GRCh37:1:1:A:G"]  # keeps its key, named error
    assert (unknown["variant"], unknown["error"]) == ("GRCh37:1:1:A:G", "no_features")
    assert ranked.loc[failed, "next_level"].isna().all()  # an error heads to no level


@pytest.mark.parametrize("by", ORDERINGS)
def test_each_ordering_sorts_by_what_its_reason_says(items: pd.DataFrame, by: str):
    """Synthetic items, each ordering: sorted by its key, and each reason names it."""
    queue = _scored_part(rank(items, by, QueueFilters(), GeneContext()))
    key = {
        "settle": queue["settle"],
        "posterior": queue["posterior"],
        "uncertainty": queue["uncertainty"],
        "evidence": queue["points"].abs(),
    }[by]
    assert _non_increasing(key)
    assert queue["reason"].str.startswith(tuple(f"#{r} by {by}: " for r in queue["rank"])).all()


def test_settle_is_agreement_weighted_points_plus_frequency_points(ranked: pd.DataFrame):
    """Synthetic queue: settle = |points x agreement + frequency points| x ACMG factor."""
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
    """Synthetic queue: the points column is the Tavtigian points of the evidence code."""
    for evidence, points in zip(ranked["evidence"], ranked["points"], strict=True):
        assert points == POINTS.get(evidence, 0)


def test_acmg_gene_multiplies_settle(
    scorer, scored: pd.DataFrame, features: pd.DataFrame, ranked: pd.DataFrame
):
    """Synthetic BRCA1/TP53 items (on the ACMG SF list) weigh 1.25 times as much as without it."""
    with_list = ranked.set_index("input")
    empty = GeneContext(acmg=GeneList("none", "0", "", "", frozenset()))
    without = _settle_queue(describe(scored, features, empty, scorer.bs1_faf), empty)
    without = without.set_index("input")
    acmg = with_list[with_list["acmg_sf"] & (with_list["settle"] > 0)].index
    assert len(acmg) > 10
    assert set(with_list.loc[acmg, "gene"]) <= {"BRCA1", "TP53"}
    ratio = with_list.loc[acmg, "settle"] / without.loc[acmg, "settle"]
    assert np.allclose(ratio, 1.25)
    assert with_list.loc[acmg, "reason"].str.contains("ACMG SF v3.2 gene").all()
    assert not without["reason"].str.contains("ACMG SF").any()


def test_acmg_sf_list_is_the_published_81_genes():
    genes = acmg_sf()
    assert len(genes.genes) == 81 and genes.label == "ACMG SF v3.2"
    assert {"CALM1", "CALM2", "CALM3", "BRCA1", "TTN", "TMEM127"} <= genes.genes
    assert "PLN" not in genes.genes  # added only in v3.3
    assert genes.doi == "10.1016/j.gim.2023.100866"


def test_frequency_facts_come_from_the_store(features: pd.DataFrame, ranked: pd.DataFrame):
    """Synthetic frequencies: groups observed, bands and PM2 read from the store's rows."""
    observed = ranked[ranked["groups_observed"] != ""]
    assert len(observed) > 50
    rows = features.set_index("variant")
    listed = observed.set_index("variant")["groups_observed"].str.split(",").explode()
    for group, keys in listed.groupby(listed):
        counts = rows.loc[keys.index, [f"gnomad_{group}_ac", f"exac_{group}_ac"]]
        assert (np.nanmax(counts.to_numpy(dtype=float), axis=1) > 0).all(), group
    assert set(ranked["af_band"]) >= {"absent", "unknown"}
    absent = rows.index[rows["gnomad_observed"] == 0]
    assert (ranked.set_index("variant").loc[absent, "af_band"] == "absent").all()
    met = ranked[ranked["frequency_evidence"].str.contains("PM2")]
    assert len(met) and (met["max_af"] < 1e-4).all() and (met["frequency_points"] >= 1).all()


def test_frequency_evidence_matches_the_result_columns(ranked: pd.DataFrame):
    """Synthetic queue: the queue's met criteria are the scorer's BA1/PM2_Supporting columns."""
    scored = _scored_part(ranked)
    criteria = scored["frequency_evidence"].str.split(",")
    assert (scored["BA1"] == "met").any()  # the invented export has common variants
    assert ((scored["BA1"] == "met") == criteria.map(lambda c: "BA1" in c)).all()
    pm2 = scored["PM2_Supporting"] == "met"
    assert (pm2 == criteria.map(lambda c: "PM2_Supporting" in c)).all()
    assert (scored.loc[scored["BA1"] == "met", "frequency_points"] == -8).all()


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
def test_filters_keep_only_matching_items(items: pd.DataFrame, filters, check):
    """Synthetic items: each filter keeps only what it names, re-ranked from 1."""
    queue = rank(items, "settle", QueueFilters.create(**filters), GeneContext())
    assert 0 < len(queue) < len(items) and check(queue)
    assert queue["rank"].tolist() == list(range(1, len(queue) + 1))


def test_gene_filter(items: pd.DataFrame, ranked: pd.DataFrame):
    """Synthetic items: a gene filter (any case) keeps exactly that gene's items."""
    gene = ranked["gene"].dropna().value_counts().index[0]
    queue = rank(items, "settle", QueueFilters.create(genes=[gene.lower()]), GeneContext())
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


def test_unknown_ordering_is_named(items: pd.DataFrame):
    with pytest.raises(QueueInputError) as caught:
        rank(items, "alphabetical", QueueFilters(), GeneContext())
    assert caught.value.reason == "invalid_by"


def test_clingen_validity_export_keeps_strongest_classification():
    text = (FIXTURES / "clingen_validity_banner_and_repeats.csv").read_text()
    validity = parse_gene_validity(text)
    assert validity == {"BRCA1": "definitive", "MYH7": "strong", "OBSCN": "limited"}


def test_validity_file_in_home_raises_established_genes(
    scorer, scored: pd.DataFrame, features: pd.DataFrame, ranked: pd.DataFrame, tmp_path: Path
):
    """Synthetic items: a ClinGen validity file dropped in the home weighs a SYN gene 1.25x."""
    gene = ranked.loc[(ranked["settle"] > 0) & ~ranked["acmg_sf"], "gene"].iloc[0]
    (tmp_path / VALIDITY_FILE).write_text(f"gene\tclassification\n{gene}\tModerate\n")
    context = load_gene_context(Settings(home=tmp_path, data_mirror=None))
    assert context.validity_source == str(tmp_path / VALIDITY_FILE)
    queue = _settle_queue(describe(scored, features, context, scorer.bs1_faf), context)
    queue = queue.set_index("input")
    before = ranked.set_index("input")
    of_gene = queue["gene"] == gene
    assert (queue.loc[of_gene, "gene_validity"] == "moderate").all()
    hits = queue.index[of_gene & (queue["error"] == "")]  # failed items are not ranked at all
    assert len(hits)
    assert np.allclose(queue.loc[hits, "settle"], before.loc[hits, "settle"] * 1.25)
    assert queue.loc[hits, "reason"].str.contains("ClinGen validity moderate").all()
