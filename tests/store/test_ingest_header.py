"""A dbNSFP file that cannot be keyed is refused by its header, before anything streams.

Made-up headers (only the column names matter); the CLI test writes header-only files.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vipredict.cli import app
from vipredict.io.readers.dbnsfp import check_header

V2 = ["#chr", "pos(1-coor)", "ref", "alt", "aaref", "aaalt", "hg18_pos(1-coor)", "SIFT_score"]
V4 = ["#chr", "pos(1-based)", "ref", "alt", "hg19_chr", "hg19_pos(1-based)", "REVEL_score"]


@pytest.mark.parametrize(
    ("columns", "build"), [(V2, "GRCh37"), (V4, "GRCh38"), (V4, "GRCh37"), (V4, "hg19")]
)
def test_a_keyable_header_passes(columns: list[str], build: str) -> None:
    check_header(columns, build)


@pytest.mark.parametrize(
    ("columns", "build", "message"),
    [
        (V2, "GRCh38", "v2 files carry GRCh37"),
        ([c for c in V4 if c != "alt"], "GRCh38", "no 'alt' column"),
        ([c for c in V4 if c not in ("ref", "alt")], "GRCh38", "no 'ref' or 'alt' column"),
        ([c for c in V4 if not c.startswith("hg19")], "GRCh37", "no 'hg19_pos(1-based)'"),
        (["a", "b"], "GRCh38", "not a dbNSFP table"),
    ],
)
def test_what_a_header_lacks_is_named(columns: list[str], build: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_header(columns, build)


def test_add_dbnsfp_refuses_the_file_at_once(tmp_path) -> None:
    path = tmp_path / "no_alt.tsv"
    path.write_text("\t".join(c for c in V4 if c != "alt") + "\n")
    done = CliRunner().invoke(app, ["add-dbnsfp", str(path), "--store", str(tmp_path / "s")])
    assert done.exit_code == 2
    assert "no_alt.tsv: not a dbNSFP table: no 'alt' column" in " ".join(done.output.split())
    assert not (tmp_path / "s").exists()  # nothing read, nothing written
