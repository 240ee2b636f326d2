"""Run a command with its stderr on a pseudo-terminal, as a user at a shell would see it."""

from __future__ import annotations

import os
import pty
import threading
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


def on_terminal(run: Callable[[int], Result]) -> tuple[Result, bytes]:
    """Call ``run(stderr_fd)`` with a terminal as stderr; return its result and what the terminal showed."""
    leader, follower = pty.openpty()
    shown = bytearray()

    def drain() -> None:  # keep reading the terminal, so a progress bar never blocks on a full buffer
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO once the child has closed its end
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        result = run(follower)
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    return result, bytes(shown)
