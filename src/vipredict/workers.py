"""Jobs worked in worker processes in two steps, the second ordered by this process.

A streamed ingest prepares chunks of a file independently (parsing, features),
but numbering a chunk's rows needs every earlier chunk's count, and a chunk
that goes back over positions the run already wrote must look in their files.
Sending the prepared rows back to one process that numbers and writes them
cost a third of an ingest's CPU (a hundred megabytes a chunk through files,
written by one process and faulted in by the other). So the worker that
prepared a job also finishes it:

1. ``work.prepare(job)`` in a worker gives a small ``summary`` (sent here) and
   what it holds (kept in the worker);
2. here, in job order, ``decide(index, summary)`` gives the ``order`` that
   job is finished with, and whether it is a *barrier*: it is sent only once
   every earlier job is finished, and nothing later is decided before its
   result is back;
3. ``work.finish(held, order)`` in the same worker gives the ``result``,
   yielded here in job order.

Jobs go to the workers in turn (job ``i`` to worker ``i % workers``), at most
``2 * workers`` ahead of the results yielded, so memory is bounded by that many
jobs whatever the length of the stream. With ``workers`` <= 1 the same steps run
here, one job after the other. A worker's error is raised here with its
traceback; a worker that dies stops the run with its exit code.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import pickle
import queue
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Seconds between checks that the workers are alive while waiting for a message.
POLL_SECONDS = 0.5
#: Seconds a finished worker gets to exit before it is stopped.
EXIT_SECONDS = 10.0


class TwoStepWork(Protocol):
    """The work done in a worker: made there once by a picklable factory."""

    def prepare(self, job: Any) -> tuple[Any, Any]:
        """``(summary, held)``: the summary is sent to the deciding process."""

    def finish(self, held: Any, order: Any) -> Any:
        """The job's result, from what ``prepare`` held and the order decided."""


def default_workers() -> int:
    """Worker processes of a job that keeps every core busy: one per core (at most 8).

    ``add-dbnsfp``'s chunk workers and ``prescore``'s file workers.
    """
    return max(1, min(os.cpu_count() or 1, 8))


#: What ``next`` gives when the jobs run out.
_END = object()

#: ``decide(index, summary) -> (order, barrier)``, called in job order.
Decide = Callable[[int, Any], tuple[Any, bool]]


class RemoteTraceback(Exception):
    """The traceback of an error raised in a worker (the cause of the error raised here)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


class Runner(Protocol):
    """Runs jobs with the workers of :func:`two_step_workers`."""

    def run(self, jobs: Iterable[Any], decide: Decide) -> Iterator[Any]:
        """The results of ``jobs``, in job order (see the module docstring)."""


@contextmanager
def two_step_workers(
    make_work: Callable[[], TwoStepWork],
    workers: int,
    processes: multiprocessing.context.BaseContext | None = None,
) -> Iterator[Runner]:
    """``workers`` processes started now, each with the work ``make_work`` makes there.

    They start when the block is entered, so a caller that forks them (``processes``
    of the ``fork`` method) does so before it starts threads a fork must not copy.
    Leaving the block lets them go (see :meth:`_Pool.close`); an error stops them.
    With ``workers`` <= 1 the work is done here.
    """
    if workers <= 1:
        yield _Here(make_work())
        return
    pool = _Pool.start(make_work, workers, processes or multiprocessing.get_context())
    graceful = False
    try:
        yield pool
        graceful = True
    finally:
        pool.close(graceful)


@dataclass
class _Here:
    """The steps done in this process, one job after the other."""

    work: TwoStepWork

    def run(self, jobs: Iterable[Any], decide: Decide) -> Iterator[Any]:
        for index, job in enumerate(jobs):
            summary, held = self.work.prepare(job)
            order, _ = decide(index, summary)
            yield self.work.finish(held, order)


# --------------------------------------------------------------------------- in a worker


def _serve(
    make_work: Callable[[], TwoStepWork],
    jobs: multiprocessing.Queue,
    orders: multiprocessing.Queue,
    results: multiprocessing.Queue,
) -> None:
    """A worker's life: prepare each job sent, wait for its order, finish it."""
    try:
        work = make_work()
    except BaseException as error:  # no job yet: sent as the first one's
        results.put((0, "failed", (_picklable(error), traceback.format_exc())))
        return
    while (item := jobs.get()) is not None:
        index, job = item
        try:
            summary, held = work.prepare(job)
            del job, item
            results.put((index, "prepared", summary))
            order = orders.get()
            if order is None:  # the run stopped before this job's turn
                return
            result = work.finish(held, order)
            del held
            results.put((index, "finished", result))
        except BaseException as error:  # sent, then this worker stops
            results.put((index, "failed", (_picklable(error), traceback.format_exc())))
            return


def _picklable(error: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


# --------------------------------------------------------------------------- here


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    jobs: multiprocessing.Queue
    orders: multiprocessing.Queue


@dataclass
class _Pool:
    """Worker processes, what they sent, and where each job is."""

    workers: list[_Worker]
    results: multiprocessing.Queue
    inbox: dict[tuple[int, str], Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        make_work: Callable[[], TwoStepWork],
        count: int,
        processes: multiprocessing.context.BaseContext,
    ) -> _Pool:
        results = processes.Queue()
        workers = []
        for _ in range(count):
            jobs, orders = processes.Queue(), processes.Queue()
            process = processes.Process(
                target=_serve, args=(make_work, jobs, orders, results), daemon=True
            )
            process.start()
            workers.append(_Worker(process, jobs, orders))
        return cls(workers, results)

    def run(self, jobs: Iterable[Any], decide: Decide) -> Iterator[Any]:
        return _steps(iter(jobs), decide, self)

    def receive(self) -> None:
        """Wait for the next message from a worker (raising a worker's error)."""
        try:
            index, kind, payload = self.results.get(timeout=POLL_SECONDS)
        except queue.Empty:
            stopped = [w.process.exitcode for w in self.workers if w.process.exitcode is not None]
            if not stopped:
                return
            try:  # a worker that failed sent why before it stopped: that is the error
                index, kind, payload = self.results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                raise RuntimeError(f"a worker process stopped (exit code {stopped[0]})") from None
        if kind == "failed":
            error, text = payload
            raise error from RemoteTraceback(text)
        self.inbox[(index, kind)] = payload

    def close(self, graceful: bool) -> None:
        """Let the workers go (``graceful``: the stream ended or its reader stopped) or stop
        them at once (an error). A worker let go finishes the job it is on, if it was
        ordered, and leaves the rest undone."""
        for worker in self.workers:
            if graceful:
                worker.jobs.put(None)
                worker.orders.put(None)
            worker.jobs.cancel_join_thread()
            worker.orders.cancel_join_thread()
        for worker in self.workers:
            if graceful:
                worker.process.join(EXIT_SECONDS)
            if worker.process.exitcode is None:
                worker.process.terminate()
                worker.process.join()


def _steps(jobs: Iterator[Any], decide: Decide, pool: _Pool) -> Iterator[Any]:
    """Send, decide and yield as messages come, keeping at most ``2 * workers`` jobs ahead
    of the results yielded. Waiting for one kind of message never holds up the other:
    a worker that finished its job gets the next at once, while another prepares."""
    count = len(pool.workers)
    sent = decided = done = 0
    barrier: int | None = None  # a barrier job decided and not yet finished
    held: Any = None  # the barrier's order, sent once every earlier job is finished
    more = True
    while True:
        while more and sent - done < 2 * count:
            job = next(jobs, _END)
            if job is _END:
                more = False
                break
            pool.workers[sent % count].jobs.put((sent, job))
            sent += 1
        if done == sent:  # every job sent is yielded, and there are no more
            return
        if (done, "finished") in pool.inbox:
            yield pool.inbox.pop((done, "finished"))
            barrier = None if barrier == done else barrier
            done += 1
        elif barrier == done and held is not None:
            pool.workers[done % count].orders.put(held)
            held = None
        elif barrier is None and decided < sent and (decided, "prepared") in pool.inbox:
            order, is_barrier = decide(decided, pool.inbox.pop((decided, "prepared")))
            if is_barrier:
                barrier, held = decided, order
            else:
                pool.workers[decided % count].orders.put(order)
            decided += 1
        else:
            pool.receive()
