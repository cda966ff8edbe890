"""Opening the files users bring, and writing JSON reports: one way each.

Compressed input is told by its magic bytes, never by its suffix (public files
named ``.vcf`` are sometimes gzipped, and the reverse), and every reader, the
annotator, the streaming ingest and the service's upload decoding use the same
test. JSON reports go through :func:`json_safe`, because JSON has no NaN and a
validation report holds infinite likelihood ratios.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

#: First two bytes of every gzip member (BGZF included).
GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: Path) -> bool:
    """gzip (or BGZF) is told by its magic bytes, not by the file's suffix."""
    with Path(path).open("rb") as probe:
        return probe.read(2) == GZIP_MAGIC


def is_plain_gzip(path: Path) -> bool:
    """True for gzip that is not BGZF (no ``BC`` extra field), which htslib cannot open."""
    with Path(path).open("rb") as handle:
        head = handle.read(16)
    if head[:2] != GZIP_MAGIC:
        return False
    has_extra = bool(head[3] & 0x04)
    return not (has_extra and head[12:14] == b"BC")


def open_text(path: Path, newline: str | None = None) -> TextIO:
    """Open a plain or gzip text file (told by :func:`is_gzip`).

    ``newline=""`` keeps line ends as written (no universal newlines), for readers
    that end records at ``\n`` only, as uploads are split.
    """
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline=newline)
    return Path(path).open(encoding="utf-8", errors="replace", newline=newline)


def json_safe(value: Any) -> Any:
    """Plain JSON values, recursively: non-finite floats and ``pd.NA`` become null (JSON has
    no NaN; an infinite LR in a validation report is one), numpy values become Python's."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA:
        return None
    return value


def dump_json(payload: Any, path: Path) -> None:
    """Write ``payload`` as indented JSON, folders made as needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
