"""``vipredict predict``: a file of variants in, one result row per variant out (TSV).

VCF and TSV inputs are looked up in the feature store; VEP VCFs (``CSQ``), VEP tab
and dbNSFP inputs are scored from their own annotations
(:func:`vipredict.io.inputs.read_inputs`). A bad record is a row with a named
error, never a stopped file. The build is the VCF header's unless ``build`` is
given, and a header that disagrees with it answers ``build_conflict``. The columns are
:data:`vipredict.model.scorer.RESULT_COLUMNS`, the same as the service's TSV, less
those of a guideline version the deployment does not report (``VIPREDICT_GUIDELINES``:
:func:`vipredict.model.scorer.reported_columns`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from vipredict.config import get_settings
from vipredict.io.inputs import read_inputs, with_sites_frequencies
from vipredict.model.scorer import Scorer, reported_columns


def predict_file(
    scorer: Scorer,
    path: Path,
    fmt: str | None = None,
    build: str | None = None,
    frequencies: Path | None = None,
) -> pd.DataFrame:
    """Results of every variant of ``path`` (format detected when ``fmt`` is None; build
    from a VCF's header when ``build`` is None, else GRCh37); ``frequencies``: a
    gnomAD/ExAC sites VCF whose per-group counts feed BA1/BS1/PM2."""
    inputs = with_sites_frequencies(read_inputs(path, fmt, build), frequencies)
    return scorer.score_inputs(inputs)


def results_tsv(results: pd.DataFrame, guidelines: Sequence[str] | None = None) -> str:
    """The results as TSV text in the declared column order (missing values empty).

    ``guidelines``: the versions whose columns to write (default: the settings', i.e.
    ``VIPREDICT_GUIDELINES``; a caller holding a :class:`Scorer` passes its own).
    """
    chosen = get_settings().guidelines if guidelines is None else guidelines
    return results[reported_columns(chosen)].to_csv(sep="\t", index=False, na_rep="")


def write_predictions(
    results: pd.DataFrame, output: Path, guidelines: Sequence[str] | None = None
) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(results_tsv(results, guidelines))
