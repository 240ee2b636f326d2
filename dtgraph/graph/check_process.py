"""The check of an import run in a forked child process, beside the write in this one.

An import into the memory store uses both cores when it can: this process forks, the child checks the
file against the store as it was (its copy-on-write view of this process's memory is the graph
before the import, which is what a check must see), and this process writes the file's records into
the store as one stream meanwhile. Both read the file. Measured on a 1M-twin demo file (2 cores): the
check alone takes 22 s, the write alone 31 s; one after the other in one process 44 s, side by side 30 s.

The child says at once when it finds a problem, so the writer stops early, and sends its report at the
end. The stream commits only on a clean report; otherwise the store rolls it back, as it does when a
one-pass import finds a problem.

Forking is used only where it is safe and pays off: on Linux, in a process running a single thread
(a lock another thread held at the fork would stay held in the child forever; C libraries' threads
count too), for files of at least :data:`FORK_BYTES`. The child ends with ``os._exit``: it never runs
the parent's exit handlers, flushes its buffers or closes its stores (a memory store writes a snapshot
on close).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, NoReturn, Self

from dtgraph.stores.errors import StoreError

if TYPE_CHECKING:
    from dtgraph.graph.bulk import ImportReport

__all__ = ["FORK_BYTES", "CheckProcess", "usable"]

FORK_BYTES = 16 << 20  # below this, forking and reading the file twice save little (~20k twins)

# what the child writes on its pipe: a problem found (once, at once), then its report or its failure
_PROBLEM = b"!"
_REPORT = b"R"
_FAILURE = b"F"

Check = Callable[[Callable[[], None]], "ImportReport"]  # run in the child, given how to tell of a problem


def usable(path: Path) -> bool:
    """Whether an import of ``path`` may check it in a forked process: on Linux (elsewhere fork without
    exec is unsafe with system libraries or missing), in a process of one thread, for a large file."""
    return sys.platform == "linux" and _threads() == 1 and path.stat().st_size >= FORK_BYTES


def _threads() -> int:
    """The threads of this process, those started outside Python (a C library's pool) included."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


class CheckProcess:
    """``check`` running in a forked child: :meth:`problem_found` polls it, :meth:`report` waits for its
    answer; leaving the ``with`` block stops a child still running."""

    def __init__(self, check: Check) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _run_child(check, write_end)
        os.close(write_end)
        self._pid = pid
        self._fd = read_end
        self._received = bytearray()
        self._ended = False
        self._status = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def problem_found(self) -> bool:
        """Whether the child has told of a problem so far (does not wait)."""
        if not self._received and not self._ended and select.select([self._fd], [], [], 0)[0]:
            self._read_some()
        return self._received[:1] == _PROBLEM

    def report(self) -> ImportReport:
        """The child's report, once it has checked the whole file; StoreError if it failed or died."""
        while not self._ended:
            self._read_some()
        status = self._reap()
        answer = bytes(self._received.removeprefix(_PROBLEM))
        if answer[:1] == _REPORT and status == 0:
            report: ImportReport = pickle.loads(answer[1:])  # our own child's bytes
            return report
        if answer[:1] == _FAILURE:
            raise StoreError(f"the import's check failed; nothing was written:\n{answer[1:].decode()}")
        raise StoreError(f"the import's check process ended with status {status}; nothing was written")

    def stop(self) -> None:
        """Kill the child if it still runs, and reap it."""
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._reap()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _read_some(self) -> None:
        data = os.read(self._fd, 1 << 16)
        if data:
            self._received += data
        else:
            self._ended = True

    def _reap(self) -> int:
        if not self._pid:
            return self._status
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        self._status = os.waitstatus_to_exitcode(status)
        return self._status


def _run_child(check: Check, fd: int) -> NoReturn:
    status = 0
    try:
        gc.disable()  # the child lives for one check: collections would only walk its bookkeeping
        told = False

        def tell() -> None:
            nonlocal told
            if not told:
                told = True
                _write_all(fd, _PROBLEM)

        _write_all(fd, _REPORT + pickle.dumps(check(tell), protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:
        status = 1
        with contextlib.suppress(BaseException):
            _write_all(fd, _FAILURE + traceback.format_exc().encode())
    finally:
        os._exit(status)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
