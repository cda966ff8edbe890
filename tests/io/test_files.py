"""Opening the files users bring and writing JSON reports (``vipredict.io.files``)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from vipredict.io.files import dump_json, is_gzip, is_plain_gzip, json_safe, open_text

TEXT = "##fileformat=VCFv4.2\n1\t5\t.\tA\tG\t.\t.\tNOTE=é\n"


def _bgzf(path: Path) -> Path:
    with pysam.BGZFile(str(path), "wb") as handle:
        handle.write(TEXT.encode())
    return path


@pytest.mark.parametrize(
    ("name", "make", "gzipped", "plain_gzip"),
    [
        ("plain.vcf.gz", lambda p: p.write_text(TEXT), False, False),  # named .gz, is not
        ("zipped.vcf", lambda p: p.write_bytes(gzip.compress(TEXT.encode())), True, True),
        ("bgzf.vcf.gz", _bgzf, True, False),
    ],
)
def test_compression_is_told_by_magic_bytes_not_by_name(
    tmp_path: Path, name: str, make, gzipped: bool, plain_gzip: bool
) -> None:
    path = tmp_path / name
    make(path)
    assert (is_gzip(path), is_plain_gzip(path)) == (gzipped, plain_gzip)
    with open_text(path) as handle:
        assert handle.read() == TEXT


def test_open_text_replaces_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"caf\xe9\n")
    with open_text(path) as handle:
        assert handle.read() == "caf\ufffd\n"


def test_json_safe_makes_plain_json_values() -> None:
    value = {
        "lr": math.inf, "nan": float("nan"), "na": pd.NA, 3: np.float64(0.5),
        "ints": np.array([1, 2]), "nested": [(np.int64(7), -math.inf)], "text": "x",
    }  # fmt: skip
    safe = json_safe(value)
    assert safe == {
        "lr": None, "nan": None, "na": None, "3": 0.5, "ints": [1, 2],
        "nested": [[7, None]], "text": "x",
    }  # fmt: skip
    assert type(safe["ints"][0]) is int
    json.dumps(safe, allow_nan=False)  # strict JSON accepts it


def test_dump_json_makes_folders_and_writes_numpy_values(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "deep" / "report.json"
    dump_json({"n": np.int64(3), "values": np.array([0.25, 0.5])}, path)
    assert json.loads(path.read_text()) == {"n": 3, "values": [0.25, 0.5]}
    assert path.read_text().endswith("}\n")
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        dump_json({"x": object()}, tmp_path / "bad.json")
