"""``vipredict predict``: a file of variants in, one result row per variant out (TSV).

VCF and TSV inputs are looked up in the feature store; VEP and dbNSFP inputs are
scored from their own annotations (:func:`vipredict.io.inputs.read_inputs`). A
bad record is a row with a named error, never a stopped file. The columns are
:data:`vipredict.model.scorer.RESULT_COLUMNS`, the same as the service's TSV.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vipredict.io.inputs import DEFAULT_BUILD, read_inputs
from vipredict.model.scorer import RESULT_COLUMNS, Scorer


def predict_file(
    scorer: Scorer, path: Path, fmt: str | None = None, build: str = DEFAULT_BUILD
) -> pd.DataFrame:
    """Results of every variant of ``path`` (format detected when ``fmt`` is None)."""
    return scorer.score_inputs(read_inputs(path, fmt, build))


def results_tsv(results: pd.DataFrame) -> str:
    """The results as TSV text in the declared column order (missing values empty)."""
    return results[list(RESULT_COLUMNS)].to_csv(sep="\t", index=False, na_rep="")


def write_predictions(results: pd.DataFrame, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(results_tsv(results))
