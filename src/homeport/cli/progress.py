"""Rich progress bars for the data commands (export, import), fed by counters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from homeport.cli.common import err_console


class Bars:
    """One bar per named step; ``update(name, done, total)`` creates it on first use."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def update(self, name: str, done: int, total: int | None = None) -> None:
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=total)
        self.progress.update(self.tasks[name], completed=done, total=total)

    def counts(self, counts: dict[str, int]) -> None:
        for name, done in counts.items():
            if done:
                self.update(name, done)


@contextmanager
def bars(enabled: bool = True) -> Iterator[Bars]:
    progress = Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not enabled,
        transient=False,
    )
    with progress:
        yield Bars(progress)
