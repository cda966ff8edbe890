"""Peak Python allocation of a piece of work: how the hostile-input tests show a bound holds.

Counting bytes allocated, not time, keeps those tests deterministic on a loaded machine.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def allocation_peak(work: Callable[[], T]) -> tuple[T, int]:
    """What ``work`` returns and the peak bytes Python allocated while it ran."""
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
