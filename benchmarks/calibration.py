"""Time the ClinGen local-posterior calibration on REVEL scores of the 2019 ClinGen set.

The budget is 10,000 bootstraps in under 30 s on two cores; this script records
the wall time (median of ``--repeats`` runs), peak memory and how far the
thresholds land from the published ones.

The ClinGen lab's reference Python port (pejaverlab/clingen-svi-comp_calibration_python)
is not run here: its public source carries no licence, so it cannot be vendored,
and it is not on a package registry; its MATLAB original
(vpejaver/clingen-svi-comp_calibration, MIT) needs MATLAB. The report records,
as ``reference_s_quoted``, the figure quoted in issue 5 and the shared stack
notes for this machine type (about 27 s per 1,000 bootstraps of this set),
scaled to the bootstraps run, and says that it is quoted, not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from vipredict.io.readers.clingen import read_clingen_set
from vipredict.model.calibration import LocalPosteriorCalibrator
from vipredict.model.evaluation import published_thresholds, thresholds_of

PUBLISHED_REVEL = thresholds_of(published_thresholds()["REVEL"])
#: Reference Python port on this machine type, per 1,000 bootstraps of the 2019 REVEL scores
#: (issue 5; /work/shared/STACK-NOTES.md). Quoted, not measured by this script.
REFERENCE_S_PER_1000_QUOTED = 27.0
REFERENCE = {
    "implementation": "pejaverlab/clingen-svi-comp_calibration_python",
    "measured": False,
    "why_not_run": "public source without a licence (not vendorable), not on PyPI; "
    "the MIT MATLAB original needs MATLAB",
    "quoted_from": "issue 5 and shared STACK-NOTES: about 27 s per 1,000 bootstraps here",
}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, required=True, help="JSON report path")
    parser.add_argument("--n-bootstrap", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is kept")
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
    """Run the calibration ``--repeats`` times, timed, and write the report."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    frame = read_clingen_set("2019").dropna(subset=["revel_score"])
    scores = frame["revel_score"].to_numpy(float)
    labels = frame["label"].to_numpy(np.int64)
    load_start = os.getloadavg()
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = LocalPosteriorCalibrator(n_bootstrap=args.n_bootstrap).fit(scores, labels).result_
        runs.append(round(time.perf_counter() - start, 3))
    seconds = statistics.median(runs)
    reference_s = REFERENCE_S_PER_1000_QUOTED * args.n_bootstrap / 1000
    report: dict[str, object] = {
        "n_variants": int(scores.size),
        "n_bootstrap": args.n_bootstrap,
        "seconds": round(seconds, 3),
        "statistic": "median",
        "runs_s": runs,
        "reference_s_quoted": reference_s,
        "reference": REFERENCE,
        "speedup_vs_reference_quoted": round(reference_s / seconds, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "cpu_count": os.cpu_count(),
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
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
