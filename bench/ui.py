"""Progress while the benchmarks run (rich), silent where nobody watches (tests)."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Step:
    """One phase of a benchmark (e.g. "relay + project 200,000 events") with a bar."""

    def __init__(self, ui: Ui, task: TaskID | None, total: int | None) -> None:
        self.ui = ui
        self.task = task
        self.total = total
        self.started = time.monotonic()

    def update(self, completed: int) -> None:
        if self.ui.progress is not None and self.task is not None:
            self.ui.progress.update(self.task, completed=completed)

    def __enter__(self) -> Step:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.ui.progress is not None and self.task is not None:
            if exc_type is None and self.total is not None:
                self.ui.progress.update(self.task, completed=self.total)
            self.ui.progress.stop_task(self.task)
            self.ui.progress.update(self.task, visible=exc_type is None)


class Ui:
    """Console and progress bars; ``quiet`` turns every call into a no-op."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.console = Console(stderr=True, quiet=quiet)
        self.progress: Progress | None = None
        if not quiet:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )

    def __enter__(self) -> Ui:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def step(self, description: str, total: int | None = None) -> Step:
        task = None
        if self.progress is not None:
            task = self.progress.add_task(description, total=total)
        return Step(self, task, total)

    def log(self, message: str) -> None:
        self.console.log(message)
