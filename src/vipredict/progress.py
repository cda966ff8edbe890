"""How long jobs report progress: one message callback type, and a bar over bytes read.

Library code takes a :data:`Progress` callback (a no-op by default) instead of
printing, so the CLI decides how messages look and tests stay quiet.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Called with one human-readable message per step of a long job.
Progress = Callable[[str], None]
#: Called with the input bytes consumed so far (drives a progress bar).
ByteProgress = Callable[[int], None]
#: Called once per finished item of a job over a known number of items.
StepProgress = Callable[[], None]


def no_step() -> None:
    """The default :data:`StepProgress`: count nothing."""


def quiet(_: str) -> None:
    """The default :data:`Progress`: say nothing."""


@contextmanager
def byte_progress(total: int, description: str, show: bool = True) -> Iterator[ByteProgress]:
    """A rich progress bar over ``total`` input bytes, advanced to the position it is given."""
    if not show:
        yield lambda _: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as Bar

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Bar(*columns, transient=False, disable=os.environ.get("TERM") == "dumb") as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.update(task, completed=min(done, total))


@contextmanager
def count_progress(total: int, description: str, show: bool = True) -> Iterator[StepProgress]:
    """A rich progress bar over ``total`` items, advanced by one per call (thread-safe)."""
    if not show or total <= 0:
        yield no_step
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Bar(*columns, transient=False, disable=os.environ.get("TERM") == "dumb") as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)
