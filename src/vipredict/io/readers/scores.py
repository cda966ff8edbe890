"""Score files of the ClinGen calibration tool: ``score<TAB>label`` and one column of scores.

The reference implementation (``vpejaver/clingen-svi-comp_calibration``) reads
headerless TSVs; ``vipredict calibrate`` takes the same files so a curator can
calibrate any predictor's scores without reformatting them. A bad line is an
error naming the file and the line, never a silently skipped score.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def _parse_float(text: str, path: Path, line_no: int) -> float:
    """A finite float, or a ValueError naming the offending line."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}:{line_no}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}:{line_no}: score must be finite, got {text!r}")
    return value


def _data_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Non-blank lines split on tabs, with 1-based line numbers for error messages."""
    with Path(path).open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if line.strip():
                yield line_no, line.rstrip("\r\n").split("\t")


def read_scores_tsv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Scores and 1/0 labels from a headerless two-column TSV (the reference tool's format)."""
    path = Path(path)
    scores: list[float] = []
    labels: list[int] = []
    for line_no, fields in _data_lines(path):
        if len(fields) != 2:
            raise ValueError(f"{path}:{line_no}: expected 2 tab-separated columns")
        if fields[1].strip() not in ("0", "1"):
            raise ValueError(f"{path}:{line_no}: label must be 1 or 0, got {fields[1]!r}")
        scores.append(_parse_float(fields[0], path, line_no))
        labels.append(int(fields[1]))
    return np.asarray(scores, dtype=float), np.asarray(labels, dtype=np.int64)


def read_unlabelled_tsv(path: str | Path) -> np.ndarray:
    """Scores from a headerless one-column file of unlabelled (e.g. gnomAD) variants."""
    path = Path(path)
    scores: list[float] = []
    for line_no, fields in _data_lines(path):
        if len(fields) != 1:
            raise ValueError(f"{path}:{line_no}: expected 1 column")
        scores.append(_parse_float(fields[0], path, line_no))
    return np.asarray(scores, dtype=float)
