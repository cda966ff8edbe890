"""FrequencyFeatures: FAF95, group-max exclusions, and observed / not observed / unknown."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import poisson
from sklearn.pipeline import Pipeline, make_union

from vipredict.features.aachange import AminoAcidChangeFeatures
from vipredict.features.frequency import (
    DEFAULT_GROUPS,
    FEATURES,
    SUMMARY_COLUMNS,
    FrequencyFeatures,
    faf95,
    frequency_specs,
    frequency_summary,
    with_input_frequencies,
)
from vipredict.features.spec import spec_names
from vipredict.schema import SchemaError

GNOMAD, EXAC = "gnomad_2017_browser", "exac_browser"
V_FIN = "GRCh37:13:1:A:G"  # frequent only in Finns
V_NFE = "GRCh37:13:2:A:G"  # rare everywhere, sas has AN 0, amr row absent
V_ZERO = "GRCh37:13:3:A:G"  # in the export with AC 0 everywhere
V_ABSENT = "GRCh37:13:4:A:G"  # BRCA2 covered, not in the export
V_UNCOVERED = "GRCh37:1:5:A:G"  # gene not covered


def _long(rows: list[tuple[str, str, str, int, int | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["variant", "dataset", "group", "ac", "an"])
    frame["ac"] = frame["ac"].astype("Int64")
    frame["an"] = frame["an"].astype("Int64")
    frame["hom"] = pd.array([0] * len(frame), dtype="Int64")
    return frame


def _full(variant: str, dataset: str, counts: dict[str, tuple[int, int]]) -> list:
    return [(variant, dataset, g, ac, an) for g, (ac, an) in counts.items()]


BASE = {g: (0, 10_000) for g in DEFAULT_GROUPS}
FREQUENCIES = _long(
    _full(V_FIN, GNOMAD, BASE | {"fin": (500, 10_000), "nfe": (1, 10_000)})
    + _full(V_NFE, GNOMAD, {g: c for g, c in BASE.items() if g != "amr"}
            | {"nfe": (10, 100_000), "sas": (0, 0), "afr": (1, 10_000)})
    + _full(V_ZERO, GNOMAD, BASE)
    + _full(V_FIN, EXAC, BASE | {"fin": (300, 6_000)})
)  # fmt: skip
COVERED = {GNOMAD: {"BRCA2"}, EXAC: {"BRCA2"}}


@pytest.fixture(scope="module")
def annotations(make_annotations: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    genes = {V_UNCOVERED: "TTN"}
    rows = [
        {"variant": v, "gene": genes.get(v, "BRCA2"), "af_global": 1e-4}
        for v in (V_FIN, V_NFE, V_ZERO, V_ABSENT, V_UNCOVERED)
    ]
    return make_annotations(rows).set_index(pd.Index(list("abcde")))


@pytest.fixture(scope="module")
def out(annotations: pd.DataFrame) -> pd.DataFrame:
    features = FrequencyFeatures(FREQUENCIES, covered_genes=COVERED)
    return features.fit(annotations).transform(annotations).set_axis(
        annotations["variant"].tolist()
    )


def _poisson_lower_bound(ac: int, an: int) -> float:
    """Independent FAF: the AF at which P(X >= AC | Poisson(AF * AN)) = 5%."""
    if ac == 0:
        return 0.0
    rate = brentq(lambda lam: poisson.sf(ac - 1, lam) - 0.05, 1e-12, 10.0 * ac + 10.0)
    return rate / an


@pytest.mark.parametrize(
    ("ac", "an", "hand"),
    [(1, 10_000, 5.13e-6), (10, 100_000, 5.43e-5), (2, 1_000, 3.55e-4), (0, 5_000, 0.0)],
)
def test_faf95_matches_hand_values_and_poisson_root(ac: int, an: int, hand: float) -> None:
    value = faf95(np.array([ac]), np.array([an]))[0]
    assert value == pytest.approx(hand, rel=2e-3, abs=1e-12)
    assert value == pytest.approx(_poisson_lower_bound(ac, an), rel=1e-6, abs=1e-12)


@pytest.mark.parametrize(("ac", "an"), [(1, 0), (3, np.nan), (np.nan, 100)])
def test_faf95_unknown_without_called_alleles(ac: float, an: float) -> None:
    assert np.isnan(faf95(np.array([ac]), np.array([an]))[0])


def test_declared_columns() -> None:
    names = spec_names(FEATURES)
    assert len(names) == 2 * (8 * 4 + 4) + 1
    assert names[:4] == ["gnomad_afr_ac", "gnomad_afr_an", "gnomad_afr_af", "gnomad_afr_faf95"]
    assert names[32:36] == [
        "gnomad_grpmax_af", "gnomad_grpmax_faf95", "gnomad_n_groups_observed", "gnomad_observed"
    ]  # fmt: skip
    assert names[36] == "exac_afr_ac" and names[-1] == "af_global"


def test_grpmax_excludes_finnish(out: pd.DataFrame) -> None:
    row = out.loc[V_FIN]
    assert row["gnomad_fin_af"] == pytest.approx(0.05)
    assert row["gnomad_grpmax_af"] == pytest.approx(1e-4)  # nfe, not fin
    assert row["gnomad_grpmax_faf95"] == pytest.approx(_poisson_lower_bound(1, 10_000))
    assert row["exac_grpmax_af"] == 0.0
    assert row["gnomad_n_groups_observed"] == 2
    assert row["gnomad_observed"] == 1


@pytest.mark.parametrize("group", ["asj", "oth", "fin"])
def test_grpmax_ignores_each_bottlenecked_group(
    annotations: pd.DataFrame, group: str
) -> None:
    table = _long(_full(V_FIN, GNOMAD, BASE | {group: (900, 10_000)}))
    got = FrequencyFeatures(table, datasets=(GNOMAD,)).fit_transform(annotations)
    assert got["gnomad_grpmax_af"].iloc[0] == 0.0
    assert got[f"gnomad_{group}_af"].iloc[0] == pytest.approx(0.09)


def test_grpmax_needs_called_alleles(out: pd.DataFrame) -> None:
    row = out.loc[V_NFE]
    assert np.isnan(row["gnomad_sas_af"]) and row["gnomad_sas_an"] == 0
    assert np.isnan(row[["gnomad_amr_ac", "gnomad_amr_an", "gnomad_amr_af"]]).all()
    assert row["gnomad_grpmax_af"] == pytest.approx(1e-4)  # afr 1/10000 ties nfe 10/100000
    assert row["gnomad_grpmax_faf95"] == pytest.approx(5.43e-5, rel=2e-3)  # nfe's FAF wins


@pytest.mark.parametrize(
    ("variant", "observed", "ac", "an", "af", "grpmax"),
    [
        (V_ZERO, 0.0, 0.0, 10_000.0, 0.0, 0.0),
        (V_ABSENT, 0.0, 0.0, np.nan, 0.0, 0.0),
        (V_UNCOVERED, np.nan, np.nan, np.nan, np.nan, np.nan),
    ],
    ids=["in-export-ac0", "not-observed", "unknown"],
)
def test_not_observed_differs_from_unknown(
    out: pd.DataFrame, variant: str, observed: float, ac: float, an: float, af: float,
    grpmax: float,
) -> None:
    row = out.loc[variant]
    got = row[["gnomad_observed", "gnomad_nfe_ac", "gnomad_nfe_an", "gnomad_nfe_af",
               "gnomad_grpmax_af"]].to_numpy(dtype=float)  # fmt: skip
    np.testing.assert_array_equal(got, [observed, ac, an, af, grpmax])


def test_covered_callable_matches_mapping(annotations: pd.DataFrame, out: pd.DataFrame) -> None:
    def covered(dataset: str, frame: pd.DataFrame) -> pd.Series:
        return frame["gene"] == "BRCA2"

    got = FrequencyFeatures(FREQUENCIES, covered_genes=covered).fit_transform(annotations)
    pd.testing.assert_frame_equal(got.set_axis(out.index), out)


def test_without_frequencies_everything_is_unknown(annotations: pd.DataFrame) -> None:
    got = FrequencyFeatures(None, covered_genes=COVERED).fit_transform(annotations)
    assert got.drop(columns="af_global").isna().all().all()
    assert (got["af_global"] == 1e-4).all()


def test_index_and_dtypes_preserved(annotations: pd.DataFrame) -> None:
    got = FrequencyFeatures(FREQUENCIES, covered_genes=COVERED).fit_transform(annotations)
    assert got.index.tolist() == list("abcde")
    assert (got.dtypes == "float64").all()


def test_custom_groups_and_datasets_schema(annotations: pd.DataFrame) -> None:
    features = FrequencyFeatures(FREQUENCIES, datasets=(EXAC,), groups=("nfe", "fin", "mid"))
    got = features.fit_transform(annotations)
    assert list(got.columns) == spec_names(frequency_specs((EXAC,), ("nfe", "fin", "mid")))
    assert got.loc["a", "exac_fin_af"] == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("frequencies", "message"),
    [
        (FREQUENCIES.drop(columns="an"), "an"),
        (FREQUENCIES.assign(group="martian"), "martian"),
        (pd.concat([FREQUENCIES, FREQUENCIES.head(1)]), "repeats"),
    ],
    ids=["missing-column", "unknown-group", "duplicate"],
)
def test_frequency_table_validated(
    annotations: pd.DataFrame, frequencies: pd.DataFrame, message: str
) -> None:
    with pytest.raises(SchemaError, match=message):
        FrequencyFeatures(frequencies).fit(annotations)


@pytest.mark.parametrize("column", ["variant", "gene", "af_global"])
def test_annotation_columns_validated(annotations: pd.DataFrame, column: str) -> None:
    with pytest.raises(SchemaError, match=column):
        FrequencyFeatures(FREQUENCIES).transform(annotations.drop(columns=[column]))


def test_prefix_collision_refused(annotations: pd.DataFrame) -> None:
    with pytest.raises(SchemaError, match="prefix"):
        FrequencyFeatures(FREQUENCIES, datasets=(GNOMAD, "gnomad_v2")).fit(annotations)


def test_inside_pipeline_and_union(annotations: pd.DataFrame) -> None:
    frequency = FrequencyFeatures(FREQUENCIES, covered_genes=COVERED)
    pipe = Pipeline([("frequency", frequency)]).set_output(transform="pandas")
    assert pipe.fit_transform(annotations).shape == (5, len(FEATURES))
    annotations = annotations.assign(aa_ref="R", aa_alt="P")
    union = make_union(frequency, AminoAcidChangeFeatures()).set_output(transform="pandas")
    assert union.fit_transform(annotations).shape == (5, len(FEATURES) + 11)


# --------------------------------------------------------------------------- input frequencies
# Long tables as a user's input gives them (a CSQ's gnomAD AFs, a sites VCF's counts):
# SYNTHETIC rows, each built to make one rule decide.

V_INPUT = "GRCh38:1:100:A:G"  # only the input knows it
V_STORE = "GRCh37:13:1:A:G"  # the store's V_FIN


def _input_long(rows: list[tuple[str, str, str, float | None, float | None, float | None]]):
    frame = pd.DataFrame(rows, columns=["variant", "dataset", "group", "ac", "an", "af"])
    return frame.astype({"ac": "float64", "an": "float64", "af": "float64"})


AF_ONLY = _input_long(
    [(V_INPUT, "gnomADv3", g, None, None, af) for g, af in
     (("afr", 0.2), ("nfe", 0.0), ("asj", 0.5), ("ami", 0.3))]
    + [(V_INPUT, "gnomADv3", "all", 4000.0, 100_000.0, 0.04)]
)  # fmt: skip


@pytest.mark.parametrize("ac", [1, 2, 5, 30, 400, 10_000])
def test_faf95_never_exceeds_the_af(ac: int) -> None:
    """Why an AF alone can rule BA1/BS1 out: FAF95 is a lower bound on the AF."""
    for an in (ac, 2 * ac, 50 * ac, 10_000 * ac):
        assert faf95(np.array([ac]), np.array([an]))[0] < ac / an


def test_af_only_groups_get_their_af_and_no_faf(annotations: pd.DataFrame) -> None:
    rows = pd.DataFrame({"variant": [V_INPUT], "gene": ["X"], "af_global": [np.nan]})
    groups = (*DEFAULT_GROUPS, "ami")
    got = FrequencyFeatures(AF_ONLY, datasets=("gnomADv3",), groups=groups).fit_transform(rows)
    row = got.iloc[0]
    assert row["gnomADv3_afr_af"] == 0.2 and np.isnan(row["gnomADv3_afr_faf95"])
    assert np.isnan(row["gnomADv3_afr_ac"]) and np.isnan(row["gnomADv3_afr_an"])
    assert row["gnomADv3_grpmax_af"] == 0.2  # asj and ami are bottlenecked: left out
    assert np.isnan(row["gnomADv3_grpmax_faf95"])
    assert row["gnomADv3_observed"] == 1 and row["gnomADv3_n_groups_observed"] == 3
    assert np.isnan(row["gnomADv3_eas_af"])  # not given: no row, unknown


def test_summary_of_an_af_only_input() -> None:
    features = pd.DataFrame({"variant": [V_INPUT, "GRCh38:1:101:A:G"]})
    s = frequency_summary(features, AF_ONLY)
    first = s.iloc[0]
    assert np.isnan(first["freq_grpmax_faf95"])  # no counts for any eligible group
    assert first["freq_faf95_bound"] == 0.2 and first["freq_faf95_bound_group"] == "gnomADv3:afr"
    assert first["freq_max_af"] == 0.5 and first["freq_max_af_group"] == "gnomADv3:asj"
    assert first["freq_pooled_af"] == 0.04 and first["freq_pooled_af_group"] == "gnomADv3:all"
    assert first["freq_groups_observed"] == "afr,ami,asj"
    assert first["frequency_source"] == "gnomADv3 (input)"
    second = s.iloc[1]  # the input says nothing about it: unknown everywhere
    values = second[["freq_faf95_bound", "freq_max_af", "freq_pooled_af"]].astype(float)
    assert np.isnan(values).all()
    assert second["freq_faf95_bound_group"] is None and second["frequency_source"] == ""


def test_summary_pools_store_and_input(out: pd.DataFrame) -> None:
    store = out.loc[[V_STORE]].reset_index(drop=True).assign(variant=V_STORE)
    counted = _input_long(
        [(V_STORE, "gnomADe", "sas", 400.0, 10_000.0, None),
         (V_STORE, "gnomADe", "nfe", 0.0, 10_000.0, None)]
    )  # fmt: skip
    s = frequency_summary(store, counted).iloc[0]
    assert s["freq_grpmax_faf95_group"] == "gnomADe:sas"  # the input's sas beats the store's nfe
    assert s["freq_grpmax_faf95"] == pytest.approx(faf95(np.array([400]), np.array([10_000]))[0])
    # PM2 takes every group: the store's Finns (5%) beat the input's sas (4%).
    assert s["freq_max_af"] == 0.05 and s["freq_max_af_group"] in ("gnomad:fin", "exac:fin")
    assert s["frequency_source"] == "exac_browser;gnomADe (input);gnomad_2017_browser"
    alone = frequency_summary(store).iloc[0]
    assert alone["freq_grpmax_faf95_group"] == "gnomad:nfe"


def test_input_frequencies_lend_empty_priority_columns_only(out: pd.DataFrame) -> None:
    store = out.reset_index(names="variant")
    counted = _input_long(
        [(v, "gnomADv3", "afr", 3.0, 1000.0, None) for v in (V_STORE, V_UNCOVERED)]
        + [(V_UNCOVERED, "gnomADv3", "nfe", None, None, 0.001)]
    )
    got = with_input_frequencies(store, counted).set_index("variant")
    # The store knows V_FIN's gnomAD groups: kept. V_UNCOVERED had none: lent.
    assert got.loc[V_STORE, "gnomad_afr_ac"] == 0
    assert got.loc[V_UNCOVERED, ["gnomad_afr_ac", "gnomad_afr_an"]].tolist() == [3, 1000]
    assert got.loc[V_UNCOVERED, "gnomad_nfe_af"] == 0.001
    assert got.loc[V_UNCOVERED, "gnomad_observed"] == 1
    assert np.isnan(got.loc[V_UNCOVERED, "exac_afr_ac"])  # no ExAC in the input
    lent = "priority model: gnomad_* from gnomADv3 (input)"
    assert lent in got.loc[V_UNCOVERED, "frequency_source"]
    assert "priority model" not in got.loc[V_STORE, "frequency_source"]
    # The criteria's summary was taken before the loan: it names the input, not "gnomad".
    assert got.loc[V_UNCOVERED, "freq_grpmax_faf95_group"] == "gnomADv3:afr"
    assert set(got.columns) >= set(SUMMARY_COLUMNS) and len(got) == len(store)


def test_all_group_is_accepted_and_never_a_feature(annotations: pd.DataFrame) -> None:
    overall = pd.DataFrame([(V_FIN, GNOMAD, "all", 501, 80_000)], columns=FREQUENCIES.columns[:5])
    table = pd.concat([FREQUENCIES, overall])
    got = FrequencyFeatures(table, covered_genes=COVERED).fit_transform(annotations)
    assert not [c for c in got.columns if "_all_" in c]
