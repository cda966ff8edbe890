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
    FrequencyFeatures,
    faf95,
    frequency_specs,
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
