"""The progress bar long commands show on stderr: nothing when stderr is no terminal or output is JSON."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["ProgressBar"]


class ProgressBar:
    """A transient rich bar: ``description``, bar, ``done/total`` (plus ``unit``) and the time elapsed."""

    def __init__(
        self,
        description: str,
        total: int,
        *,
        enabled: bool,
        unit: str | None = None,
        refresh_thread: bool = True,
    ) -> None:
        """``refresh_thread=False``: the bar is redrawn on updates only, with no thread of its own (an
        import forks its check process only while the process runs a single thread)."""
        self._description = description
        self._refresh = not refresh_thread
        self._total = total
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled:  # rich is imported only when a bar is shown: `--help` and --json stay quick
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
            if unit:
                columns.append(TextColumn(unit))
            self._progress = Progress(
                *columns,
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
                auto_refresh=refresh_thread,
            )

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=self._total)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, steps)
            if self._refresh:
                self._progress.refresh()

    def update(
        self, *, completed: int | None = None, total: int | None = None, description: str | None = None
    ) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=completed, total=total, description=description, refresh=self._refresh
            )
