"""``vipredict queue ...``: build/show/decide/export on SYNTHETIC inputs; evaluate on real data.

The build inputs are a VCF and a TSV written from the tiny home's made-up variants
(plus records it cannot score), so the commands run their whole path in seconds.
``queue evaluate`` reports real figures: it runs on the real trained home (e2e).
Every command writes into a queue database of its own (``VIPREDICT_QUEUE_URL``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from vipredict.cli import app
from vipredict.config import Settings
from vipredict.store.partitioned import Store
from vipredict.variants import parse_variant_key

runner = CliRunner()
GENES = ("BRCA1", "TP53")
#: Records of the input files the store cannot score: an indel and a locus it lacks.
EXTRA_RECORDS = (("1", 5, "A", "AT"), ("1", 7, "C", "G"))


def invoke(env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, ["queue", *args], env={"COLUMNS": "250", **env})


def cli_env(home: Settings, queue_db: Path) -> dict[str, str]:
    """The home and the queue database a command uses, named explicitly: module-scoped
    fixtures run before the per-test fixture that points the environment at the home."""
    return {"VIPREDICT_HOME": str(home.home), "VIPREDICT_QUEUE_URL": f"sqlite:///{queue_db}"}


@pytest.fixture(scope="module")
def cli(tiny_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of the commands: the synthetic home, a queue database of this module."""
    return cli_env(tiny_home, tmp_path_factory.mktemp("cli-queue") / "queue.db")


@pytest.fixture(scope="module")
def genes_of(tiny_home: Settings, sample_keys: list[str]) -> pd.Series:
    """Gene of each sample key, as the synthetic store holds it."""
    table = Store.open(tiny_home).lookup(sample_keys, ["variant", "gene"])
    return table.set_index("variant")["gene"].astype(str).loc[sample_keys]


def write_vcf(path: Path, keys: list[str]) -> Path:
    """A GRCh37 VCF of ``keys`` (chr-prefixed, as many files are) and the extra records."""
    lines = ["##fileformat=VCFv4.2", "##reference=GRCh37"]
    lines += ["#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    variants = [parse_variant_key(k) for k in keys]
    parts = [(v.chrom, v.pos, v.ref, v.alt) for v in variants] + list(EXTRA_RECORDS)
    lines += [f"chr{c}\t{p}\t.\t{r}\t{a}\t.\t.\t." for c, p, r, a in parts]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_tsv(path: Path, keys: list[str]) -> Path:
    """A TSV with chrom/pos/ref/alt columns of ``keys`` and the extra records."""
    variants = [parse_variant_key(k) for k in keys]
    rows = [(v.chrom, v.pos, v.ref, v.alt) for v in variants] + list(EXTRA_RECORDS)
    pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"]).to_csv(path, sep="\t", index=False)
    return path


def queue_id_of(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(
    cli: dict[str, str], sample_keys: list[str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """A queue of a synthetic VCF, kept to BRCA1 and TP53 (both on the ACMG SF list)."""
    vcf = write_vcf(tmp_path_factory.mktemp("cli-input") / "input.vcf", sample_keys)
    result = invoke(cli, "build", str(vcf), "--gene", "BRCA1,tp53", "--show", "3")
    return queue_id_of(result), vcf


def test_build_prints_the_head_and_the_id(cli: dict[str, str], built):
    """Synthetic VCF: the head is printed, then the id; ``show`` prints the stored queue."""
    queue_id, _ = built
    assert len(queue_id) == 32
    shown = invoke(cli, "show", queue_id, "--limit", "5")
    assert shown.exit_code == 0, shown.output
    assert "#1 by settle" in shown.output and "ACMG SF v3.2 gene" in shown.output
    assert shown.output.count("GRCh37:") == 5


def test_build_from_a_tsv_keeps_every_record(
    cli: dict[str, str], sample_keys: list[str], tmp_path: Path
):
    """Synthetic TSV (chrom/pos/ref/alt columns): one item per record, failures named."""
    tsv = write_tsv(tmp_path / "input.tsv", sample_keys[:40])
    queue_id = queue_id_of(invoke(cli, "build", str(tsv), "--by", "posterior"))
    output = tmp_path / "q.csv"
    exported = invoke(cli, "export", queue_id, "--format", "csv", "--output", str(output))
    assert exported.exit_code == 0, exported.output
    table = pd.read_csv(output, dtype=str, keep_default_na=False)
    assert len(table) == 40 + len(EXTRA_RECORDS)
    assert set(table["variant"]) >= set(sample_keys[:40])
    errors = dict(zip(table["input"], table["error"], strict=True))
    assert errors["GRCh37:1:5:A:AT"] == "not_snv" and errors["GRCh37:1:7:C:G"] == "no_features"
    assert table.loc[table["error"] == "", "reason"].str.contains(" by posterior: ").all()


def test_decide_then_export_tsv_and_vcf(
    cli: dict[str, str], built, genes_of: pd.Series, tmp_path: Path
):
    """Synthetic queue: the gene filter held, the decision reaches the TSV and the VCF."""
    queue_id, _ = built
    table_path = tmp_path / "q.tsv"
    exported = invoke(cli, "export", queue_id, "--format", "tsv", "--output", str(table_path))
    assert exported.exit_code == 0, exported.output
    table = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False)
    assert set(table["gene"]) == set(GENES)
    assert sorted(table["variant"]) == sorted(genes_of.index[genes_of.isin(GENES)])
    key = table.loc[table["error"] == "", "variant"].iloc[0]
    decided = invoke(
        cli,
        "decide",
        queue_id,
        key,
        "--decision",
        "defer",
        "--curator",
        "cli",
        "--note",
        "needs segregation data",
    )
    assert decided.exit_code == 0, decided.output
    assert json.loads(decided.output)["decision"] == "defer"
    vcf_path = tmp_path / "q.vcf"
    exported = invoke(cli, "export", queue_id, "--format", "vcf", "--output", str(vcf_path))
    assert exported.exit_code == 0, exported.output
    lines = [ln for ln in vcf_path.read_text().splitlines() if not ln.startswith("#")]
    (line,) = [ln for ln in lines if "VIPQ_DECISION=defer" in ln]
    assert line.split("\t")[1] == key.split(":")[2]
    assert "VIPQ_NOTE=needs%20segregation%20data" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("decide", "0" * 32, "GRCh37:1:1:A:G", "--decision", "accept", "--curator", "c"),
            "unknown_queue",
        ),
        (("show", "nope"), "unknown_queue"),
        (("export", "0" * 32, "--format", "csv", "--output", "x.csv"), "unknown_queue"),
    ],
)
def test_clear_errors(cli: dict[str, str], args, message: str):
    result = invoke(cli, *args)
    assert result.exit_code == 1 and message in result.output
    assert "Traceback" not in result.output


def test_bad_decision_and_bad_filter_are_named(cli: dict[str, str], built, sample_keys: list[str]):
    queue_id, vcf = built
    result = invoke(
        cli, "decide", queue_id, sample_keys[0], "--decision", "maybe", "--curator", "c"
    )
    assert result.exit_code == 1 and "invalid_decision" in result.output
    result = invoke(cli, "build", str(vcf), "--evidence", "PP9")
    assert result.exit_code == 1 and "invalid_evidence" in result.output


@pytest.mark.e2e
def test_evaluate_writes_the_top_k_table(trained_home: Settings, tmp_path: Path):
    """Real ClinGen 2020 hold-out (trained home): the queue's head beats chance."""
    output = tmp_path / "queue_evaluation.json"
    result = invoke(
        cli_env(trained_home, tmp_path / "queue.db"), "evaluate", "--output", str(output)
    )
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert list(report["top_k"]) == ["100", "500", "1000"]
    for shares in report["top_k"].values():
        assert set(shares) == {"vipredict", "revel", "random"}
        assert all(0.0 <= f <= 1.0 for f in shares.values())
        # The point of the queue: its head is far richer in settling evidence than chance.
        assert shares["vipredict"] > shares["random"] + 0.1
    assert report["labels_hidden"] and report["n"] > 8000
    assert "P/LP" in report["definitions"]["decisive_correct"]
