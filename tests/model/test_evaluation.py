import math

import numpy as np
import pytest

from vipredict.model.evaluation import (
    calibration_holds,
    coverage_and_lr,
    published_thresholds,
    thresholds_of,
)


def test_coverage_counts_a_level_or_stronger_and_lr_is_the_ratio():
    codes = np.array(
        [
            "PP3_Strong",
            "PP3_Supporting",
            "none",
            "PP3_Supporting",
            "BP4_Moderate",
            "BP4_Supporting",
            "none",
            "BP4_Strong",
        ]
    )
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    coverage, lr = coverage_and_lr(codes, labels)
    # P/LP: 4; PP3_Supporting-or-more: 2 of 4 P/LP, 1 of 4 B/LB -> LR 2
    assert coverage["PP3_Supporting"] == pytest.approx(0.5)
    assert lr["PP3_Supporting"] == pytest.approx(2.0)
    assert coverage["PP3_Strong"] == pytest.approx(0.25)
    assert lr["PP3_Strong"] == math.inf
    # BP4_Supporting-or-more: 2 of 4 B/LB, 1 of 4 P/LP (the BP4_Strong one)
    assert coverage["BP4_Supporting"] == pytest.approx(0.5)
    assert lr["BP4_Supporting"] == pytest.approx(2.0)
    assert coverage["BP4_Moderate"] == pytest.approx(0.25)
    assert coverage["PP3_VeryStrong"] is None and lr["BP4_VeryStrong"] is None


def test_calibration_holds_compares_with_clingen_lrs():
    metrics = {
        "empirical_lr": {
            "PP3_Supporting": 2.5,
            "PP3_Strong": 20.0,
            "BP4_Moderate": 6.0,
            "BP4_Strong": None,
        }
    }
    assert calibration_holds(metrics) == {
        "PP3_Supporting": True,
        "PP3_Strong": False,
        "BP4_Moderate": True,
    }


def test_published_thresholds_are_ordered_like_evidence_levels():
    for name, entry in published_thresholds().items():
        values = thresholds_of(entry)
        pp3 = [v for k, v in values.items() if k.startswith("PP3") and v is not None]
        bp4 = [v for k, v in values.items() if k.startswith("BP4") and v is not None]
        assert pp3 == sorted(pp3), name
        assert bp4 == sorted(bp4, reverse=True), name
        assert max(bp4) < min(pp3), name
