"""Exports of a SYNTHETIC queue (tiny home): CSV/TSV keep every item and its decision; the VCF
is read back by pysam and queried by bcftools (pysam's bundled copy always, the binary on PATH
when installed), its text percent-encoded."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pysam
import pytest

from vipredict.queue.export import (
    EXPORT_COLUMNS,
    ExportError,
    encode_info,
    keyed_items,
    write_export,
)
from vipredict.queue.ranking import ITEM_COLUMNS
from vipredict.queue.store import DECISION_COLUMNS, Decision, QueueRecord, QueueStore
from vipredict.variants import CANONICAL_CONTIGS


@pytest.fixture
def decided(store: QueueStore, ranked: pd.DataFrame) -> tuple[QueueRecord, str]:
    """The synthetic queue stored, one item rejected with a note full of reserved characters."""
    queue_id = store.save(
        ranked, name="export test; v1", ordering="settle", filters={}, source="test", models={}
    )
    key = str(ranked.loc[ranked["error"] == "", "variant"].iloc[2])
    store.decide(queue_id, Decision.create(key, "reject", "cur-9", "seen; in 3 = families, ok"))
    return store.load(queue_id), key


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_tables_keep_every_item_with_its_decision(decided, tmp_path: Path, fmt: str):
    record, key = decided
    output = tmp_path / f"queue.{fmt}"
    assert write_export(record, fmt, output) == len(record.items)
    table = pd.read_csv(output, sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False)
    assert list(table.columns) == list(EXPORT_COLUMNS) == [*ITEM_COLUMNS, *DECISION_COLUMNS]
    assert table["rank"].astype(int).tolist() == record.items["rank"].tolist()
    row = table.set_index("variant").loc[key]
    assert (row["decision"], row["curator"]) == ("reject", "cur-9")
    assert row["note"] == "seen; in 3 = families, ok"
    scored = table[table["error"] == ""]
    assert set(scored["BA1"]) >= {"met", "not_met"} and (scored["model"] == "vipredict-noaf").all()


def test_a_note_across_lines_is_still_one_row(store: QueueStore, ranked: pd.DataFrame, tmp_path):
    queue_id = store.save(ranked, name="n", ordering="settle", filters={}, source="t", models={})
    key = str(ranked.loc[ranked["error"] == "", "variant"].iloc[0])
    store.decide(queue_id, Decision.create(key, "defer", "cur-1", "line one\nline two"))
    record = store.load(queue_id)
    assert write_export(record, "csv", tmp_path / "q.csv") == len(record.items)
    table = pd.read_csv(tmp_path / "q.csv", dtype=str, keep_default_na=False)
    assert table.set_index("variant").loc[key, "note"] == "line one\nline two"


def test_vcf_is_valid_sorted_and_carries_rank_reason_and_decision(decided, tmp_path: Path):
    record, key = decided
    output = tmp_path / "queue.vcf"
    keyed = record.items[record.items["variant"].notna()]
    assert write_export(record, "vcf", output) == len(keyed)
    with pysam.VariantFile(str(output)) as vcf:
        records = list(vcf)
        assert {"VIPQ_REASON", "VIP_EVIDENCE", "VIP_SCORE", "VIP_POST"} <= set(vcf.header.info)
    assert len(records) == len(keyed)
    positions = [(r.chrom, r.pos) for r in records]
    assert positions == sorted(positions, key=lambda p: (CANONICAL_CONTIGS.index(p[0]), p[1]))
    by_key = {f"GRCh37:{r.chrom}:{r.pos}:{r.ref}:{r.alts[0]}": r for r in records}
    expected = keyed.set_index("variant")
    for variant, rec in by_key.items():
        assert rec.info["VIPQ_RANK"] == expected.loc[variant, "rank"]
        assert unquote(rec.info["VIPQ_REASON"]) == expected.loc[variant, "reason"]
        assert rec.info["VIP_EVIDENCE"] == (expected.loc[variant, "evidence"],)  # Number=A
    assert ";" in expected.loc[key, "reason"]  # the reason needed its encoding
    assert by_key[key].info["VIPQ_DECISION"] == "reject"
    assert unquote(by_key[key].info["VIPQ_NOTE"]) == "seen; in 3 = families, ok"


def _pysam_bcftools(args: list[str]) -> str:
    """``bcftools query ARGS`` through the bcftools pysam (a dependency) carries: no binary."""
    import pysam.bcftools

    return pysam.bcftools.query(*args)


def _bcftools_binary(args: list[str]) -> str:
    """``bcftools query ARGS`` through the bcftools on PATH (Debian's bcftools package)."""
    command = ["bcftools", "query", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


NO_BCFTOOLS = (
    "bcftools is not on PATH (Debian package bcftools): the same query still runs through "
    "pysam's bundled bcftools ([pysam]) and the decisions are read back with pysam "
    "(test_only_the_decided_record_carries_a_decision)"
)


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(_pysam_bcftools, id="pysam"),
        pytest.param(
            _bcftools_binary,
            id="binary",
            marks=pytest.mark.skipif(shutil.which("bcftools") is None, reason=NO_BCFTOOLS),
        ),
    ],
)
def test_bcftools_finds_the_rejected_record(decided, tmp_path: Path, run):
    """bcftools' own VCF parser and filter language pick the one rejected item and its curator."""
    record, key = decided
    output = tmp_path / "queue.vcf"
    write_export(record, "vcf", output)
    query = run(
        [
            "-i",
            'INFO/VIPQ_DECISION="reject"',
            "-f",
            "%CHROM:%POS:%REF:%ALT\t%INFO/VIPQ_CURATOR\n",
            str(output),
        ]
    )
    assert pd.read_csv(io.StringIO(query), sep="\t", header=None).values.tolist() == [
        [key.split(":", 1)[1], "cur-9"]
    ]


def test_only_the_decided_record_carries_a_decision(decided, tmp_path: Path):
    """htslib (pysam) reads every record: the rejected one has its decision, curator and
    note, no other record has any; each record's rank, evidence and points are its item's."""
    record, key = decided
    output = tmp_path / "queue.vcf"
    write_export(record, "vcf", output)
    items = keyed_items(record.items).set_index("variant")
    with pysam.VariantFile(str(output)) as vcf:
        seen = {f"GRCh37:{r.chrom}:{r.pos}:{r.ref}:{r.alts[0]}": r.info for r in vcf}
    assert set(seen) == set(items.index) and len(seen) == len(items)
    decision = {"VIPQ_DECISION", "VIPQ_CURATOR", "VIPQ_NOTE"}
    assert [k for k, info in seen.items() if decision & set(info.keys())] == [key]
    info = seen[key]
    assert (info["VIPQ_DECISION"], info["VIPQ_CURATOR"]) == ("reject", "cur-9")
    for variant, info in seen.items():
        item = items.loc[variant]
        assert (info["VIPQ_RANK"], info["VIPQ_POINTS"]) == (int(item["rank"]), int(item["points"]))
        assert info["VIP_EVIDENCE"] == (item["evidence"],)


def test_vcf_refuses_mixed_builds(decided):
    record, _ = decided
    mixed = record.items.copy()
    mixed.loc[mixed.index[0], "variant"] = "GRCh38:1:100:A:G"
    with pytest.raises(ExportError, match="mixes builds"):
        write_export(QueueRecord(record.meta, mixed), "vcf", Path("/nonexistent/x.vcf"))


def test_unknown_format_is_refused(decided, tmp_path: Path):
    with pytest.raises(ExportError, match="csv, tsv, vcf"):
        write_export(decided[0], "xlsx", tmp_path / "q.xlsx")


def test_info_encoding_is_reversible():
    text = "#3 by settle: 50% done; a=b, c\td"
    encoded = encode_info(text)
    assert not set(encoded) & set(" ;=,\t:") and unquote(encoded) == text
