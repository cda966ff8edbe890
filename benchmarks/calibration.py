"""Time the ClinGen local-posterior calibration on REVEL scores of the 2019 ClinGen set.

The budget is 10,000 bootstraps in under 30 s on two cores; this script records
the wall time, peak memory and how far the thresholds land from the published ones.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from vipredict.calibration import LocalPosteriorCalibrator
from vipredict.evaluation import published_thresholds, thresholds_of
from vipredict.readers.clingen import read_clingen_set

PUBLISHED_REVEL = thresholds_of(published_thresholds()["REVEL"])


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, required=True, help="JSON report path")
    parser.add_argument("--n-bootstrap", type=int, default=10_000)
    return parser.parse_args(argv)


def _max_abs_diff(got: dict[str, float | None]) -> float | None:
    """Largest gap to the published thresholds over levels reached in both."""
    gaps = [
        abs(value - PUBLISHED_REVEL[code])
        for code, value in got.items()
        if value is not None and PUBLISHED_REVEL[code] is not None
    ]
    return max(gaps) if gaps else None


def _peak_rss_mb() -> float:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the calibration once, timed, and write the report."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    frame = read_clingen_set("2019").dropna(subset=["revel_score"])
    scores = frame["revel_score"].to_numpy(float)
    labels = frame["label"].to_numpy(np.int64)
    start = time.perf_counter()
    result = LocalPosteriorCalibrator(n_bootstrap=args.n_bootstrap).fit(scores, labels).result_
    seconds = time.perf_counter() - start
    report: dict[str, object] = {
        "n_variants": int(scores.size),
        "n_bootstrap": args.n_bootstrap,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "thresholds": result.thresholds,
        "point_thresholds": result.point_thresholds,
        "three_point": result.three_point,
        "published": PUBLISHED_REVEL,
        "max_abs_diff": _max_abs_diff(result.thresholds),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
