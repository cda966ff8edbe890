"""Benchmark the feature store at dbNSFP scale: ingest rate, size on disk, peak RSS.

Usage::

    python benchmarks/store.py --output benchmarks/results/store.json \\
        [--sizes 1e6 1e7] [--workdir DIR] [--keep] [--plot docs/images/store_scaling.png]
    python benchmarks/store.py --replot store.json --plot docs/images/store_scaling.png

For each size, a dbNSFP-format TSV is written and then:

* ingested into a fresh store by ``vipredict add-dbnsfp`` (the command users run,
  as a subprocess: wall time and peak RSS from GNU ``time``, store size on disk as
  the sum of its files' sizes, rows in the store counted afterwards);
* copied to parquet by DuckDB (``COPY (SELECT * FROM read_csv(..., all_varchar))
  TO ... (FORMAT parquet)``, in this process, default threads): the floor on this
  machine for reading the same text and writing columnar files, without parsing
  the per-transcript (``;``-joined) values;
* and, like for like, the rows the ingest stored copied by the same DuckDB ``COPY``
  (``read_parquet`` of the store's files, every column): the cost of writing what
  the store holds (about 115 typed columns and the INFO text, where the floor writes
  the TSV's 24 text columns), with nothing parsed or computed.

Rates are input TSV lines per second of wall time, start-up included. The time
for all of dbNSFP (85 million missense rows per build) is **extrapolated** from a
log-log fit of ingest time against size (a line through the sizes run; with one
size, time proportional to rows).

**The inputs are synthetic.** Every line is a real line of the dbNSFP extracts in
the manifest (``dbnsfp_v23_test``, ``dbnsfp_v24_head``, ``dbnsfp_v24_chr4``, all
dbNSFP v2 format, GRCh37), drawn with replacement one locus at a time (all the
lines of a real position together, so a position keeps its real ALTs and v2's
repeated lines), and put at a made-up GRCh37 position: chromosomes 1-22 and X in
proportion to their length, positions sorted. Only the columns vipredict's reader
uses are written (with v2.4 names; v2.3 lines have ``.`` in the three v2.4-only
columns, CADD and the 100-way conservation scores, as in their own file). Made up:
chromosome and position (so gene, protein change and scores no longer belong to the
locus, and gnomAD/ExAC frequencies, keyed on real loci, are almost never joined),
and nothing else.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds

# Run as ``python benchmarks/store.py``: the annotate benchmark sits beside this file.
from annotate import BASES, CHROM_BP, measure, store_rows, synthetic_loci

import vipredict
from vipredict.io.readers.dbnsfp import DBNSFP_SOURCES, OLD_SPELLINGS, USED_COLUMNS
from vipredict.io.sources import resolve
from vipredict.store.build import load_frequencies
from vipredict.store.index import build_index, index_root
from vipredict.store.partitioned import COPY_COLUMN, FILES, Store
from vipredict.store.write import append_rows

#: Missense rows in one build of dbNSFP (the deployment this benchmark stands for).
DBNSFP_ROWS = 85_000_000
LOCUS = ("#chr", "pos(1-coor)")
WRITE_ROWS = 1_000_000  # lines per slice written to the TSV (bounds the generator's memory)
DATASET = "synthetic_benchmark"
SYNTHETIC = (
    "positions: every line is a real dbNSFP v2.3/v2.4 line from the manifest's extracts "
    "(dbnsfp_v23_test, dbnsfp_v24_head, dbnsfp_v24_chr4; all lines of a real locus drawn "
    "together, with replacement) put at a made-up sorted GRCh37 chromosome and position "
    "(chromosomes 1-22 and X by length). Only the columns the reader uses are written "
    "(v2.3 lines have '.' in the v2.4-only CADD/phyloP100way/phastCons100way columns). "
    "Genes, protein changes and scores therefore no longer belong to their locus, and "
    "gnomAD/ExAC frequencies (real loci) are almost never joined. Nothing else is made up."
)
SERVE_SYNTHETIC = (
    "positions and alleles: every row is a real row of the home's feature store (drawn "
    "with replacement: real schema, values and missingness) keyed at a made-up sorted "
    "GRCh37 SNV (chromosomes 1-22 and X by length, random REF/ALT), unlabelled, "
    f"dataset {DATASET!r}; written with vipredict.store.write.append_rows, no TSV."
)
SERVE_CHUNK = 1_000_000  # rows per append (one file per partition it touches)
#: Serving index bytes per store byte (10^8 rows: 9.8 GB beside a 7.6 GB store).
INDEX_TO_STORE = 1.3


# --------------------------------------------------------------------------- synthetic input


def real_lines() -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The real extracts' lines (columns the reader uses, locus last) and their loci.

    Returns the lines without their locus columns, and each real locus's first line
    and number of lines (a locus: adjacent lines of one file at one position).
    """
    frames, first = [], []
    for name in DBNSFP_SOURCES:
        raw = pd.read_csv(resolve(name), sep="\t", dtype=str, keep_default_na=False)
        raw = raw.rename(columns={o: n for o, n in OLD_SPELLINGS.items() if n not in raw})
        new = (raw[LOCUS[0]] != raw[LOCUS[0]].shift()) | (raw[LOCUS[1]] != raw[LOCUS[1]].shift())
        first.append(new.to_numpy())
        frames.append(raw[[c for c in raw.columns if c in USED_COLUMNS]])
    lines = pd.concat(frames, ignore_index=True).fillna(".")
    starts = np.flatnonzero(np.concatenate(first))
    lengths = np.diff(np.append(starts, len(lines)))
    values = lines.drop(columns=list(LOCUS))
    return pa.Table.from_pandas(values, preserve_index=False), starts, lengths


def write_tsv(
    path: Path,
    n: int,
    real: tuple[pa.Table, np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> None:
    """``n`` dbNSFP lines: real loci drawn with replacement at made-up sorted positions."""
    lines, starts, lengths = real
    picks = rng.integers(0, len(starts), int(n / lengths.mean() * 1.2) + 16)
    while lengths[picks].sum() < n:
        picks = np.concatenate([picks, rng.integers(0, len(starts), len(picks))])
    ends = np.cumsum(lengths[picks])
    picks = picks[: int(np.searchsorted(ends, n)) + 1]
    counts = lengths[picks].copy()
    counts[-1] -= int(ends[len(picks) - 1]) - n  # the last locus may lose some ALTs
    loci = synthetic_loci(len(picks), rng)[["chrom", "pos"]]
    first_out = np.repeat(np.cumsum(counts) - counts, counts)
    rows = np.repeat(starts[picks], counts) + (np.arange(n) - first_out)
    chrom = np.repeat(loci["chrom"].to_numpy(dtype=object), counts)
    pos = np.repeat(loci["pos"].to_numpy(), counts)
    options = pcsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    with path.open("wb") as handle:
        handle.write(("\t".join([*LOCUS, *lines.column_names]) + "\n").encode())
        for at in range(0, n, WRITE_ROWS):
            part = slice(at, at + WRITE_ROWS)
            block = lines.take(pa.array(rows[part]))
            block = block.add_column(0, LOCUS[1], pa.array(pos[part]).cast(pa.string()))
            block = block.add_column(0, LOCUS[0], pa.array(chrom[part], pa.string()))
            pcsv.write_csv(block, handle, write_options=options)


# --------------------------------------------------------------------------- measuring


def disk_bytes(root: Path) -> int:
    """Bytes of every file under ``root``."""
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def ingest(tsv: Path, store: Path) -> tuple[float, float, float, float]:
    """(wall seconds, peak RSS MB, peak RSS MB of the process tree, CPU seconds) of
    ``vipredict add-dbnsfp`` into a fresh ``store``.

    The command parses chunks in one worker process per core: GNU ``time`` gives the
    largest single process's peak, so the tree's total (the main process and its
    workers, summed from ``/proc`` every 0.2 s) is sampled beside it. CPU seconds
    (user + system, GNU ``time``) count the processes the command waited for.
    """
    command = [sys.executable, "-m", "vipredict.cli", "add-dbnsfp", str(tsv)]
    command += ["--store", str(store), "--build", "GRCh37", "--dataset", DATASET]
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], tree_rss_mb(os.getpid()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        seconds, largest, cpu = measure(command)
    finally:
        done.set()
        sampler.join()
    return seconds, largest, peak[0], cpu


def tree_rss_mb(parent: int) -> float:
    """Resident MB of ``parent``'s descendants (not ``parent`` itself), from ``/proc``."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:  # the process ended while being read
            continue
        pid, ppid = int(fields["Pid"]), int(fields["PPid"])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
    total, todo = 0.0, list(children.get(parent, []))
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def duckdb_copy(tsv: Path, parquet: Path) -> float:
    """Wall seconds of DuckDB copying the TSV, as text, to one parquet file."""
    con = duckdb.connect()
    try:
        start = time.perf_counter()
        con.execute(
            "COPY (SELECT * FROM read_csv(?, delim='\t', header=true, all_varchar=true, "
            f"quote='', escape='')) TO '{parquet}' (FORMAT parquet)",
            [str(tsv)],
        )
        return time.perf_counter() - start
    finally:
        con.close()


def duckdb_store_copy(store: Path, parquet: Path) -> float:
    """Wall seconds of DuckDB copying every row the ingest stored, as stored, to one file.

    The like-for-like reference: the store's own columns (the features, the INFO text)
    written by the same ``COPY`` as the TSV floor, from rows already made, so nothing
    is parsed or computed. The floor above writes the TSV's text columns instead.
    """
    files = [str(path) for path in sorted(store.glob(FILES))]
    con = duckdb.connect()
    try:
        start = time.perf_counter()
        statement = f"COPY (SELECT * FROM read_parquet(?)) TO '{parquet}' (FORMAT parquet)"
        con.execute(statement, [files])
        return time.perf_counter() - start
    finally:
        con.close()
        parquet.unlink(missing_ok=True)


def run_size(n: int, work: Path, real: tuple[pa.Table, np.ndarray, np.ndarray]) -> dict:
    """Generate the TSV of ``n`` lines, copy it with DuckDB, ingest it; the figures."""
    folder = work / f"n{n}"
    folder.mkdir(parents=True, exist_ok=True)
    tsv, store = folder / f"dbNSFP_synthetic_{n}.tsv", folder / "store"
    started = time.perf_counter()
    write_tsv(tsv, n, real, np.random.default_rng(n))
    generated = time.perf_counter() - started
    print(f"n={n:,}: TSV {tsv.stat().st_size / 1e6:,.0f} MB in {generated:.1f} s", flush=True)
    copy_s = duckdb_copy(tsv, folder / "copy.parquet")
    print(f"n={n:,}: DuckDB copy {copy_s:.2f} s ({n / copy_s:,.0f} rows/s)", flush=True)
    ingest_s, peak_mb, tree_mb, cpu_s = ingest(tsv, store)
    stored = ds.dataset(sorted(store.glob(FILES)), format="parquet").count_rows()
    store_copy_s = duckdb_store_copy(store, folder / "store_copy.parquet")
    result = {
        "n": n,
        "tsv_bytes": tsv.stat().st_size,
        "generate_s": round(generated, 2),
        "duckdb_copy_s": round(copy_s, 3),
        "duckdb_parquet_bytes": (folder / "copy.parquet").stat().st_size,
        "duckdb_store_copy_s": round(store_copy_s, 3),
        "ingest_s": round(ingest_s, 3),
        "ingest_cpu_s": round(cpu_s, 2),
        "ingest_peak_rss_mb": round(peak_mb, 1),
        "ingest_peak_rss_tree_mb": round(tree_mb, 1),
        "disk_bytes": disk_bytes(store),
        "store_rows": stored,
        "store_files": len(list(store.glob(FILES))),
    }
    print(
        f"n={n:,}: ingest {ingest_s:.2f} s ({n / ingest_s:,.0f} rows/s), "
        f"{peak_mb:.0f} MB peak ({tree_mb:.0f} MB all processes), "
        f"{result['disk_bytes'] / 1e6:,.1f} MB on disk, "
        f"{stored:,} rows stored",
        flush=True,
    )
    print(f"n={n:,}: DuckDB copy of the stored rows {store_copy_s:.2f} s", flush=True)
    return result


def extrapolate(sizes: list[int], seconds: list[float], rows: int) -> tuple[float, float]:
    """(seconds at ``rows``, log-log slope): a line through log time against log size."""
    if len(set(sizes)) < 2:
        return seconds[-1] * rows / sizes[-1], 1.0
    slope, intercept = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(np.exp(intercept + slope * np.log(rows))), float(slope)


def check_disk(work: Path, sizes: list[int]) -> None:
    """Refuse sizes whose files (TSV, DuckDB copy, store) would not fit on the disk."""
    per_row = 400  # bytes; measured at 10^7: 86 of TSV, 17 of DuckDB copy, 44 of store, 34
    # of DuckDB's copy of the store (removed once timed)
    need = max(sizes, default=0) * per_row
    free = shutil.disk_usage(work).free
    if need > free:
        sys.exit(
            f"n={max(sizes, default=0):,} needs ~{need / 1e9:.0f} GB in {work}; "
            f"{free / 1e9:.0f} GB free"
        )


# --------------------------------------------------------------------------- serving store


def chunked_loci(n: int, rng: np.random.Generator) -> Iterator[pd.DataFrame]:
    """``n`` sorted, distinct GRCh37 SNV loci, at most :data:`SERVE_CHUNK` at a time.

    The loci of :func:`annotate.synthetic_loci`, made chromosome by chromosome so
    that 10^8 of them never sit in memory at once, and each chunk (mostly) one
    partition.
    """
    share = np.array(list(CHROM_BP.values()), dtype=float)
    for (chrom, length), count in zip(
        CHROM_BP.items(), rng.multinomial(n, share / share.sum()), strict=True
    ):
        gap, last = max(1, int(0.95 * length / max(count, 1))), 0
        for start in range(0, count, SERVE_CHUNK):
            k = min(SERVE_CHUNK, count - start)
            pos = last + np.cumsum(rng.integers(1, 2 * gap, k))
            last = int(pos[-1])
            ref = rng.integers(0, 4, k)
            alt = (ref + rng.integers(1, 4, k)) % 4
            yield pd.DataFrame({"chrom": chrom, "pos": pos, "ref": BASES[ref], "alt": BASES[alt]})


def write_serve_store(root: Path, n: int, real: pd.DataFrame) -> dict[str, Any]:
    """``n`` resampled real feature rows written straight into a store at ``root``, then
    its serving index (``root/_index``, :func:`vipredict.store.index.build_index`).

    After the first :data:`SERVE_CHUNK` rows the size on disk (store and index) is
    extrapolated to ``n``; if that would not fit in the free space left, the store
    is deleted and the run stops with a message.
    """
    if any(root.glob(FILES)):
        sys.exit(f"{root} already holds a store: give an empty or new folder")
    rng = np.random.default_rng(12345)
    started, written = time.perf_counter(), 0
    for chunk in chunked_loci(n, rng):
        rows = store_rows(real, chunk, rng)
        written += append_rows(rows, root, f"serve-{written // SERVE_CHUNK:06d}", first_row=written)
        if written == len(chunk) and n > written:
            need = disk_bytes(root) * n / written * (1 + INDEX_TO_STORE)
            free = shutil.disk_usage(root).free
            if need > 0.9 * free:
                shutil.rmtree(root)
                sys.exit(
                    f"a {n:,}-row store would take about {need / 1e9:.1f} GB (extrapolated "
                    f"from {written:,} rows); {free / 1e9:.1f} GB free: refused"
                )
            print(f"serve store: about {need / 1e9:.1f} GB expected for {n:,} rows", flush=True)
        if written % (10 * SERVE_CHUNK) < len(chunk):
            print(
                f"serve store: {written:,} rows, {time.perf_counter() - started:.0f} s", flush=True
            )
    store_bytes, write_s = disk_bytes(root), round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    build_index(root, show_progress=True)
    return {
        "root": str(root),
        "rows": written,
        "disk_bytes": store_bytes,
        "files": len(list(root.glob(FILES))),
        "write_s": write_s,
        "index_bytes": disk_bytes(index_root(root)),
        "index_s": round(time.perf_counter() - started, 1),
        "real_rows": len(real),
        "synthetic": SERVE_SYNTHETIC,
    }


def parse_sizes(values: list[str]) -> list[int]:
    """``1e6 1e7`` or ``1e6,1e7`` -> [1000000, 10000000]."""
    return [int(float(v)) for value in values for v in value.split(",") if v]


def ingest_report(sizes: list[int], runs: list[dict]) -> dict[str, Any]:
    """The figures of the ingest runs, one value per size, and the extrapolation."""
    ingest_s = [r["ingest_s"] for r in runs]
    full_s, slope = extrapolate(sizes, ingest_s, DBNSFP_ROWS)
    ingest_rate = [n / s for n, s in zip(sizes, ingest_s, strict=True)]
    copy_rate = [n / r["duckdb_copy_s"] for n, r in zip(sizes, runs, strict=True)]
    # runs of an earlier version of this benchmark have no copy of the stored rows
    store_rate = [n / r["duckdb_store_copy_s"] for n, r in zip(sizes, runs, strict=True)
                  if "duckdb_store_copy_s" in r]  # fmt: skip
    like_for_like = (
        {
            "duckdb_store_copy_rows_per_s": [round(r) for r in store_rate],
            "ratio_to_duckdb_store_copy": [
                round(i / c, 4) for i, c in zip(ingest_rate, store_rate, strict=True)
            ],
            "duckdb_store_copy": (
                "DuckDB copying every row the ingest stored (its parquet files, all columns) "
                "to one parquet file, by the same COPY as the floor; rows per second are TSV "
                "lines, as for the floor"
            ),
        }
        if len(store_rate) == len(runs)
        else {}
    )
    return {
        "sizes": sizes,
        "ingest_rows_per_s": [round(r) for r in ingest_rate],
        "duckdb_copy_rows_per_s": [round(r) for r in copy_rate],
        "disk_bytes": [r["disk_bytes"] for r in runs],
        "ingest_peak_rss_mb": [r["ingest_peak_rss_mb"] for r in runs],
        "ingest_peak_rss_tree_mb": [r["ingest_peak_rss_tree_mb"] for r in runs],
        "ratio_to_duckdb": [round(i / c, 4) for i, c in zip(ingest_rate, copy_rate, strict=True)],
        **like_for_like,
        "extrapolated_85m_rows_hours": round(full_s / 3600, 2),
        "extrapolated_85m_rows_minutes": round(full_s / 60, 1),
        "extrapolation": (
            f"extrapolated, not measured: {DBNSFP_ROWS:,} rows from a log-log fit of "
            f"ingest time against size over {sizes} (slope {slope:.3f})"
            if len(set(sizes)) > 1
            else f"extrapolated, not measured: time proportional to rows from n={sizes[-1]:,}"
        ),
        "synthetic": SYNTHETIC,
        "command": (
            "vipredict add-dbnsfp TSV --store DIR --build GRCh37 (default chunk rows; default "
            f"--workers: one chunk-parsing process per core, {os.cpu_count()} here)"
        ),
        "peak_rss": (
            "ingest_peak_rss_mb: the largest single process (GNU time); "
            "ingest_peak_rss_tree_mb: all of the command's processes, summed, sampled every 0.2 s"
        ),
        "bytecode": (
            "vipredict's modules were compiled to bytecode before timing (as pip install does), "
            "so no run pays for compiling them"
        ),
        "frequency_cache": (
            "the gnomAD/ExAC exports were read into the scratch home's cache before timing "
            "(once per home: about 12 s); each timed run loads that cache"
        ),
        "runs": runs,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    """Log-log plot of ingest time, the DuckDB floor and the 85-million-row extrapolation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = np.asarray(report["sizes"], dtype=float)
    ingest_s = sizes / np.asarray(report["ingest_rows_per_s"], dtype=float)
    copy_s = sizes / np.asarray(report["duckdb_copy_rows_per_s"], dtype=float)
    fig, (time_ax, rss_ax) = plt.subplots(1, 2, figsize=(11, 5))
    time_ax.plot(sizes, ingest_s, marker="o", label="vipredict add-dbnsfp")
    time_ax.plot(sizes, copy_s, marker="o", label="DuckDB TSV -> parquet copy (the floor)")
    time_ax.plot(sizes, 2 * copy_s, ls=":", color="grey", label="target: half the copy rate")
    if "duckdb_store_copy_rows_per_s" in report:
        store_s = sizes / np.asarray(report["duckdb_store_copy_rows_per_s"], dtype=float)
        label = "DuckDB copying the stored rows (parquet -> parquet)"
        time_ax.plot(sizes, store_s, marker="s", color="C2", label=label)
    full = report["extrapolated_85m_rows_minutes"] * 60
    time_ax.plot([sizes[-1], DBNSFP_ROWS], [ingest_s[-1], full], ls="--", color="C0")
    label = f"{DBNSFP_ROWS / 1e6:.0f}M rows, extrapolated: {full / 60:.1f} min"
    time_ax.scatter([DBNSFP_ROWS], [full], marker="x", color="C0", label=label)
    time_ax.set(xscale="log", yscale="log", xlabel="dbNSFP rows", ylabel="wall time (s)")
    time_ax.set_title("Ingest into the store")
    time_ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    rss_ax.plot(sizes, report["ingest_peak_rss_mb"], marker="o", label="largest process")
    if "ingest_peak_rss_tree_mb" in report:
        rss_ax.plot(sizes, report["ingest_peak_rss_tree_mb"], marker="o", label="all processes")
    rss_ax.set(xscale="log", yscale="log", xlabel="dbNSFP rows", ylabel="peak RSS (MB)")
    rss_ax.set_title("Peak memory")
    rss_ax.legend(fontsize=8)
    fig.suptitle("real dbNSFP rows on made-up positions (synthetic); 2 cores", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, help="JSON to write (needed unless --replot)")
    parser.add_argument(
        "--sizes", nargs="*", default=["1e6", "1e7"], help="TSV lines per run (none: no ingest)"
    )
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch files")
    parser.add_argument(
        "--serve-store", type=Path, help="also write a store of --serve-rows rows here (serving)"
    )
    parser.add_argument("--serve-rows", default="1e8", help="rows of the --serve-store store")
    parser.add_argument(
        "--plot", type=Path, help="log-log plot of ingest cost against size (PNG) from the run"
    )
    parser.add_argument(
        "--replot",
        type=Path,
        help="draw --plot from this earlier --output JSON instead of running anything",
    )
    args = parser.parse_args()
    if args.replot is not None:
        if args.plot is None:
            sys.exit("--replot needs --plot PATH")
        plot(json.loads(args.replot.read_text()), args.plot)
        return
    if args.output is None:
        sys.exit("--output PATH.json is needed")
    sizes = parse_sizes(args.sizes)
    # The serving store resamples the home's store: read it before the scratch home is set.
    real = Store.open().read_all() if args.serve_store else None
    if real is not None and COPY_COLUMN in real:  # rows, not their copies under the other build
        real = real[real[COPY_COLUMN].isna()].reset_index(drop=True)
    if real is not None and real.empty:
        sys.exit("the home's store is empty: run `vipredict features` first (VIPREDICT_HOME)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vipredict-store-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    check_disk(work, sizes)
    # A scratch home: the command must not touch the user's store, models or runs.
    os.environ["VIPREDICT_HOME"] = str(work / "home")
    try:
        lines = real_lines()
        if sizes:  # the exports are parsed once per home (load_frequencies caches them)
            load_frequencies()
            compileall.compile_dir(Path(vipredict.__file__).parent, quiet=1)
        runs = [run_size(n, work, lines) for n in sizes]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report: dict[str, Any] = ingest_report(sizes, runs) if runs else {"synthetic": ""}
    report.update(
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        versions={"duckdb": duckdb.__version__, "pyarrow": pa.__version__},
    )
    if real is not None:
        rows = int(float(args.serve_rows))
        report["serve_store"] = write_serve_store(args.serve_store, rows, real)
        report["synthetic"] = "; ".join(filter(None, [report["synthetic"], SERVE_SYNTHETIC]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + "\n")
    if args.plot is not None and "ingest_rows_per_s" in report:
        plot(report, args.plot)
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
