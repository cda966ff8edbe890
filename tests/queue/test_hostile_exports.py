"""Exports of queues whose text a hostile client chose (issue 16: safe exports).

A curator's note and a queue's name are free text from the HTTP API; the exports
go to spreadsheets and genome tools. A table cell must never be a formula
(OWASP CSV injection: ``=``, ``+``, ``-``, ``@``, tab or CR first get a ``'``),
while numbers stay numbers; a VCF header value must never close its quotes or
its ``<...>``, nor start a new line under any reading of "line". Exports are a
CLI step (``vipredict queue export``), not an HTTP route, so no service is asked.
"""

from __future__ import annotations

import io
from dataclasses import replace
from urllib.parse import unquote

import pandas as pd
import pysam
import pytest

from vipredict.queue.export import export_text, keyed_items
from vipredict.queue.store import Decision, QueueRecord, QueueStore

FORMULAS = ("=HYPERLINK(\"http://x\",\"y\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
            "\t=1", "\r=1")  # fmt: skip
HOSTILE_NAME = 'q" Evil=1>\n##INFO=<ID=EVIL,Number=0,Type=Flag,Description="x">\u2028\\end\x85'
#: Characters ``str.splitlines`` ends a line at, beyond ``\n`` and ``\r``.
LINE_BREAKS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"


@pytest.fixture
def hostile(store: QueueStore, ranked: pd.DataFrame) -> tuple[QueueRecord, list[str]]:
    """The synthetic queue under a hostile name; one formula note per keyed item."""
    queue_id = store.save(
        ranked, name=HOSTILE_NAME, ordering="settle", filters={}, source="t", models={}
    )
    keys = ranked.loc[ranked["error"] == "", "variant"].astype(str).tolist()[: len(FORMULAS)]
    for key, note in zip(keys, FORMULAS, strict=True):
        store.decide(queue_id, Decision.create(key, "defer", "cur-1", note))
    return store.load(queue_id), keys


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_hostile_formula_notes_are_neutralised_in_tables(hostile, fmt: str):
    record, keys = hostile
    negative = record.items["score"].notna().idxmax()
    items = record.items.copy()
    items.loc[negative, "score"] = -0.5  # a negative number: a number, not a formula
    text = export_text(replace(record, items=items), fmt)
    table = pd.read_csv(
        io.StringIO(text), sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False
    ).set_index("variant")
    notes = [table.loc[key, "note"] for key in keys]
    assert notes == [f"'{note}" for note in FORMULAS]
    assert table["score"].iloc[int(negative)] == "-0.5"
    assert len(table) == len(record.items)  # a lone CR in a note starts no row
    for column in table.columns:  # no cell of any column starts a formula
        assert not table[column].str.match(r"[=+@\t\r]").any(), column
        assert not table[column].str.match(r"-(?![0-9.])").any(), column


def test_hostile_vcf_header_values_cannot_open_a_line_or_close_a_field(hostile, tmp_path):
    record, _keys = hostile
    text = export_text(record, "vcf")
    lines = text.split("\n")
    assert text.splitlines() == lines[:-1]  # no \u2028, \x85, ... inside any line
    assert not any(ch in text for ch in LINE_BREAKS)
    header = [line for line in lines if line.startswith("##")]
    assert not any(line.startswith("##INFO=<ID=EVIL") for line in header)
    (queue_line,) = [line for line in header if line.startswith("##vipredict_queue=")]
    assert queue_line.endswith('">') and queue_line.count(">") == 1
    name = queue_line.split('Name="', 1)[1][: -len('">')]
    assert not set(name) & set('"\\<>\n') and unquote(name) == HOSTILE_NAME
    (tmp_path / "q.vcf").write_text(text)
    with pysam.VariantFile(str(tmp_path / "q.vcf")) as vcf:
        assert "EVIL" not in vcf.header.info
        assert len(list(vcf)) == len(keyed_items(record.items))


def test_hostile_a_line_breaking_note_stays_inside_its_vcf_record(store, ranked):
    queue_id = store.save(ranked, name="n", ordering="settle", filters={}, source="t", models={})
    key = str(ranked.loc[ranked["error"] == "", "variant"].iloc[0])
    note = "one\u2028two\x85three\x1cfour\ffive"
    store.decide(queue_id, Decision.create(key, "defer", "cur-1", note))
    text = export_text(store.load(queue_id), "vcf")
    assert text.splitlines() == text.split("\n")[:-1]
    (record,) = [line for line in text.splitlines() if "VIPQ_NOTE=" in line]
    encoded = record.split("VIPQ_NOTE=", 1)[1].split(";", 1)[0]
    assert unquote(encoded) == note
