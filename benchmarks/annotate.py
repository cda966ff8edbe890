"""Benchmark ``vipredict annotate`` against ``bcftools annotate`` from 10^4 to 10^7 variants.

Usage::

    python benchmarks/annotate.py --output benchmarks/results/annotate.json \\
        [--sizes 1e4,1e5,1e6,1e7] [--repeats 3] [--plot docs/images/annotate_scaling.png]

**The inputs are synthetic** (real data are used for every result elsewhere): no
public VCF and table of 10^7 matching variants exist in the mirror. They replicate
the real schema: every store row is a real row of the feature store (drawn with
replacement, so the joint distribution and the missingness of the 106 columns are
the real ones) placed at a synthetic GRCh37 SNV locus (chromosomes in proportion
to their length, sorted). The VCF holds the same loci, with one record in ten
given an ALT the table lacks (a store miss), one INFO field and the usual 8 columns.

Both tools add the same columns (the evidence model's 26 features, ``VIP_<name>``)
to the same VCF from the same rows, and write bgzipped VCF:

* bcftools reads them from a bgzipped, tabix-indexed TSV written from the store
  rows with the same number formatting, so both outputs carry the same text; this
  is checked on the first 20,000 records of each size;
* vipredict reads them from the partitioned parquet store (``--no-score``, which
  also writes ``VIP_ERR``); ``vipredict_score_s`` times the full command, which also
  scores every variant with the evidence champion of ``VIPREDICT_HOME``
  (``--no-prescored``: scored as read); ``vipredict_prescored_s`` times the same
  command reading the champion's answers pre-scored in the store, made once per size
  by ``vipredict prescore`` (``prescore_s``, timed apart) and checked to give the
  scored output byte for byte (``prescored_identical``). ``--columns`` names the same
  26 columns in every run, whatever features the champion reads.

Runs are interleaved within each repeat so that other load on the machine falls on
all tools alike; the medians are reported. Wall time is taken around each command;
peak RSS and CPU time (``*_cpu_s``: user + system, ``bgzip`` included) come from GNU
``time``. Each run's 1-minute load average before it starts is kept in ``runs``
(``*_runs_load``): on a shared machine, a wall time means little without it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from vipredict.config import ModelRole, get_settings
from vipredict.features.sets import feature_set_for
from vipredict.features.table import feature_specs
from vipredict.io.vcf import FEATURE_PREFIX, feature_info_header, significant_text
from vipredict.store.partitioned import Store
from vipredict.store.write import append_rows
from vipredict.variants import contig_lengths, key_column

PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: GRCh37 primary chromosome lengths (bp): where synthetic loci fall, and the header's
#: ``##contig`` lines (lengths of neither build would make every record a build conflict).
CHROM_BP = {c: n for c, n in contig_lengths("GRCh37").items() if c not in ("Y", "MT")}
BASES = np.array(list("ACGT"))
CHECK_RECORDS = 20_000
TIME = "/usr/bin/time"  # GNU time (Debian package `time`)


# --------------------------------------------------------------------------- synthetic inputs


def synthetic_loci(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` sorted, distinct SNV loci spread over the genome (one ALT per position)."""
    share = np.array(list(CHROM_BP.values()), dtype=float)
    counts = rng.multinomial(n, share / share.sum())
    frames = []
    for (chrom, length), count in zip(CHROM_BP.items(), counts, strict=True):
        gap = max(1, int(0.95 * length / max(count, 1)))
        pos = np.cumsum(rng.integers(1, 2 * gap, count))
        pos = pos[pos <= length]  # the mean end is 95% of the length: drops nothing in practice
        count = len(pos)
        ref = rng.integers(0, 4, count)
        alt = (ref + rng.integers(1, 4, count)) % 4
        other = np.where((ref + 1) % 4 == alt, (ref + 2) % 4, (ref + 1) % 4)  # neither allele
        frames.append(
            pd.DataFrame(
                {
                    "chrom": chrom,
                    "pos": pos,
                    "ref": BASES[ref],
                    "alt": BASES[alt],
                    "other": BASES[other],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def store_rows(real: pd.DataFrame, loci: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Real store rows (bootstrap) re-keyed to the synthetic loci, never labelled."""
    rows = real.iloc[rng.integers(0, len(real), len(loci))].reset_index(drop=True)
    rows["variant"] = key_column("GRCh37", loci["chrom"], loci["pos"], loci["ref"], loci["alt"])
    rows["label"] = np.nan
    rows["dataset"] = "synthetic_benchmark"
    return rows


def _text(values: pd.Series) -> pa.Array:
    return pc.fill_null(significant_text(values.to_numpy(dtype=float)), ".")


def write_inputs(n: int, folder: Path, columns: list[str], seed: int = 0) -> dict[str, Path]:
    """Store, bcftools table + header, and VCF for ``n`` synthetic variants (chunked)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    real = Store.open(get_settings()).read_all()
    loci = synthetic_loci(n, rng)
    paths = {
        "store": folder / "store",
        "table": folder / "table.tsv",
        "header": folder / "header.txt",
        "vcf": folder / "input.vcf",
    }
    specs = {s.name: s for s in feature_specs()}
    paths["header"].write_text("".join(feature_info_header(specs[c]) + "\n" for c in columns))
    with paths["table"].open("wb") as table, paths["vcf"].open("wb") as vcf:
        table.write(
            (
                "#"
                + "\t".join(["CHROM", "POS", "REF", "ALT", *(FEATURE_PREFIX + c for c in columns)])
                + "\n"
            ).encode()
        )
        vcf.write(vcf_header().encode())
        for start in range(0, n, 1_000_000):
            chunk = loci.iloc[start : start + 1_000_000].reset_index(drop=True)
            rows = store_rows(real, chunk, rng)
            append_rows(rows, paths["store"], f"bench-{start // 1_000_000:04d}")
            _write_tsv(
                table,
                {
                    "CHROM": chunk["chrom"],
                    "POS": chunk["pos"],
                    "REF": chunk["ref"],
                    "ALT": chunk["alt"],
                    **{c: _text(rows[c]) for c in columns},
                },
            )
            alt = np.where(np.arange(len(chunk)) % 10 == 9, chunk["other"], chunk["alt"])
            _write_tsv(
                vcf,
                {
                    "CHROM": chunk["chrom"],
                    "POS": chunk["pos"],
                    "ID": ".",
                    "REF": chunk["ref"],
                    "ALT": alt,
                    "QUAL": "50",
                    "FILTER": "PASS",
                    "INFO": "DP=" + pd.Series(rng.integers(10, 60, len(chunk))).astype(str),
                },
            )
    for key in ("table", "vcf"):
        subprocess.run(["bgzip", "-f", "-@", "2", str(paths[key])], check=True)
        paths[key] = paths[key].with_name(paths[key].name + ".gz")
    subprocess.run(["tabix", "-f", "-s1", "-b2", "-e2", str(paths["table"])], check=True)
    return paths


def vcf_header() -> str:
    contigs = "".join(f"##contig=<ID={c},length={n}>\n" for c, n in CHROM_BP.items())
    return (
        "##fileformat=VCFv4.2\n##reference=GRCh37\n"
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Read depth (synthetic)">\n'
        + contigs
        + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    )


def _write_tsv(handle: Any, columns: dict[str, Any]) -> None:
    n = max(len(v) for v in columns.values() if not isinstance(v, str))
    arrays = {
        k: pa.array([v] * n) if isinstance(v, str) else pa.array(v) for k, v in columns.items()
    }
    options = pcsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    pcsv.write_csv(pa.table(arrays), handle, write_options=options)


# --------------------------------------------------------------------------- running


def child_env() -> dict[str, str]:
    """This environment, with byte-compiled modules allowed (pip compiles them on install).

    A shell with ``PYTHONDONTWRITEBYTECODE`` over a venv installed ``--no-compile``
    (``make setup``) recompiles every module it imports on every start: seconds of
    MLflow and SQLAlchemy source per run, which no deployment pays.
    """
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def warm_up(score: bool) -> None:
    """Import (and so byte-compile) what the timed commands import, untimed."""
    code = "import vipredict.cli, vipredict.jobs.annotate"
    if score:
        code += "; from vipredict.model.scorer import load_scorer; load_scorer(with_store=False)"
    subprocess.run([sys.executable, "-c", code], env=child_env(), check=True)


def measure(command: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MB, CPU seconds) of one command.

    The peak comes from GNU ``time``: a child forked from this (large) Python process
    keeps the parent's peak across ``exec``, so its own ``wait4`` figure would be inflated.
    CPU is user + system time of the command and the children it waited for (``bgzip``):
    on a machine shared with other work it shows what a run costs when wall time cannot.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        done = subprocess.run(
            [TIME, "-f", "%M %U %S", "-o", rss.name, *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
            env=child_env(),
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{command[:4]} failed: {done.stderr.decode()[-2000:]}")
        peak, user, system = rss.read().split()[-3:]
        return seconds, int(peak) / 1024, float(user) + float(system)


def commands(paths: dict[str, Path], out: Path, columns: list[str]) -> dict[str, list[str]]:
    """The four timed commands, each writing ``out``."""
    vipredict = [
        sys.executable,
        "-m",
        "vipredict.cli",
        "annotate",
        str(paths["vcf"]),
        "--store",
        str(paths["store"]),
        "--output",
        str(out),
        "--columns",  # the same columns as bcftools, whatever the champion reads
        ",".join(columns),
    ]
    bcf_columns = ",".join(["CHROM", "POS", "REF", "ALT", *(FEATURE_PREFIX + c for c in columns)])
    bcftools = [
        "bcftools",
        "annotate",
        "-a",
        str(paths["table"]),
        "-c",
        bcf_columns,
        "-h",
        str(paths["header"]),
        str(paths["vcf"]),
        "-Oz",
        "-o",
        str(out),
    ]
    return {
        "vipredict": [*vipredict, "--no-score"],
        "vipredict_score": [*vipredict, "--no-prescored"],
        "vipredict_prescored": vipredict,
        "bcftools": [*bcftools[:2], "--threads", "2", *bcftools[2:]],
        "bcftools_1thread": bcftools,
    }


def prescore_command(paths: dict[str, Path]) -> list[str]:
    """``vipredict prescore`` of the store: once per champion, before the runs that read it."""
    return [sys.executable, "-m", "vipredict.cli", "prescore", "--store", str(paths["store"])]


def _info(path: Path, limit: int) -> Iterator[dict[str, str]]:
    with gzip.open(path, "rt") as handle:
        body = (line for line in handle if not line.startswith("#"))
        for _, line in zip(range(limit), body, strict=False):
            info = line.rstrip("\n").split("\t")[7]
            yield {
                k: v
                for k, _, v in (kv.partition("=") for kv in info.split(";"))
                if k.startswith(FEATURE_PREFIX) and not k.isupper() and k != "VIP_ERR"
            }


def same_columns(a: Path, b: Path) -> bool:
    """Whether two outputs carry the same feature keys and values on the first records."""
    return all(
        x == y for x, y in zip(_info(a, CHECK_RECORDS), _info(b, CHECK_RECORDS), strict=True)
    )


def _same_bytes(a: Path, b: Path) -> bool:
    """Whether two bgzipped outputs hold the same text (their compressed bytes may differ)."""
    with gzip.open(a, "rb") as x, gzip.open(b, "rb") as y:
        while True:
            left, right = x.read(1 << 22), y.read(1 << 22)
            if left != right:
                return False
            if not left:
                return True


def run_size(
    n: int, work: Path, repeats: int, columns: list[str], score: bool, keep: bool = False
) -> dict:
    folder = work / f"n{n}"
    started = time.perf_counter()
    made = folder / "inputs.json"  # written last: inputs kept by an earlier --keep-inputs run
    if keep and made.is_file():
        paths = {k: Path(v) for k, v in json.loads(made.read_text()).items()}
    else:
        paths = write_inputs(n, folder, columns)
        made.write_text(json.dumps({k: str(v) for k, v in paths.items()}))
    generated = time.perf_counter() - started
    scoring = ("vipredict_score", "vipredict_prescored")
    names = [n for n in commands(paths, folder, columns) if score or n not in scoring]
    prescored: dict[str, float] = {}
    if score:  # the store's pre-scored answers, made afresh (and timed) for this size
        shutil.rmtree(paths["store"] / "_prescored", ignore_errors=True)
        wall, peak, cpu = measure(prescore_command(paths))
        prescored = {"prescore_s": round(wall, 3), "prescore_peak_mb": round(peak, 1)}
        prescored["prescore_cpu_s"] = round(cpu, 2)
        print(f"n={n:,} prescore: {wall:.2f} s, {peak:.0f} MB, {cpu:.1f} CPU s", flush=True)
    timings: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    loads: dict[str, list[float]] = {name: [] for name in names}  # 1-min load average before
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            out = folder / f"out-{name}.vcf.gz"
            loads[name].append(round(os.getloadavg()[0], 2))
            timings[name].append(measure(commands(paths, out, columns)[name]))
            wall, peak, cpu = timings[name][-1]
            print(
                f"n={n:,} {name} run {repeat + 1}: {wall:.2f} s, {peak:.0f} MB, {cpu:.1f} CPU s "
                f"(load before {loads[name][-1]:.2f})",
                flush=True,
            )
    identical = same_columns(folder / "out-vipredict.vcf.gz", folder / "out-bcftools.vcf.gz")
    result: dict[str, Any] = {"n": n, "generate_s": round(generated, 2), "same_values": identical}
    if score:  # pre-scored answers write what scoring writes, byte for byte
        result["prescored_identical"] = _same_bytes(
            folder / "out-vipredict_score.vcf.gz", folder / "out-vipredict_prescored.vcf.gz"
        )
        result.update(prescored)
    for name, values in timings.items():
        result[f"{name}_s"] = round(statistics.median(v[0] for v in values), 3)
        result[f"{name}_peak_mb"] = round(statistics.median(v[1] for v in values), 1)
        result[f"{name}_cpu_s"] = round(statistics.median(v[2] for v in values), 2)
        result[f"{name}_runs_s"] = [round(v[0], 3) for v in values]
        result[f"{name}_runs_load"] = loads[name]
    if keep:  # inputs kept for the next run (generating 10^7 takes minutes), outputs not
        for out in folder.glob("out-*.vcf.gz"):
            out.unlink()
    else:
        shutil.rmtree(folder)
    return result


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = report["sizes"]
    fig, (ax, mem) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [
        ("vipredict_s", "vipredict annotate --no-score"),
        ("vipredict_score_s", "vipredict annotate (+ scoring)"),
        ("vipredict_prescored_s", "vipredict annotate (pre-scored answers)"),
        ("bcftools_s", "bcftools annotate --threads 2"),
        ("bcftools_1thread_s", "bcftools annotate (1 thread)"),
    ]
    for key, label in series:
        if key in report:
            ax.plot(sizes, report[key], marker="o", label=label)
    ax.plot(
        sizes,
        [report["vipredict_s"][-1] * s / sizes[-1] for s in sizes],
        ls=":",
        color="grey",
        label="linear (through vipredict at the largest n)",
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="variants",
        ylabel="wall time (s, median)",
        title="Annotating a bgzipped VCF with 26 columns",
    )
    ax.legend(fontsize=8)
    for key, label in (
        ("vipredict_peak_mb", "vipredict --no-score"),
        ("vipredict_score_peak_mb", "vipredict + scoring"),
        ("vipredict_prescored_peak_mb", "vipredict, pre-scored answers"),
        ("bcftools_peak_mb", "bcftools --threads 2"),
    ):
        if key in report:
            mem.plot(sizes, report[key], marker="o", label=label)
    mem.set(
        xscale="log", yscale="log", xlabel="variants", ylabel="peak RSS (MB)", title="Peak memory"
    )
    mem.legend(fontsize=8)
    fig.suptitle("synthetic inputs with the real store schema; 2 cores", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="JSON to write")
    parser.add_argument("--sizes", default="1e4,1e5,1e6,1e7", help="comma-separated counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/vipredict-annotate-bench"))
    parser.add_argument(
        "--plot", type=Path, default=PROJECT_ROOT / "docs" / "images" / "annotate_scaling.png"
    )
    parser.add_argument(
        "--no-score",
        dest="score",
        action="store_false",
        help="skip the scoring runs (no champion needed)",
    )
    parser.add_argument(
        "--keep-inputs",
        action="store_true",
        help="keep the generated inputs in --workdir, and reuse those kept by an earlier run",
    )
    args = parser.parse_args()
    if shutil.which("bcftools") is None or not Path(TIME).is_file():
        sys.exit("needs bcftools and GNU time (Debian: apt-get install bcftools time)")
    columns = feature_set_for(ModelRole.EVIDENCE).feature_names
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    warm_up(args.score)
    results = [
        run_size(n, args.workdir, args.repeats, columns, args.score, args.keep_inputs)
        for n in sizes
    ]
    report: dict[str, Any] = {"sizes": sizes}
    for key in results[0]:
        if key.endswith(("_s", "_peak_mb")) and key != "generate_s" and "_runs" not in key:
            report[key] = [r[key] for r in results]
    report["runs"] = results
    report["repeats"] = args.repeats
    report["columns"] = [FEATURE_PREFIX + c for c in columns]
    report["synthetic"] = (
        "synthetic loci; store rows drawn with replacement from the real "
        "feature store (real schema, values and missingness)"
    )
    report["machine"] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "bcftools": _bcftools_version(),
        "home": str(get_settings().home),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + "\n")
    plot(report, args.plot)
    print(json.dumps({k: report[k] for k in report if k not in ("runs", "columns")}, indent=1))


def _bcftools_version() -> str:
    out = subprocess.run(["bcftools", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


if __name__ == "__main__":
    main()
