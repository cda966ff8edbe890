"""Scale-out on Dask: one cluster connection, LightGBM training and feature building on it.

vipredict stays a single-machine program until the data outgrow one; then the
same steps run on an existing distributed engine instead of a home-made one.
Where the cluster is comes from the settings: ``VIPREDICT_DASK_SCHEDULER``
(``--scheduler`` on the CLI) names a running scheduler, and without it a
``LocalCluster`` on loopback gives the same code path on one machine (the tests
and benchmarks use that).

* Training: :func:`fit_on_dask` is the Dask :data:`~vipredict.model.training.Fitter`
  (the local one is :func:`~vipredict.model.training.fit_local`). It trains with
  ``lightgbm.DaskLGBMClassifier`` and hands back a plain ``LGBMClassifier``, so
  out-of-fold calibration, MLflow logging, registration and serving are the
  single-machine code, unchanged.
* Features: :func:`feature_table_on_dask` maps the existing readers and feature
  builders over the input files, one task per file, and gives the table
  :func:`vipredict.store.build.build_table` builds (row for row, tested);
  :func:`build_store_on_dask` writes it as the store, like ``build_store``.
* Ingest: :func:`ingest_on_dask` streams dbNSFP's per-chromosome files in
  parallel, one task per chromosome, each worker writing its own files and
  checkpoints into the same store (``vipredict add-dbnsfp --dask``).

Workers of a real cluster need vipredict installed (for the feature tasks;
LightGBM alone for training) and, for feature building, the data mirror at
``VIPREDICT_DATA_MIRROR`` on each worker.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, Future, LocalCluster, as_completed, get_client
from lightgbm import DaskLGBMClassifier, LGBMClassifier

from vipredict.config import Settings, get_settings
from vipredict.io.files import open_text
from vipredict.model.training import Fitter, TrainingConfig
from vipredict.progress import Progress, quiet
from vipredict.store.build import (
    STORE_FILES,
    AnnotationFile,
    Frequencies,
    features_of,
    load_frequencies,
    write_store,
)
from vipredict.store.ingest import FrequencyIndex, StreamReport, index_frequencies, stream_dbnsfp

#: Parameters lightgbm.dask sets for its own network run; a served model must not keep them.
_DASK_ONLY_PARAMS = ("tree_learner", "num_threads", "time_out", "timeout")


class DaskBackendError(RuntimeError):
    """The Dask backend was asked for but no cluster is reachable (the message says what to do)."""


# --------------------------------------------------------------------------- the cluster


def with_scheduler(settings: Settings, address: str | None) -> Settings:
    """``settings`` with the scheduler given on the command line, if any, over the environment."""
    return replace(settings, dask_scheduler=address) if address else settings


@contextmanager
def dask_client(
    settings: Settings | None = None, n_workers: int = 2, timeout: str = "30s"
) -> Iterator[Client]:
    """A client on the configured scheduler, or on a loopback ``LocalCluster`` of ``n_workers``.

    One thread per worker process: LightGBM's data-parallel learner then uses
    one core per worker (2 workers on the 2-core machines), and nothing listens
    beyond 127.0.0.1 (no dashboard). A remote cluster is only disconnected on
    exit, never shut down: it belongs to whoever started it.
    """
    settings = settings or get_settings()
    if settings.dask_scheduler:
        try:
            client = Client(settings.dask_scheduler, timeout=timeout)
        except OSError as error:
            raise DaskBackendError(
                f"cannot reach the Dask scheduler at {settings.dask_scheduler} "
                f"(VIPREDICT_DASK_SCHEDULER / --scheduler): {error}"
            ) from error
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            processes=True,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def dask_fitter(settings: Settings | None = None, progress: Progress = quiet) -> Iterator[Fitter]:
    """:func:`fit_on_dask` on the client of a training run: the caller's current one, else new.

    Reusing a running client lets a test or a notebook share one cluster across
    runs; ``vipredict train --dask`` gets a cluster for the length of the run.
    """
    running = _running_client()
    with nullcontext(running) if running is not None else dask_client(settings) as client:
        workers = len(worker_addresses(client))
        progress(f"LightGBM on Dask: {workers} workers at {client.scheduler.address}")
        yield fit_on_dask


def _running_client() -> Client | None:
    try:
        return get_client()
    except ValueError:  # distributed's way of saying there is no client in this process
        return None


def current_client() -> Client:
    """The default client, or an error that says how to get one."""
    client = _running_client()
    if client is None:
        raise DaskBackendError(
            "training backend 'dask' needs a Dask client: run inside "
            "vipredict.jobs.dask.dask_client() (the CLI does: vipredict train --dask)"
        )
    return client


def worker_addresses(client: Client) -> list[str]:
    """Addresses of the cluster's workers (all of them), or an error if there is none."""
    workers = sorted(client.scheduler_info(n_workers=-1).get("workers", {}))
    if not workers:
        raise DaskBackendError(f"the Dask cluster at {client.scheduler.address} has no worker")
    return workers


# --------------------------------------------------------------------------- training


def partitioned(
    client: Client, features: pd.DataFrame, labels: np.ndarray, seed: int
) -> tuple[dd.DataFrame, dd.Series]:
    """Rows in a seeded random order, one slice scattered to each worker.

    The training table comes sorted, and the masked copies are appended after
    the originals; cut as it is, one worker would hold mostly blanked rows and
    build its share of LightGBM's feature bins from them. Shuffling first makes
    every slice a sample of the whole, as the single-process fit sees it.
    Scattering puts exactly one slice on each worker (LightGBM trains where the
    data are) and keeps the rows out of the task graph.
    """
    workers = worker_addresses(client)
    order = np.random.default_rng(seed).permutation(len(features))
    frame = features.iloc[order].reset_index(drop=True)
    frame["__label__"] = np.asarray(labels)[order]
    bounds = np.linspace(0, len(frame), len(workers) + 1).astype(int)
    slices = [
        client.scatter(frame.iloc[start:stop], workers=[worker])
        for start, stop, worker in zip(bounds[:-1], bounds[1:], workers, strict=True)
        if stop > start
    ]
    data = dd.from_delayed(slices, meta=frame.iloc[:0], verify_meta=False)
    return data[list(features.columns)], data["__label__"]


def as_single_machine(model: DaskLGBMClassifier, config: TrainingConfig) -> LGBMClassifier:
    """The trained Dask model as the ``LGBMClassifier`` the local path would have produced.

    ``to_local()`` keeps the network settings of the run (data-parallel tree
    learner, one thread); the served model gets the configured thread count back.
    LightGBM's own ``lightgbm.dask`` removes its run parameters the same way.
    """
    local = model.to_local()
    for name in _DASK_ONLY_PARAMS:
        local._other_params.pop(name, None)
    local.set_params(n_jobs=config.lightgbm.get("n_jobs"))
    return local


def fit_on_dask(
    features: pd.DataFrame, labels: np.ndarray, config: TrainingConfig
) -> LGBMClassifier:
    """Fit the configured LightGBM model data-parallel on the current Dask cluster.

    Not bit-identical to the single-process fit: each worker builds feature bins
    from its own rows and bags (``subsample``) its own rows, and histograms are
    summed across workers, so trees differ slightly while the data, folds and
    hyper-parameters are the same.
    """
    client = current_client()
    data, target = partitioned(client, features, labels, config.seed)
    model = DaskLGBMClassifier(client=client, random_state=config.seed, **config.lightgbm)
    with warnings.catch_warnings():
        # lightgbm.dask gives each worker one LightGBM thread per Dask thread and says so
        # about n_jobs on every fit; that is the intended set-up, not news.
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
        model.fit(data, target)
    return as_single_machine(model, config)


# --------------------------------------------------------------------------- features


def frequencies_for(frame: pd.DataFrame, frequencies: pd.DataFrame) -> pd.DataFrame:
    """The rows of the long frequency table that ``frame``'s variants can join to.

    Frequency features are joined per variant, so other variants' rows change
    nothing but the table's provenance string (its distinct dataset/source
    versions), which one row per dataset and version keeps. The cut matters:
    building on the whole 1.3M-row table costs about 10 s per call whatever
    the file's size, which per-file tasks would pay once per file.
    """
    wanted = frequencies["variant"].isin(set(frame["variant"].astype(str)))
    versions = [c for c in ("dataset", "source_version") if c in frequencies.columns]
    provenance = ~frequencies.duplicated(versions) if versions else wanted
    return frequencies[wanted.to_numpy(dtype=bool) | provenance.to_numpy(dtype=bool)]


def features_of_file(source: AnnotationFile, frequencies: Frequencies) -> pd.DataFrame:
    """Read one file and build every feature family for its keyed rows (runs on a worker).

    Feature builders learn nothing from the rows they see, so building per file
    and concatenating gives the rows building on the concatenation would.
    """
    frame = source.read()
    frame = frame[frame["variant"].notna()]
    table, covered = frequencies
    return features_of(frame, (frequencies_for(frame, table), covered))


def combine_feature_tables(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per-file tables in priority order as one table, one row per variant (first file wins)."""
    combined = pd.concat(tables, ignore_index=True)
    return combined.drop_duplicates("variant", keep="first").reset_index(drop=True)


def map_files(
    client: Client,
    files: Sequence[AnnotationFile],
    progress: Progress = quiet,
) -> list[pd.DataFrame]:
    """Feature tables of ``files``, one Dask task each, returned in the order of ``files``.

    A file that fails does not stop the others; after all have run, one error
    names every failed file with its reason, so a single run shows them all.
    """
    frequencies = client.submit(load_frequencies, pure=False)
    futures: list[Future] = [
        client.submit(features_of_file, f, frequencies, pure=False) for f in files
    ]
    position = {future.key: i for i, future in enumerate(futures)}
    tables: list[pd.DataFrame | None] = [None] * len(files)
    failures: list[str] = []
    for done, future in enumerate(as_completed(futures), start=1):
        source = files[position[future.key]]
        if future.status == "error":
            failures.append(f"{source.kind}:{source.name}: {future.exception()}")
            progress(f"[{done}/{len(files)}] {source.name} FAILED")
            continue
        table = future.result()
        tables[position[future.key]] = table
        progress(f"[{done}/{len(files)}] {source.name}: {len(table):,} variants")
    if failures:
        raise RuntimeError("feature building failed for: " + "; ".join(failures))
    return [t for t in tables if t is not None]


def feature_table_on_dask(client: Client, progress: Progress = quiet) -> pd.DataFrame:
    """The store's feature table, built one input file per Dask task (nothing written)."""
    progress(
        f"building features for {len(STORE_FILES)} input files on "
        f"{len(worker_addresses(client))} Dask workers ({client.scheduler.address})"
    )
    return combine_feature_tables(map_files(client, STORE_FILES, progress))


def build_store_on_dask(
    client: Client, settings: Settings | None = None, progress: Progress = quiet
) -> pd.DataFrame:
    """``vipredict features --dask``: the feature table built on Dask, written as the store."""
    table = feature_table_on_dask(client, progress)
    write_store(table, settings, progress)
    return table


# --------------------------------------------------------------------------- ingest


def _first_chromosome(path: Path) -> str:
    """The chromosome of a dbNSFP file's first line (per-chromosome files hold one)."""
    with open_text(path) as handle:
        handle.readline()
        return handle.readline().split("\t", 1)[0]


def ingest_groups(paths: Sequence[Path]) -> list[list[Path]]:
    """``paths`` as tasks: files that start on the same chromosome go in one task, in order.

    Tasks on different chromosomes write different partitions, so running them at
    once gives the store a serial ingest of the files gives (first file wins only
    ever decides between rows of the same partition). One exception is not guarded:
    a dbNSFP v3/v4 row's copy under the other build goes to that build's partition
    of its chromosome there, and a variant that changed chromosome between builds
    could meet another task's rows.
    """
    groups: dict[str, list[Path]] = {}
    for path in paths:
        groups.setdefault(_first_chromosome(Path(path)), []).append(Path(path))
    return list(groups.values())


def ingest_files(
    paths: Sequence[Path],
    root: Path,
    build: str,
    options: dict[str, Any],
    frequencies: FrequencyIndex,
) -> list[StreamReport]:
    """Stream ``paths`` one after the other into ``root`` (one task on a worker).

    Each file is its own ``add-dbnsfp`` run: its own file tag and checkpoint, so an
    interrupted Dask ingest is resumed file by file with ``resume=True``.
    """
    return [
        stream_dbnsfp(path, root, build, frequencies=frequencies, workers=1, **options)
        for path in paths
    ]


def ingest_on_dask(
    client: Client,
    paths: Sequence[Path],
    root: Path,
    build: str = "GRCh37",
    *,
    dataset: str | None = None,
    chunk_rows: int = 100_000,
    resume: bool = False,
    progress: Progress = quiet,
) -> list[StreamReport]:
    """``add-dbnsfp --dask``: dbNSFP files streamed into one store in parallel on the workers.

    One task per chromosome (:func:`ingest_groups`); every worker writes its own
    files (each run tags its files) into the store's layout at ``root``, which all
    workers must see (a shared file system on a real cluster). The store equals a
    serial ingest of the files in the order given, file for file; a file that fails
    does not stop the others, and one error names every failed file afterwards.
    Reports come back in the order of ``paths``.
    """
    groups = ingest_groups(paths)
    progress(
        f"ingesting {len(paths)} file(s) as {len(groups)} task(s) on "
        f"{len(worker_addresses(client))} Dask workers ({client.scheduler.address})"
    )
    options = {"dataset": dataset, "chunk_rows": chunk_rows, "resume": resume}
    # loaded and grouped once for every task, as the command does for every file
    frequencies = client.submit(index_frequencies, pure=False)
    # on every worker: tasks would otherwise queue where the index is, one at a time
    client.replicate([frequencies])
    futures = [
        client.submit(ingest_files, group, Path(root), build, options, frequencies, pure=False)
        for group in groups
    ]
    position = {future.key: i for i, future in enumerate(futures)}
    reports: dict[Path, StreamReport] = {}
    failures: list[str] = []
    for done, future in enumerate(as_completed(futures), start=1):
        group = groups[position[future.key]]
        names = ", ".join(p.name for p in group)
        if future.status == "error":
            failures.append(f"{names}: {future.exception()}")
            progress(f"[{done}/{len(groups)}] {names} FAILED")
            continue
        for path, report in zip(group, future.result(), strict=True):
            reports[path] = report
        progress(f"[{done}/{len(groups)}] {names}: {sum(r.written for r in reports.values()):,}")
    if failures:
        raise RuntimeError("ingest failed for: " + "; ".join(failures))
    return [reports[Path(p)] for p in paths]
