"""Time one LightGBM training fit, single-process against Dask, on the 2019 set and 10x of it.

Both sides call :func:`vipredict.model.training.fit_classifier` (the function the
pipeline fits every fold and the final model with, masked-copy augmentation
included) with the default configuration and the ``noaf`` feature set; only
``backend`` differs. The Dask side runs on a loopback ``LocalCluster`` of two
single-threaded workers, the single-process side on LightGBM's two threads.
The ``2019x10`` set is ten copies of the real 2019 rows (no synthetic values),
a stand-in for a larger training set of the same shape.

Each repeat times the two backends back to back on the same data, so both see
the same machine load; the JSON holds every run and the medians. The cluster's
start-up is timed apart, and one untimed warm-up fit per backend comes first
(worker imports, LightGBM's first network set-up).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from vipredict.config import get_settings
from vipredict.features.sets import load_feature_set
from vipredict.jobs.dask import dask_client, fit_on_dask, worker_addresses
from vipredict.model.training import TrainingConfig, fit_classifier, fit_local
from vipredict.store.partitioned import Store, labelled_rows


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, required=True, help="JSON report path")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per backend and set")
    parser.add_argument("--replicate", type=int, default=10, help="copies in the larger set")
    parser.add_argument("--n-workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--plot", type=Path, default=None, help="optional PNG of the medians")
    return parser.parse_args(argv)


#: The fitter of each backend (the one ``vipredict train`` picks from ``config.backend``).
FITTERS = {"local": fit_local, "dask": fit_on_dask}


def _timed(fit: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    model = fit()
    return time.perf_counter() - start, model


def _datasets(replicate: int) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """The real 2019 training rows of the evidence model, and ``replicate`` copies of them."""
    train = labelled_rows(Store.open(get_settings()), "2019")
    features = train[load_feature_set("noaf").feature_names]
    labels = train["label"].to_numpy(dtype=int)
    copies = pd.concat([features] * replicate, ignore_index=True)
    return {
        "2019": (features, labels),
        f"2019x{replicate}": (copies, np.tile(labels, replicate)),
    }


def _measure(
    features: pd.DataFrame, labels: np.ndarray, configs: dict[str, TrainingConfig], repeats: int
) -> dict[str, object]:
    """Interleaved single/Dask fits of one set; medians, every run, and how far they agree."""
    runs: dict[str, list[float]] = {name: [] for name in configs}
    models: dict[str, object] = {}
    for _ in range(repeats):
        for name, config in configs.items():
            seconds, models[name] = _timed(
                lambda c=config: fit_classifier(features, labels, c, FITTERS[c.backend])
            )
            runs[name].append(round(seconds, 3))
    scores = {name: m.predict_proba(features)[:, 1] for name, m in models.items()}
    single_s = statistics.median(runs["local"])
    dask_s = statistics.median(runs["dask"])
    return {
        "n": len(features),
        "n_fit_rows": 2 * len(features) if configs["local"].mask_augmentation else len(features),
        "single_s": round(single_s, 3),
        "dask_s": round(dask_s, 3),
        "dask_over_single": round(dask_s / single_s, 3),
        "runs_single_s": runs["local"],
        "runs_dask_s": runs["dask"],
        "score_correlation": round(float(np.corrcoef(scores["local"], scores["dask"])[0, 1]), 5),
        "max_abs_score_diff": round(float(np.abs(scores["local"] - scores["dask"]).max()), 4),
    }


def _plot(report: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = report["datasets"]
    assert isinstance(datasets, dict)
    names = list(datasets)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for offset, (key, label) in zip(
        (-0.2, 0.2),
        (("single_s", "single process (2 threads)"), ("dask_s", "Dask LocalCluster (2 x 1)")),
        strict=True,
    ):
        values = [datasets[n][key] for n in names]
        bars = ax.bar(x + offset, values, width=0.4, label=label)
        ax.bar_label(bars, fmt="%.1f s", fontsize=8)
    ax.set_xticks(x, [f"{n}\n({datasets[n]['n']:,} rows)" for n in names])
    ax.set_ylabel("median seconds per fit")
    ax.set_title("LightGBM fit, vipredict-noaf default config")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = _parse(sys.argv[1:] if argv is None else argv)
    base = TrainingConfig.from_toml()
    configs = {
        "local": base,
        "dask": TrainingConfig.from_dict({**base.to_dict(), "backend": "dask"}),
    }
    datasets = _datasets(args.replicate)
    load_start = os.getloadavg()
    start = time.perf_counter()
    with dask_client(get_settings(), n_workers=args.n_workers) as client:
        cluster_start_s = time.perf_counter() - start
        workers = len(worker_addresses(client))
        warm_x, warm_y = datasets["2019"]
        for config in configs.values():  # untimed warm-up
            fit_classifier(warm_x, warm_y, config, FITTERS[config.backend])
        results = {}
        for name, (features, labels) in datasets.items():
            print(f"timing {name}: {len(features):,} rows x {args.repeats}", file=sys.stderr)
            results[name] = _measure(features, labels, configs, args.repeats)
        scheduler = client.scheduler.address
    report: dict[str, object] = {
        "what": "one fit_classifier call (masked-copy augmentation + LightGBM fit), noaf features",
        "config": base.to_dict()["lightgbm"],
        "repeats": args.repeats,
        "statistic": "median",
        "replication": f"{args.replicate} copies of the real ClinGen 2019 rows",
        "dask": {"scheduler": scheduler, "workers": workers, "threads_per_worker": 1},
        "single": {"n_jobs": base.lightgbm.get("n_jobs")},
        "cluster_start_s": round(cluster_start_s, 3),
        "cpu_count": os.cpu_count(),
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "datasets": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2), encoding="utf-8")
    if args.plot is not None:
        _plot(report, args.plot)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":  # the guard matters: Dask's spawned workers re-import this module
    main()
