"""Two-step jobs in worker processes: results in order, barriers kept, errors and deaths raised.

Fast logic tests on made-up jobs (integers), in forked workers.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator

import pytest

from vipredict.workers import RemoteTraceback, two_step_workers

FORK = multiprocessing.get_context("fork")


class Doubling:
    """Prepares ``job * 2``; finishes with where and when it ran."""

    def __init__(self, fail_on: int | None = None, die_on: int | None = None) -> None:
        self.fail_on, self.die_on = fail_on, die_on

    def prepare(self, job: int) -> tuple[int, tuple[int, int]]:
        if job == self.fail_on:
            raise ValueError(f"job {job} is bad")
        if job == self.die_on:
            os._exit(3)
        time.sleep(0.01 * (job % 3))  # jobs finish out of order
        return job * 2, (job, os.getpid())

    def finish(self, held: tuple[int, int], order: int) -> dict[str, float]:
        job, prepared_in = held
        started = time.monotonic()
        time.sleep(0.02 if job % 4 == 0 else 0.0)
        return {
            "job": job,
            "order": order,
            "prepared_in": prepared_in,
            "finished_in": os.getpid(),
            "started": started,
            "ended": time.monotonic(),
        }


class Running:
    """Orders each job with the running total of the summaries before it; ``barriers`` too."""

    def __init__(self, barriers: set[int] = frozenset()) -> None:
        self.total, self.barriers, self.events = 0, barriers, []

    def decide(self, index: int, summary: int) -> tuple[int, bool]:
        self.events.append(("decide", index))
        order, self.total = self.total, self.total + summary
        return order, index in self.barriers


def counted(n: int, pulled: list[int]) -> Iterator[int]:
    for job in range(n):
        pulled.append(job)
        yield job


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_come_in_job_order_each_finished_where_it_was_prepared(workers: int) -> None:
    running, pulled = Running(), []
    with two_step_workers(Doubling, workers, FORK) as runner:
        results = []
        for result in runner.run(counted(20, pulled), running.decide):
            # never more than two jobs a worker ahead of the results
            assert len(pulled) <= len(results) + 2 * max(workers, 1) + (workers <= 1)
            results.append(result)
    assert [r["job"] for r in results] == list(range(20))
    assert [r["order"] for r in results] == [2 * sum(range(i)) for i in range(20)]
    assert all(r["prepared_in"] == r["finished_in"] for r in results)
    here = {r["finished_in"] for r in results} == {os.getpid()}
    assert here == (workers <= 1)


def test_a_barrier_is_finished_after_every_earlier_job_and_before_the_next_is_decided() -> None:
    running = Running(barriers={5, 6, 11})
    with two_step_workers(Doubling, 2, FORK) as runner:
        results = []
        for result in runner.run(range(16), running.decide):
            running.events.append(("yield", result["job"]))
            results.append(result)
    assert [r["order"] for r in results] == [2 * sum(range(i)) for i in range(16)]
    for barrier in (5, 6, 11):
        assert results[barrier]["started"] >= max(r["ended"] for r in results[:barrier])
        events = running.events
        assert events.index(("yield", barrier)) < events.index(("decide", barrier + 1))


def test_a_workers_error_is_raised_here_with_its_traceback() -> None:
    with (
        pytest.raises(ValueError, match="job 3 is bad") as raised,
        two_step_workers(lambda: Doubling(fail_on=3), 2, FORK) as runner,
    ):
        list(runner.run(range(10), Running().decide))
    cause = raised.value.__cause__
    assert isinstance(cause, RemoteTraceback) and "in prepare" in str(cause)


def test_a_worker_that_dies_stops_the_run() -> None:
    with (
        pytest.raises(RuntimeError, match="exit code 3"),
        two_step_workers(lambda: Doubling(die_on=2), 2, FORK) as runner,
    ):
        list(runner.run(range(10), Running().decide))


def test_stopping_early_lets_the_workers_go() -> None:
    with two_step_workers(Doubling, 2, FORK) as runner:
        pool = runner
        for done, _ in enumerate(runner.run(range(100), Running().decide), start=1):
            if done == 3:
                break
    assert [w.process.exitcode for w in pool.workers] == [0, 0]


def _cannot_start() -> Doubling:
    raise OSError("the run's context is gone")


def test_a_worker_that_cannot_start_says_why() -> None:
    with (
        pytest.raises(OSError, match="context is gone"),
        two_step_workers(_cannot_start, 2, FORK) as runner,
    ):
        list(runner.run(range(4), Running().decide))
