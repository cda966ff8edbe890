"""AminoAcidChangeFeatures: published tables checked against the papers, NaN for unknowns."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest
from sklearn.pipeline import make_union

from vipredict.features.aachange import (
    AMINO_ACIDS,
    BLOSUM62,
    CHARGE_PH7,
    FEATURES,
    GRANTHAM,
    KYTE_DOOLITTLE,
    ZAMYATNIN_VOLUME,
    AminoAcidChangeFeatures,
)
from vipredict.features.conservation import ConservationFeatures
from vipredict.features.functional import FunctionalFeatures
from vipredict.features.spec import spec_names
from vipredict.schema import SchemaError


@pytest.mark.parametrize(
    ("a", "b", "score"),
    [("W", "W", 11), ("C", "C", 9), ("H", "H", 8), ("A", "A", 4), ("R", "P", -2),
     ("I", "V", 3), ("D", "E", 2), ("W", "Y", 2), ("F", "P", -4), ("G", "I", -4),
     ("A", "*", -4), ("*", "*", 1)],
)  # fmt: skip
def test_blosum62_spot_values(a: str, b: str, score: int) -> None:
    assert BLOSUM62[(a, b)] == BLOSUM62[(b, a)] == score


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("C", "W", 215), ("R", "P", 103), ("L", "I", 5), ("S", "R", 110), ("Y", "V", 55),
     ("D", "E", 45), ("R", "K", 26), ("C", "K", 202), ("F", "C", 205), ("M", "W", 67)],
)  # fmt: skip
def test_grantham_spot_values(a: str, b: str, distance: int) -> None:
    assert GRANTHAM[(a, b)] == GRANTHAM[(b, a)] == distance


def test_tables_cover_20_amino_acids_symmetrically() -> None:
    pairs = list(itertools.product(AMINO_ACIDS, repeat=2))
    assert all(GRANTHAM[(a, b)] == GRANTHAM[(b, a)] for a, b in pairs)
    assert all(BLOSUM62[(a, b)] == BLOSUM62[(b, a)] for a, b in pairs)
    assert all(GRANTHAM[(a, a)] == 0 for a in AMINO_ACIDS)
    distinct = {frozenset(pair) for pair in pairs if pair[0] != pair[1]}
    assert len(distinct) == 190
    assert min(GRANTHAM[tuple(p)] for p in distinct) == 5  # type: ignore[index]
    assert max(GRANTHAM.values()) == 215
    for table in (KYTE_DOOLITTLE, ZAMYATNIN_VOLUME, CHARGE_PH7):
        assert set(table) == set(AMINO_ACIDS)


@pytest.mark.parametrize(
    ("table", "residue", "value"),
    [(KYTE_DOOLITTLE, "I", 4.5), (KYTE_DOOLITTLE, "R", -4.5), (KYTE_DOOLITTLE, "G", -0.4),
     (ZAMYATNIN_VOLUME, "G", 60.1), (ZAMYATNIN_VOLUME, "W", 227.8),
     (CHARGE_PH7, "D", -1.0), (CHARGE_PH7, "K", 1.0), (CHARGE_PH7, "H", 0.0)],
)  # fmt: skip
def test_property_spot_values(table: dict[str, float], residue: str, value: float) -> None:
    assert table[residue] == value


NAN = math.nan
# ref, alt, then expected features in FEATURES order.
CASES = [
    ("R", "P", [-2, 103, 2.9, -60.7, -1, 1, 0, 0, 0, 0, 0]),
    ("G", "C", [-3, 159, 2.9, 48.4, 0, 0, 1, 0, 0, 1, 0]),
    ("C", "*", [-4, NAN, NAN, NAN, NAN, 0, 0, 0, 1, 0, 1]),
    ("P", "L", [-3, 98, 5.4, 54.0, 0, 0, 0, 1, 0, 0, 0]),
    ("X", "A", [NAN, NAN, NAN, NAN, NAN, 0, NAN, NAN, 0, NAN, NAN]),
    ("A", None, [NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, NAN, NAN, NAN]),
    ("w", "w", [11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
]


@pytest.mark.parametrize(("ref", "alt", "expected"), CASES)
def test_transform_values(ref: str, alt: str | None, expected: list[float]) -> None:
    frame = pd.DataFrame({"aa_ref": [ref], "aa_alt": [alt]}, dtype="string")
    out = AminoAcidChangeFeatures().fit_transform(frame)
    assert list(out.columns) == spec_names(FEATURES)
    assert out.iloc[0].tolist() == pytest.approx(expected, nan_ok=True)


@pytest.mark.parametrize("column", ["aa_ref", "aa_alt"])
def test_missing_input_column_is_named(column: str) -> None:
    frame = pd.DataFrame({"aa_ref": ["A"], "aa_alt": ["G"]}).drop(columns=[column])
    with pytest.raises(SchemaError, match=column):
        AminoAcidChangeFeatures().transform(frame)


@pytest.mark.e2e  # the real ClinGen 2019 set (seconds to read)
def test_real_clingen_2019_through_union(clingen_2019: pd.DataFrame) -> None:
    union = make_union(
        ConservationFeatures(), FunctionalFeatures(), AminoAcidChangeFeatures()
    ).set_output(transform="pandas")
    out = union.fit_transform(clingen_2019)
    assert out.shape == (11_834, 5 + 10 + 11)
    assert not any(c.endswith(("revel_score", "bayesdel_noaf_score")) for c in out.columns)
    aa = out.filter(like="aminoacidchangefeatures__")
    assert aa.filter(like="grantham").notna().all().all()  # missense only, all 20 residues
    assert aa.filter(like="to_stop").sum().item() == 0
    assert 0.15 < out.filter(like="sift_score").isna().mean().item() < 0.25
