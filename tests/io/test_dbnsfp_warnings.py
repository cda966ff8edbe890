"""``annotation_warnings`` of dbNSFP cells with padding, several transcripts and refused columns.

The vectorised parser strips and checks only the tokens a warning can come from
(tokens that are not numbers; refused cells where the score is missing). These
SYNTHETIC rows put the text a warning quotes, or a missing token, behind
padding and between transcripts, so a token left unstripped, or a refused
cell read where the score is given, shows as a wrong warning. The expected
texts are what the per-row parser gave for the same rows (the oracle in
tests/io/readers/test_dbnsfp_vectorised.py agrees with every row here).
"""

from __future__ import annotations

import pandas as pd
import pytest

from vipredict.io.readers.dbnsfp import dbnsfp_annotations
from vipredict.io.readers.vep import WARNINGS

COLUMNS = ["#chr", "pos(1-coor)", "ref", "alt", "SIFT_score", "Polyphen2_HDIV_score",
           "Polyphen2_HVAR_score", "FATHMM_score", "MutPred_score", "CADD_phred"]  # fmt: skip
HDIV = "polyphen2_score: only Polyphen2_HDIV_score given (training used HumVar), left missing"
MUTPRED = "mutpred2_score: MutPred_score is MutPred v1, not MutPred2, left missing"

ROWS = [
    # a padded word before a number: named, stripped; a padded '.' is missing, not named
    ({"SIFT_score": " high ;0.2", "CADD_phred": " . ;\t4.5"},
     "sift_score: non-numeric SIFT_score value 'high' ignored"),
    ({"SIFT_score": " . ;0.2", "FATHMM_score": "x; y ;1"},
     "fathmm_score: non-numeric FATHMM_score value 'x' ignored"),
    # HDIV beside a given HVAR: not named; MutPred v1 given in a later transcript: named
    ({"Polyphen2_HDIV_score": "0.9", "Polyphen2_HVAR_score": "0.5", "MutPred_score": ".;0.4"},
     MUTPRED),
    # only separators and missing tokens, whichever of ';', ',' and '&' split them
    ({"Polyphen2_HDIV_score": " , ", "MutPred_score": ".;.,."}, ""),
    ({"Polyphen2_HDIV_score": "&0.3", "MutPred_score": " ; ;NA"}, HDIV),
    ({"Polyphen2_HDIV_score": ".", "MutPred_score": "x"}, MUTPRED),
]  # fmt: skip


def _table() -> pd.DataFrame:
    lines = [
        {"#chr": "1", "pos(1-coor)": str(200 + i), "ref": "A", "alt": "G", **cells}
        for i, (cells, _) in enumerate(ROWS)
    ]
    return pd.DataFrame([{c: line.get(c, ".") for c in COLUMNS} for line in lines], dtype=str)


@pytest.mark.parametrize("arrow", [False, True])
def test_warnings_name_stripped_tokens_and_refused_cells_only_where_the_score_is_missing(
    arrow: bool,
) -> None:
    raw = _table()
    if arrow:
        import pyarrow as pa

        raw = pa.Table.from_pandas(raw, preserve_index=False)
    found = dbnsfp_annotations(raw, "GRCh37", "synthetic rows")
    assert found[WARNINGS].tolist() == [warning for _, warning in ROWS]
    assert found["sift_score"].tolist()[:2] == [0.2, 0.2]
    assert found["polyphen2_score"].tolist()[2] == 0.5
