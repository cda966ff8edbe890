"""``vipredict calibrate``: ClinGen's calibration of any predictor's scores, from its files.

Reads the reference tool's formats (:mod:`vipredict.io.readers.scores`), runs
:class:`~vipredict.model.calibration.LocalPosteriorCalibrator` and writes the
thresholds and curves as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

from vipredict.io.readers.scores import read_scores_tsv, read_unlabelled_tsv
from vipredict.model.calibration import CalibrationResult, LocalPosteriorCalibrator


def calibrate_files(
    labelled: Path,
    unlabelled: Path | None,
    reverse: bool,
    output: Path,
    n_bootstrap: int = 10_000,
) -> CalibrationResult:
    """Calibrate from the reference tool's file formats and write the result as JSON."""
    scores, labels = read_scores_tsv(labelled)
    unl = None if unlabelled is None else read_unlabelled_tsv(unlabelled)
    calibrator = LocalPosteriorCalibrator(n_bootstrap=n_bootstrap, reverse=reverse)
    result = calibrator.fit(scores, labels, unl).result_
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
    return result
