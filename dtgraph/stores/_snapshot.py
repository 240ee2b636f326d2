"""Snapshots of the memory store: its change log up to a journal offset, loaded instead of replaying it.

Replaying a journal decodes JSON and re-packs every record; a snapshot holds the change log already
packed (every version, so ``history`` and ``as_of`` keep working), in ``marshal`` form, which loads
several times faster. Opening a data directory loads the snapshot, then replays only the journal after
the offset it covers. The journal stays the record of truth: a snapshot that is missing, damaged, or
does not match the journal (a journal replaced, cut or rewritten below the offset) is ignored, and the
whole journal is replayed, as without one.

``snapshot.dts`` is the line ``dtgraph snapshot 1\\n``, then frames (magic ``DTS1``, payload length,
crc32 of the payload, payload): first ``marshal((journal_end, crc32 of the journal's last bytes
before journal_end))``, then one frame per logged change, then ``marshal(("end", changes))``. It is
written to a temporary file, fsync'd and renamed over the old one, so a crash leaves the old snapshot
or the new one, never a part.
"""

from __future__ import annotations

import marshal
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["SNAPSHOT_NAME", "journal_tail_crc", "read_snapshot", "write_snapshot"]

SNAPSHOT_NAME = "snapshot.dts"
_HEADER = b"dtgraph snapshot 1\n"
_MAGIC = b"DTS1"
_FRAME = struct.Struct(">4sII")
_TAIL = 4096  # journal bytes checked against the snapshot: any rewrite of the journal's end shows


def journal_tail_crc(fd: int, end: int) -> int:
    """crc32 of the journal's last bytes before ``end``: identifies the journal prefix a snapshot covers."""
    start = max(0, end - _TAIL)
    return zlib.crc32(os.pread(fd, end - start, start))


def write_snapshot(
    directory: Path, journal_end: int, tail_crc: int, entries: Iterable[Any], fsync: bool
) -> None:
    """Write the plain (marshal-able) ``entries`` as the snapshot of the journal up to ``journal_end``."""
    path = directory / SNAPSHOT_NAME
    temporary = path.with_suffix(".tmp")
    count = 0
    try:
        with temporary.open("wb") as out:
            out.write(_HEADER)
            out.write(_frame(marshal.dumps((journal_end, tail_crc))))
            for entry in entries:
                out.write(_frame(marshal.dumps(entry)))
                count += 1
            out.write(_frame(marshal.dumps(("end", count))))
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if fsync:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_snapshot(directory: Path) -> tuple[int, int, list[Any]] | None:
    """(journal end, tail crc, plain entries) of the snapshot, or None if there is none or it is damaged."""
    try:
        data = (directory / SNAPSHOT_NAME).read_bytes()
    except OSError:
        return None
    if not data.startswith(_HEADER):
        return None
    try:
        frames = list(_frames(data, len(_HEADER)))
        journal_end, tail_crc = marshal.loads(frames[0])
        end = marshal.loads(frames[-1])
        entries = [marshal.loads(f) for f in frames[1:-1]]
    except (ValueError, EOFError, TypeError, IndexError):
        return None
    if end != ("end", len(entries)) or not isinstance(journal_end, int):
        return None
    return journal_end, tail_crc, entries


def _frame(payload: bytes) -> bytes:
    return _FRAME.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload


def _frames(data: bytes, offset: int) -> Iterator[bytes]:
    view = memoryview(data)
    while offset < len(data):
        if offset + _FRAME.size > len(data):
            raise ValueError("a torn frame")
        magic, length, crc = _FRAME.unpack_from(data, offset)
        start = offset + _FRAME.size
        payload = view[start : start + length]
        if magic != _MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
            raise ValueError("a damaged frame")
        yield bytes(payload)
        offset = start + length
