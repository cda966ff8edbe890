"""Amino-acid change family: physico-chemical distance between reference and alternate residue.

All values come from published tables, declared once below as data and parsed
at import, so the numbers can be checked line by line against the papers:

* BLOSUM62 — Henikoff S, Henikoff JG (1992) PNAS 89:10915-10919; the NCBI
  ``BLOSUM62`` file (rows/columns of the 20 amino acids plus ``*``).
* Grantham distance — Grantham R (1974) Science 185:862-864, Table 1 (upper
  triangle, in Grantham's own residue order). Symmetric, 190 distinct pairs.
* Hydropathy — Kyte J, Doolittle RF (1982) J Mol Biol 157:105-132, Table 2.
* Residue volume — Zamyatnin AA (1972) Prog Biophys Mol Biol 24:107-123 (Å^3).
* Side-chain charge at pH 7 — D, E = -1; K, R = +1; all others 0 (His, pKa
  about 6.0, is taken as neutral).

Deltas are ``alt - ref`` so their sign carries meaning (e.g. a negative
``volume_delta`` is a cavity-creating substitution). Any residue outside the 20
standard amino acids (and ``*`` where the table has it) gives NaN rather than a
guess.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vipredict.features.base import SchemaTransformer
from vipredict.features.spec import FeatureSpec

FAMILY = "aachange"
AMINO_ACIDS = "ARNDCQEGHILKMFPSTWYV"
STOP = "*"

BLOSUM62_TEXT = """
   A  R  N  D  C  Q  E  G  H  I  L  K  M  F  P  S  T  W  Y  V  *
A  4 -1 -2 -2  0 -1 -1  0 -2 -1 -1 -1 -1 -2 -1  1  0 -3 -2  0 -4
R -1  5  0 -2 -3  1  0 -2  0 -3 -2  2 -1 -3 -2 -1 -1 -3 -2 -3 -4
N -2  0  6  1 -3  0  0  0  1 -3 -3  0 -2 -3 -2  1  0 -4 -2 -3 -4
D -2 -2  1  6 -3  0  2 -1 -1 -3 -4 -1 -3 -3 -1  0 -1 -4 -3 -3 -4
C  0 -3 -3 -3  9 -3 -4 -3 -3 -1 -1 -3 -1 -2 -3 -1 -1 -2 -2 -1 -4
Q -1  1  0  0 -3  5  2 -2  0 -3 -2  1  0 -3 -1  0 -1 -2 -1 -2 -4
E -1  0  0  2 -4  2  5 -2  0 -3 -3  1 -2 -3 -1  0 -1 -3 -2 -2 -4
G  0 -2  0 -1 -3 -2 -2  6 -2 -4 -4 -2 -3 -3 -2  0 -2 -2 -3 -3 -4
H -2  0  1 -1 -3  0  0 -2  8 -3 -3 -1 -2 -1 -2 -1 -2 -2  2 -3 -4
I -1 -3 -3 -3 -1 -3 -3 -4 -3  4  2 -3  1  0 -3 -2 -1 -3 -1  3 -4
L -1 -2 -3 -4 -1 -2 -3 -4 -3  2  4 -2  2  0 -3 -2 -1 -2 -1  1 -4
K -1  2  0 -1 -3  1  1 -2 -1 -3 -2  5 -1 -3 -1  0 -1 -3 -2 -2 -4
M -1 -1 -2 -3 -1  0 -2 -3 -2  1  2 -1  5  0 -2 -1 -1 -1 -1  1 -4
F -2 -3 -3 -3 -2 -3 -3 -3 -1  0  0 -3  0  6 -4 -2 -2  1  3 -1 -4
P -1 -2 -2 -1 -3 -1 -1 -2 -2 -3 -3 -1 -2 -4  7 -1 -1 -4 -3 -2 -4
S  1 -1  1  0 -1  0  0  0 -1 -2 -2  0 -1 -2 -1  4  1 -3 -2 -2 -4
T  0 -1  0 -1 -1 -1 -1 -2 -2 -1 -1 -1 -1 -2 -1  1  5 -2 -2  0 -4
W -3 -3 -4 -4 -2 -2 -3 -2 -2 -3 -2 -3 -1  1 -4 -3 -2 11  2 -3 -4
Y -2 -2 -2 -3 -2 -1 -2 -3  2 -1 -1 -2 -1  3 -3 -2 -2  2  7 -1 -4
V  0 -3 -3 -3 -1 -2 -2 -3 -3  3  1 -2  1 -1 -2 -2  0 -3 -1  4 -4
* -4 -4 -4 -4 -4 -4 -4 -4 -4 -4 -4 -4 -4 -4 -4 -4 -4 -4 -4 -4  1
"""

#: Grantham (1974) Table 1: row residue, then distances to every later column residue.
GRANTHAM_ORDER = "SRLPTAVGIFYCHQNKDEMW"
GRANTHAM_UPPER_TEXT = """
S 110 145  74  58  99 124  56 142 155 144 112  89  68  46 121  65  80 135 177
R 102 103  71 112  96 125  97  97  77 180  29  43  86  26  96  54  91 101
L  98  92  96  32 138   5  22  36 198  99 113 153 107 172 138  15  61
P  38  27  68  42  95 114 110 169  77  76  91 103 108  93  87 147
T  58  69  59  89 103  92 149  47  42  65  78  85  65  81 128
A  64  60  94 113 112 195  86  91 111 106 126 107  84 148
V 109  29  50  55 192  84  96 133  97 152 121  21  88
G 135 153 147 159  98  87  80 127  94  98 127 184
I  21  33 198  94 109 149 102 168 134  10  61
F  22 205 100 116 158 102 177 140  28  40
Y 194  83  99 143  85 160 122  36  37
C 174 154 139 202 154 170 196 215
H  24  68  32  81  40  87 115
Q  46  53  61  29 101 130
N  94  23  42 142 174
K 101  56  95 110
D  45 160 181
E 126 152
M  67
"""

#: Kyte & Doolittle (1982) hydropathy index (dimensionless; higher = more hydrophobic).
KYTE_DOOLITTLE: dict[str, float] = {
    "A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5, "E": -3.5,
    "G": -0.4, "H": -3.2, "I": 4.5, "L": 3.8, "K": -3.9, "M": 1.9, "F": 2.8,
    "P": -1.6, "S": -0.8, "T": -0.7, "W": -0.9, "Y": -1.3, "V": 4.2,
}  # fmt: skip

#: Zamyatnin (1972) mean residue volume in solution, Å^3.
ZAMYATNIN_VOLUME: dict[str, float] = {
    "A": 88.6, "R": 173.4, "N": 114.1, "D": 111.1, "C": 108.5, "Q": 143.8, "E": 138.4,
    "G": 60.1, "H": 153.2, "I": 166.7, "L": 166.7, "K": 168.6, "M": 162.9, "F": 189.9,
    "P": 112.7, "S": 89.0, "T": 116.1, "W": 227.8, "Y": 193.6, "V": 140.0,
}  # fmt: skip

#: Net side-chain charge at pH 7 (His taken as neutral).
CHARGE_PH7: dict[str, float] = {aa: 0.0 for aa in AMINO_ACIDS} | {
    "D": -1.0, "E": -1.0, "K": 1.0, "R": 1.0,
}  # fmt: skip


def parse_square_matrix(text: str) -> dict[tuple[str, str], float]:
    """Parse an NCBI-style square matrix (header row of residues, one row per residue)."""
    lines = [line.split() for line in text.strip().splitlines()]
    header = lines[0]
    table: dict[tuple[str, str], float] = {}
    for row in lines[1:]:
        for column, value in zip(header, row[1:], strict=True):
            table[(row[0], column)] = float(value)
    return table


def parse_upper_triangle(text: str, order: str) -> dict[tuple[str, str], float]:
    """Parse an upper-triangular distance table into a symmetric lookup with zero diagonal."""
    table: dict[tuple[str, str], float] = {(aa, aa): 0.0 for aa in order}
    for line in text.strip().splitlines():
        residue, *values = line.split()
        start = order.index(residue) + 1
        for other, value in zip(order[start:], values, strict=True):
            table[(residue, other)] = table[(other, residue)] = float(value)
    return table


BLOSUM62: dict[tuple[str, str], float] = parse_square_matrix(BLOSUM62_TEXT)
GRANTHAM: dict[tuple[str, str], float] = parse_upper_triangle(GRANTHAM_UPPER_TEXT, GRANTHAM_ORDER)


def _spec(name: str, unit: str, description: str) -> FeatureSpec:
    return FeatureSpec(name, "float64", unit, description, FAMILY, ("aa_ref", "aa_alt"))


FEATURES: tuple[FeatureSpec, ...] = (
    _spec("blosum62", "log-odds (half-bits)", "BLOSUM62 substitution score; lower = rarer."),
    _spec("grantham", "Grantham distance (0-215)", "Physico-chemical distance, Grantham 1974."),
    _spec("hydropathy_delta", "Kyte-Doolittle units", "Hydropathy of alt minus ref."),
    _spec("volume_delta", "Å^3", "Residue volume (Zamyatnin 1972) of alt minus ref."),
    _spec("charge_delta", "elementary charge", "Side-chain charge at pH 7 of alt minus ref."),
    _spec("to_proline", "flag (0/1)", "Alternate residue is proline (helix breaker)."),
    _spec("from_glycine", "flag (0/1)", "Reference residue is glycine (backbone flexibility)."),
    _spec("from_proline", "flag (0/1)", "Reference residue is proline."),
    _spec("to_stop", "flag (0/1)", "Alternate is a stop codon (nonsense, '*')."),
    _spec("cysteine_gain", "flag (0/1)", "Non-cysteine to cysteine (possible new disulfide)."),
    _spec("cysteine_loss", "flag (0/1)", "Cysteine to non-cysteine (possible lost disulfide)."),
)


#: The residues a row can name (the 20 amino acids, then stop); a code past the end is unknown.
ALPHABET = AMINO_ACIDS + STOP
UNKNOWN = len(ALPHABET)


def _residue_codes(series: pd.Series, allowed: str) -> np.ndarray:
    """Index in :data:`ALPHABET` of each upper-cased, stripped residue; :data:`UNKNOWN` for
    anything not in ``allowed`` (missing included).

    The text is cleaned once per distinct value (a chunk of 10^5 rows names a few
    dozen), and every table below is then read by indexing an array with the codes.
    """
    codes, distinct = pd.factorize(series.astype("string"))
    text = pd.Series(distinct, dtype="string").str.strip().str.upper()
    known = text.isin(list(allowed)).to_numpy(dtype=bool, na_value=False)
    lookup = np.full(len(distinct) + 1, UNKNOWN, dtype=np.intp)  # the last: missing (code -1)
    lookup[np.flatnonzero(known)] = [ALPHABET.index(r) for r in text[known]]
    return lookup[codes]


def _pair_matrix(table: dict[tuple[str, str], float]) -> np.ndarray:
    """``table`` as an :data:`ALPHABET` x :data:`ALPHABET` matrix, NaN for a pair it lacks
    and in the unknown row and column."""
    matrix = np.full((UNKNOWN + 1, UNKNOWN + 1), np.nan)
    for (first, second), value in table.items():
        matrix[ALPHABET.index(first), ALPHABET.index(second)] = value
    return matrix


def _property_vector(table: dict[str, float]) -> np.ndarray:
    """``table`` by :data:`ALPHABET` code, NaN for a residue it lacks and for unknown."""
    return np.array([table.get(r, np.nan) for r in ALPHABET] + [np.nan], dtype="float64")


_BLOSUM62 = _pair_matrix(BLOSUM62)
_GRANTHAM = _pair_matrix(GRANTHAM)
_HYDROPATHY = _property_vector(KYTE_DOOLITTLE)
_VOLUME = _property_vector(ZAMYATNIN_VOLUME)
_CHARGE = _property_vector(CHARGE_PH7)


def _flag(codes: np.ndarray, target: str, negate: bool = False) -> np.ndarray:
    """1.0/0.0 for whether each residue equals ``target``; NaN where the residue is unknown."""
    hit = codes == ALPHABET.index(target)
    return np.where(codes == UNKNOWN, np.nan, (~hit if negate else hit).astype("float64"))


def _both(
    ref: np.ndarray,
    ref_target: str,
    alt: np.ndarray,
    alt_target: str,
    negate_ref: bool = False,
    negate_alt: bool = False,
) -> np.ndarray:
    """Joint flag on ref and alt (e.g. cysteine gain = ref is not C and alt is C).

    NaN when either residue is unknown, because a gain or loss cannot be judged
    from one side of the substitution.
    """
    return _flag(ref, ref_target, negate_ref) * _flag(alt, alt_target, negate_alt)


class AminoAcidChangeFeatures(SchemaTransformer):
    """Published-table features of the ``aa_ref`` -> ``aa_alt`` substitution."""

    def required_columns(self) -> tuple[str, ...]:
        """The one-letter reference and alternate residues."""
        return ("aa_ref", "aa_alt")

    def feature_specs(self) -> tuple[FeatureSpec, ...]:
        """The module-level :data:`FEATURES`."""
        return FEATURES

    def _compute(self, X: pd.DataFrame) -> pd.DataFrame:
        ref = _residue_codes(X["aa_ref"], AMINO_ACIDS)
        alt = _residue_codes(X["aa_alt"], ALPHABET)
        alt_aa = np.where(alt == ALPHABET.index(STOP), UNKNOWN, alt)
        columns = {
            "blosum62": _BLOSUM62[ref, alt],
            "grantham": _GRANTHAM[ref, alt_aa],
            "hydropathy_delta": _HYDROPATHY[alt_aa] - _HYDROPATHY[ref],
            "volume_delta": _VOLUME[alt_aa] - _VOLUME[ref],
            "charge_delta": _CHARGE[alt_aa] - _CHARGE[ref],
            "to_proline": _flag(alt, "P"),
            "from_glycine": _flag(ref, "G"),
            "from_proline": _flag(ref, "P"),
            "to_stop": _flag(alt, STOP),
            "cysteine_gain": _both(ref, "C", alt, "C", negate_ref=True),
            "cysteine_loss": _both(ref, "C", alt, "C", negate_alt=True),
        }
        return pd.DataFrame(columns, index=X.index)
