"""What only the memory store does: the journal (replay, torn tails, corruption, crashes), history, as_of.

The contract every store shares is in test_contract.py.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import textwrap
import threading
import tracemalloc
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dtgraph.graph.records import Relationship, Twin
from dtgraph.stores import memory
from dtgraph.stores._packed import PackedRelationship, PackedTwin
from dtgraph.stores.base import Batch, Capabilities, Change, Filter, Store
from dtgraph.stores.errors import StoreCorrupted, StoreError, UnsupportedOperation
from dtgraph.stores.memory import JOURNAL_NAME, MemoryStore
from tests.stores.models import ASSET, BATCHES, MACHINE, MODELS, PUMP

REPO = Path(__file__).resolve().parents[2]


class Clock:
    """A clock the test moves: each call returns the current time, then advances a minute."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        now = self.now
        self.now += timedelta(minutes=1)
        return now


def state(store: Store) -> tuple[Any, ...]:
    twins = sorted((t.id, t.model, dict(t.properties)) for t in store.snapshot() if isinstance(t, Twin))
    rels = sorted(
        (r.source, r.id, r.target, r.name, dict(r.properties))
        for r in store.snapshot()
        if isinstance(r, Relationship)
    )
    if isinstance(store, MemoryStore):  # the ends' shared id objects: one for each twin, none else
        assert store._ids == {i: i for i in store._nodes}
        assert all(store._ids[i] is data["twin"].id for i, data in store._nodes.items())
    return store.model_documents(), twins, rels, store.counts()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def fill(path: Path, batches: list[Batch] = BATCHES, **options: Any) -> list[tuple[Any, ...]]:
    """Apply ``batches`` one by one; the state after each."""
    states = []
    with MemoryStore(path, **options) as store:
        assert isinstance(store, MemoryStore)
        for batch in batches:
            store.apply(batch)
            states.append(state(store))
    return states


def reopened(path: Path) -> tuple[Any, ...]:
    with MemoryStore(path) as store:
        assert isinstance(store, MemoryStore)
        return state(store)


def frame_offsets(path: Path) -> list[int]:
    """The byte offset of each frame, read the simple way (header, then length-prefixed frames)."""
    data = (path / JOURNAL_NAME).read_bytes()
    offsets, offset = [], len(b"dtgraph journal 1\n")
    while offset < len(data):
        offsets.append(offset)
        offset += 12 + int.from_bytes(data[offset + 4 : offset + 8], "big")
    assert offset == len(data)
    return offsets


# --- the journal ---------------------------------------------------------------------------------------


def test_capabilities() -> None:
    assert MemoryStore().capabilities == Capabilities(history=True, persistent=False)


def test_capabilities_of_a_persistent_store(data: Path) -> None:
    with MemoryStore(data) as store:
        assert store.capabilities == Capabilities(history=True, persistent=True)


def test_a_reopened_store_replays_its_journal(data: Path) -> None:
    states = fill(data, fsync=True)
    assert reopened(data) == states[-1]
    assert reopened(data) == states[-1]  # replay itself writes nothing


def test_history_survives_a_reopen(data: Path) -> None:
    with MemoryStore(data, clock=Clock()) as store:
        for batch in BATCHES:
            store.apply(batch)
        before = [store.history(t) for t in ("a", "m", "p", "x")]
    with MemoryStore(data) as store:
        assert [store.history(t) for t in ("a", "m", "p", "x")] == before


def test_writes_continue_after_a_reopen(data: Path) -> None:
    fill(data, BATCHES[:3])
    states = fill(data, BATCHES[3:])
    assert reopened(data) == states[-1] == fill(data.parent / "other", BATCHES)[-1]


@pytest.mark.parametrize("cut", [1, 5, 11, 12, 13, -1])
def test_a_torn_last_frame_is_dropped(data: Path, cut: int) -> None:
    states = fill(data)
    journal = data / JOURNAL_NAME
    last = frame_offsets(data)[-1]
    size = journal.stat().st_size
    os.truncate(journal, last + cut if cut > 0 else size + cut)
    assert reopened(data) == states[-2]
    assert journal.stat().st_size == last  # cut back to the last complete batch
    with MemoryStore(data) as store:
        store.apply(BATCHES[-1])
    assert reopened(data) == states[-1]


@pytest.mark.parametrize("garbage", [b"\0", b"x" * 100, b"DTJ1", b"DTJ1\0\0\0\x05\0\0\0\0{}", b"\xff" * 13])
def test_garbage_after_the_last_frame_is_dropped(data: Path, garbage: bytes) -> None:
    states = fill(data)
    with (data / JOURNAL_NAME).open("ab") as file:
        file.write(garbage)
    assert reopened(data) == states[-1]


def test_a_torn_header_is_an_empty_journal(data: Path) -> None:
    data.mkdir()
    (data / JOURNAL_NAME).write_bytes(b"dtgraph jou")
    assert reopened(data)[3] == {"models": 0, "twins": 0, "relationships": 0}
    assert fill(data)[-1] == reopened(data)


def test_damage_in_the_middle_is_corruption(data: Path) -> None:
    fill(data)
    journal = data / JOURNAL_NAME
    second = frame_offsets(data)[1]
    raw = bytearray(journal.read_bytes())
    raw[second + 20] ^= 0x01  # one bit of the second batch's payload
    journal.write_bytes(bytes(raw))
    with pytest.raises(StoreCorrupted, match=f"byte {second}"):
        MemoryStore(data)
    assert journal.read_bytes() == bytes(raw)  # nothing is cut off a corrupted journal


def test_a_damaged_length_in_the_middle_is_corruption(data: Path) -> None:
    fill(data)
    journal = data / JOURNAL_NAME
    first = frame_offsets(data)[0]
    raw = bytearray(journal.read_bytes())
    raw[first + 4 : first + 8] = (2**31).to_bytes(4, "big")  # a length past the end of the file
    journal.write_bytes(bytes(raw))
    with pytest.raises(StoreCorrupted):
        MemoryStore(data)


def test_a_file_that_is_not_a_journal_is_refused(data: Path) -> None:
    data.mkdir()
    (data / JOURNAL_NAME).write_bytes(b'{"some": "json"}\n')
    with pytest.raises(StoreCorrupted, match="not a dtgraph journal"):
        MemoryStore(data)


def test_a_frame_that_cannot_be_replayed_is_corruption(data: Path) -> None:
    """A checksum-valid frame that breaks a rule (here a relationship to no twin) means a damaged history."""
    payload = b'{"time":"2026-01-01T00:00:00+00:00","relationships":[["r","a","b","feeds",{}]]}'
    data.mkdir()
    frame = b"DTJ1" + len(payload).to_bytes(4, "big") + zlib.crc32(payload).to_bytes(4, "big") + payload
    (data / JOURNAL_NAME).write_bytes(b"dtgraph journal 1\n" + frame)
    with pytest.raises(StoreCorrupted, match=r"batch 1 .* cannot be replayed"):
        MemoryStore(data)


def test_a_data_directory_is_used_by_one_store_at_a_time(data: Path) -> None:
    with MemoryStore(data), pytest.raises(StoreError, match="in use"):
        MemoryStore(data)
    MemoryStore(data).close()


def test_a_closed_store_refuses_writes(data: Path) -> None:
    store = MemoryStore(data)
    store.close()
    with pytest.raises(StoreError):
        store.apply(BATCHES[0])


def test_a_batch_that_is_not_json_writes_nothing(data: Path) -> None:
    with MemoryStore(data) as store:
        store.apply(BATCHES[1])
        with pytest.raises(StoreError, match="JSON"):
            store.apply(Batch(twins=[Twin("bad", ASSET, {"when": datetime.now(UTC)})]))
        assert store.get_twin("bad") is None
    assert reopened(data)[1] == [
        ("a", ASSET, {"name": "crane", "serial": 1}),
        ("m", MACHINE, {"temperature": 20.5}),
    ]


_CRASH = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from tests.stores.models import BATCHES
    from dtgraph.stores.memory import MemoryStore

    store = MemoryStore(Path(sys.argv[1]))
    for batch in BATCHES[:-1]:
        store.apply(batch)
    real_write, keep = os.write, int(sys.argv[2])

    def torn_write(fd, data):  # the machine dies part-way through the last batch's frame
        real_write(fd, bytes(data)[:keep])
        os._exit(17)

    os.write = torn_write
    store.apply(BATCHES[-1])
    """
)


@pytest.mark.parametrize("keep", [0, 3, 12, 40])
def test_a_process_killed_while_writing_a_batch_loses_only_that_batch(data: Path, keep: int) -> None:
    run = subprocess.run([sys.executable, "-c", _CRASH, str(data), str(keep)], cwd=REPO, capture_output=True)
    assert run.returncode == 17, run.stderr.decode()
    assert reopened(data) == fill(data.parent / "expected", BATCHES[:-1])[-1]


def test_a_failure_while_committing_rolls_back_memory_and_journal(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore(data)
    for batch in BATCHES[:-1]:
        store.apply(batch)
    before = state(store)
    size = (data / JOURNAL_NAME).stat().st_size
    calls = 0
    real = memory.add_edges

    def failing(graph: Any, rels: Iterable[PackedRelationship], index: Any) -> None:
        nonlocal calls
        for rel in rels:
            calls += 1
            if calls == 2:
                raise KeyboardInterrupt  # an interrupt half-way through the relationships
            real(graph, (rel,), index)

    monkeypatch.setattr(memory, "add_edges", failing)
    batch = Batch(
        delete_twins=["m"],
        twins=[Twin("x", ASSET), Twin("a", MACHINE, {"temperature": 1.0})],
        relationships=[Relationship("n1", "x", "a", "feeds"), Relationship("n2", "a", "x", "feeds")],
        delete_relationships=[("a", "r1")],
    )
    with pytest.raises(KeyboardInterrupt):
        store.apply(batch)
    assert state(store) == before
    assert (data / JOURNAL_NAME).stat().st_size == size
    assert store.history("x") == []
    monkeypatch.undo()
    store.apply(batch)
    after = state(store)
    store.close()
    assert reopened(data) == after


# --- streams: one change in parts ----------------------------------------------------------------------


def parts(batches: list[Batch] = BATCHES, fail_at: int | None = None) -> Iterator[Batch]:
    """``batches`` one by one, as a bulk import streams its chunks; raises instead of batch ``fail_at``."""
    for number, batch in enumerate(batches, start=1):
        if number == fail_at:
            raise RuntimeError(f"the source failed at batch {number}")
        yield batch


def test_a_stream_applies_its_batches_in_order_and_replays_after_a_reopen(data: Path) -> None:
    expected = fill(data.parent / "one-by-one", BATCHES)[-1]
    with MemoryStore(data, fsync=True, clock=Clock()) as store:
        assert store.apply_stream(parts()) == sum(b.size for b in BATCHES)
        assert state(store) == expected
        history = [store.history(t) for t in ("a", "m", "p", "x")]
    assert len(frame_offsets(data)) == len(BATCHES) + 1  # a frame per part and the commit frame
    with MemoryStore(data) as store:
        assert state(store) == expected
        assert [store.history(t) for t in ("a", "m", "p", "x")] == history
        store.apply(Batch(twins=[Twin("later", ASSET)]))  # plain batches follow a stream
    with MemoryStore(data) as store:
        assert state(store)[3]["twins"] == expected[3]["twins"] + 1


def test_a_stream_syncs_its_parts_before_its_commit_frame_and_that_after(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore(data, fsync=True)
    events: list[str] = []
    real_write, real_fsync = os.write, os.fsync

    def write(fd: int, payload: Any) -> int:
        if fd == store._journal.fd:  # type: ignore[union-attr]
            events.append("commit" if b'"commit":true' in bytes(payload) else "part")
        return real_write(fd, payload)

    def fsync(fd: int) -> None:
        if fd == store._journal.fd:  # type: ignore[union-attr]
            events.append("sync")
        real_fsync(fd)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)
    store.apply_stream(parts())
    monkeypatch.undo()
    store.close()
    assert events == ["part"] * len(BATCHES) + ["sync", "commit", "sync"]


def test_a_stream_is_one_change_in_time() -> None:
    store = MemoryStore(clock=Clock())
    store.apply(BATCHES[0])
    store.apply_stream(parts(BATCHES[1:]))
    changes = store.history("a")
    assert len(changes) == 4 and {c.time for c in changes} == {datetime(2026, 1, 1, 0, 1, tzinfo=UTC)}
    assert state(store.as_of(datetime(2026, 1, 1, 0, 0, 59, tzinfo=UTC)))[3]["twins"] == 0
    assert state(store.as_of(datetime(2026, 1, 1, 0, 1, tzinfo=UTC))) == state(store)


def test_an_empty_stream_writes_nothing(data: Path) -> None:
    with MemoryStore(data) as store:
        size = (data / JOURNAL_NAME).stat().st_size
        assert store.apply_stream(iter([Batch(), Batch()])) == 0
        assert (data / JOURNAL_NAME).stat().st_size == size


@pytest.mark.parametrize("fault", ["source", "rule", "interrupt"])
def test_a_failure_in_the_third_batch_rolls_back_the_whole_stream(
    data: Path, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore(data, clock=Clock())
    store.apply_stream(parts(BATCHES[:2]))
    store.apply(Batch(twins=[Twin("x", ASSET, {"name": "before"})]))
    before, history = state(store), [store.history(t) for t in ("a", "m", "p", "x")]
    journal = (data / JOURNAL_NAME).read_bytes()
    stream = [
        Batch(twins=[Twin("a", PUMP, {"flow": 2.0}), Twin("n", ASSET)], delete_twins=["m"]),
        Batch(relationships=[Relationship("r1", "a", "n", "feeds"), Relationship("r9", "n", "x", "partOf")]),
        Batch(twins=[Twin("x", MACHINE)], models=[{**MODELS[0], "description": "changed"}]),
        Batch(delete_relationships=[("a", "r1")]),
    ]
    if fault == "source":
        batches = parts(stream, fail_at=3)
        error: type[BaseException] = RuntimeError
    elif fault == "rule":  # the fourth batch's plan finds a relationship to no twin
        batches = parts([*stream[:3], Batch(relationships=[Relationship("bad", "a", "nobody", "feeds")])])
        error = StoreError
    else:  # an interrupt half-way through committing the third batch in memory
        calls, real = 0, MemoryStore._put_twins

        def failing(self: MemoryStore, twins: Iterable[PackedTwin], *, new: bool = False) -> None:
            nonlocal calls
            for twin in twins:
                calls += 1
                if calls == 3:  # the third batch's twin
                    raise KeyboardInterrupt
                real(self, (twin,), new=new)

        monkeypatch.setattr(MemoryStore, "_put_twins", failing)
        batches, error = parts(stream), KeyboardInterrupt
    with pytest.raises(error):
        store.apply_stream(batches)
    monkeypatch.undo()
    assert state(store) == before
    assert [store.history(t) for t in ("a", "m", "p", "x")] == history
    assert (data / JOURNAL_NAME).read_bytes() == journal
    store.apply_stream(parts(stream))  # the store is fine: the same stream applies afterwards
    after = state(store)
    store.close()
    assert reopened(data) == after


def test_writing_from_inside_a_stream_is_refused(data: Path) -> None:
    store = MemoryStore(data)

    def sneaky() -> Iterator[Batch]:
        yield BATCHES[0]
        store.apply(BATCHES[1])  # the stream's own thread may read, not write
        yield BATCHES[1]

    with pytest.raises(StoreError, match="applying a stream"):
        store.apply_stream(sneaky())
    assert state(store)[3] == {"models": 0, "twins": 0, "relationships": 0}
    store.apply_stream(parts())  # the refusal left no trace


def test_readers_in_other_threads_wait_for_the_whole_stream() -> None:
    store = MemoryStore()
    store.apply(BATCHES[0])
    first_applied, go_on = threading.Event(), threading.Event()
    seen: list[dict[str, int]] = []

    def slow() -> Iterator[Batch]:
        yield BATCHES[1]
        assert store.counts()["twins"] == 2  # the stream's own thread sees its parts
        first_applied.set()
        go_on.wait(10)
        yield BATCHES[2]

    writer = threading.Thread(target=store.apply_stream, args=(slow(),))
    writer.start()
    first_applied.wait(10)
    reader = threading.Thread(target=lambda: seen.append(store.counts()))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive() and not seen  # waiting for the stream, not reading half of it
    go_on.set()
    writer.join(10)
    reader.join(10)
    assert seen == [{"models": 5, "twins": 3, "relationships": 2}]


_STREAM_CRASH = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from tests.stores.models import BATCHES
    from dtgraph.stores.memory import MemoryStore

    store = MemoryStore(Path(sys.argv[1]))
    store.apply(BATCHES[0])
    how = sys.argv[2]
    real_write = os.write

    def dying(fd, data):
        data = bytes(data)
        if how == "commit" and b'"commit":true' in data:
            os._exit(17)  # every part is on disk, the commit frame is not
        if how == "torn" and b'"part":3' in data:
            real_write(fd, data[:30])  # the third part's frame is half written
            os._exit(17)
        return real_write(fd, data)

    os.write = dying

    def batches():
        yield from BATCHES[1:3]
        if how == "between":
            os._exit(17)  # the source dies between two batches
        yield from BATCHES[3:]

    store.apply_stream(batches())
    """
)


@pytest.mark.parametrize("how", ["between", "torn", "commit"])
def test_a_process_killed_during_a_stream_loses_the_whole_stream(data: Path, how: str) -> None:
    run = subprocess.run([sys.executable, "-c", _STREAM_CRASH, str(data), how], cwd=REPO, capture_output=True)
    assert run.returncode == 17, run.stderr.decode()
    expected = fill(data.parent / "expected", BATCHES[:1])[-1]
    size = (data.parent / "expected" / JOURNAL_NAME).stat().st_size
    assert (data / JOURNAL_NAME).stat().st_size > size + 300  # parts of the stream reached the journal
    assert reopened(data) == expected
    assert (data / JOURNAL_NAME).stat().st_size == size  # the open group was cut off
    with MemoryStore(data) as store:
        store.apply_stream(parts(BATCHES[1:]))
    assert reopened(data) == fill(data.parent / "all", BATCHES)[-1]


def frame(payload: bytes) -> bytes:
    return b"DTJ1" + len(payload).to_bytes(4, "big") + zlib.crc32(payload).to_bytes(4, "big") + payload


def test_anything_after_a_stream_left_open_is_corruption(data: Path) -> None:
    run = subprocess.run([sys.executable, "-c", _STREAM_CRASH, str(data), "commit"], cwd=REPO)
    assert run.returncode == 17
    journal = data / JOURNAL_NAME
    with journal.open("ab") as file:  # a plain batch after the open group: no crash writes that
        file.write(
            frame(b'{"time":"2030-01-01T00:00:00+00:00","twins":[["z","' + ASSET.encode() + b'",{}]]}')
        )
    raw = journal.read_bytes()
    with pytest.raises(StoreCorrupted, match="never committed"):
        MemoryStore(data)
    assert journal.read_bytes() == raw


def test_a_commit_frame_must_close_its_parts(data: Path) -> None:
    with MemoryStore(data) as store:
        store.apply_stream(parts(BATCHES[:2]))
    journal = data / JOURNAL_NAME
    raw = journal.read_bytes()
    last = frame_offsets(data)[-1]
    commit = raw[last + 12 :].replace(b'"parts":2', b'"parts":3')
    journal.write_bytes(raw[:last] + frame(commit))
    with pytest.raises(StoreCorrupted, match="does not close its parts"):
        MemoryStore(data)


@pytest.mark.parametrize("journalled", [False, True])
def test_a_stream_holds_one_batch_at_a_time_beyond_the_store(tmp_path: Path, journalled: bool) -> None:
    """50 batches of 200 twins whose (shared) 2 kB text costs the store nothing but its journal frame
    2 kB a twin: pending data shows as the peak of traced memory above what the store keeps at the end."""
    blob = "x" * 2000
    frame_size = 200 * 2000

    def batches() -> Iterator[Batch]:
        yield Batch(models=MODELS)
        for c in range(50):
            yield Batch(twins=[Twin(f"t{c:02d}-{i:03d}", ASSET, {"name": blob}) for i in range(200)])

    def overhead(apply: Any) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            apply(batches())
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return peak - current

    def store(name: str) -> MemoryStore:
        return MemoryStore(tmp_path / name, fsync=False) if journalled else MemoryStore()

    streamed = store("streamed")
    gathering = store("gathering")
    stream_overhead = overhead(streamed.apply_stream)
    gather_overhead = overhead(lambda b: Store.apply_stream(gathering, b))  # the default: one big batch
    assert state(streamed) == state(gathering)
    assert stream_overhead < 3 * frame_size + 500_000
    if journalled:
        assert gather_overhead > 50 * frame_size  # the one frame of the gathered batch
    assert gather_overhead > 5 * stream_overhead


# --- history and as_of ---------------------------------------------------------------------------------


def test_history_lists_a_twin_and_its_outgoing_relationships() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    for batch in BATCHES:
        store.apply(batch)
    t = [datetime(2026, 1, 1, 0, minute, tzinfo=UTC) for minute in range(len(BATCHES))]
    a1, a2 = BATCHES[1].twins[0], BATCHES[3].twins[0]
    r1, r1b = BATCHES[2].relationships[0], BATCHES[3].relationships[0]
    assert store.history("a") == [
        Change(t[1], "upsert", twin=a1, twin_id="a"),
        Change(t[2], "upsert", relationship=r1, relationship_key=("a", "r1")),
        Change(t[3], "upsert", twin=a2, twin_id="a"),
        Change(t[3], "upsert", relationship=r1b, relationship_key=("a", "r1")),
    ]
    m = BATCHES[1].twins[1]
    r2 = BATCHES[2].relationships[1]
    assert store.history("m") == [
        Change(t[1], "upsert", twin=m, twin_id="m"),
        Change(t[2], "upsert", relationship=r2, relationship_key=("m", "r2")),
        Change(t[4], "delete", relationship_key=("m", "r2")),  # went with its twin
        Change(t[4], "delete", twin_id="m"),
    ]
    assert store.history("nobody") == []
    assert all(c.time.tzinfo is UTC for c in store.history("p"))


def test_as_of_reads_the_past_and_refuses_writes() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    states = []
    for batch in BATCHES:
        store.apply(batch)
        states.append(state(store))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert state(store.as_of(start - timedelta(seconds=1)))[3] == {
        "models": 0,
        "twins": 0,
        "relationships": 0,
    }
    for i, expected in enumerate(states):
        view = store.as_of(start + timedelta(minutes=i, seconds=30))
        assert isinstance(view, MemoryStore)
        assert state(view) == expected
    past = store.as_of(start + timedelta(minutes=2))  # exactly the time of the third batch: included
    assert state(past) == states[2]
    assert [t.id for t in past.query_twins(ASSET).twins] == ["a", "m", "p"]
    assert past.get_relationships([("a", "r1")])[("a", "r1")].target == "m"
    assert past.capabilities.persistent is False
    with pytest.raises(UnsupportedOperation):
        past.apply(Batch(twins=[Twin("z", ASSET)]))
    assert store.as_of(datetime(2026, 1, 1, 0, 1)).counts()["twins"] == 2  # naive times are UTC


def test_times_never_go_backwards() -> None:
    times = iter([datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)])
    store = MemoryStore(clock=lambda: next(times))
    store.apply(BATCHES[1])
    store.apply(Batch(twins=[Twin("a", ASSET)]))
    assert [c.time for c in store.history("a")] == [datetime(2026, 1, 2, tzinfo=UTC)] * 2


# --- models --------------------------------------------------------------------------------------------


def test_subtypes_still_resolve_when_the_models_no_longer_parse() -> None:
    store = MemoryStore()
    store.apply(Batch(models=MODELS, twins=[Twin("a", ASSET), Twin("m", MACHINE), Twin("p", PUMP)]))
    store.apply(Batch(delete_models=[ASSET]))  # Machine now extends a model the store does not hold
    assert [t.id for t in store.query_twins(ASSET).twins] == ["a", "m", "p"]
    assert [t.id for t in store.query_twins(MACHINE).twins] == ["m", "p"]


def test_query_limits_are_bounded() -> None:
    store = MemoryStore()
    store.apply(Batch(twins=[Twin(f"t{i:05d}", ASSET) for i in range(1500)]))
    page = store.query_twins(limit=10**6)
    assert len(page.twins) == 1000
    assert page.cursor == "t00999"
    with pytest.raises(ValueError):
        store.query_twins(limit=0)


# --- against a reference model -------------------------------------------------------------------------

_IDS = st.sampled_from(["a", "b", "c", "d", "e"])
_MODELS = st.sampled_from([ASSET, MACHINE, PUMP])
_PROPS = st.dictionaries(
    st.sampled_from(["n", "s"]), st.one_of(st.integers(-2, 2), st.text("xy", max_size=2)), max_size=2
)
_TWINS = st.builds(Twin, _IDS, _MODELS, _PROPS)
_RELS = st.builds(
    Relationship, st.sampled_from(["r", "s"]), _IDS, _IDS, st.sampled_from(["feeds", "partOf"]), _PROPS
)
_BATCHES = st.builds(
    Batch,
    twins=st.lists(_TWINS, max_size=4),
    delete_twins=st.lists(_IDS, max_size=2),
    relationships=st.lists(_RELS, max_size=4),
    delete_relationships=st.lists(st.tuples(_IDS, st.sampled_from(["r", "s"])), max_size=2),
)


class Reference:
    """The batch semantics in a few lines of dicts: deletions, cascades, then upserts, or nothing."""

    def __init__(self) -> None:
        self.twins: dict[str, Twin] = {}
        self.rels: dict[tuple[str, str], Relationship] = {}

    def apply(self, batch: Batch) -> bool:
        twins, rels = dict(self.twins), dict(self.rels)
        for key in batch.delete_relationships:
            rels.pop(key, None)
        for twin_id in batch.delete_twins:
            twins.pop(twin_id, None)
            rels = {k: r for k, r in rels.items() if twin_id not in (r.source, r.target)}
        twins.update((t.id, t) for t in batch.twins)
        rels.update((r.key, r) for r in batch.relationships)
        if any(r.source not in twins or r.target not in twins for r in rels.values()):
            return False
        self.twins, self.rels = twins, rels
        return True


class StoreMachine(RuleBasedStateMachine):
    """Random batches and streams against MemoryStore (persistent) and the reference; reopen at any point."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.directory = Path(tempfile.mkdtemp(prefix="dtgraph-memory-"))
        self.store = MemoryStore(self.directory, fsync=False)
        self.reference = Reference()

    @rule(batch=_BATCHES)
    def apply(self, batch: Batch) -> None:
        if self.reference.apply(batch):
            self.store.apply(batch)
        else:
            with pytest.raises(StoreError):
                self.store.apply(batch)

    @rule(batches=st.lists(_BATCHES, min_size=1, max_size=4))
    def stream(self, batches: list[Batch]) -> None:
        """A stream: its batches in order, as one change; a batch that breaks a rule undoes them all."""
        twins, rels = self.reference.twins, self.reference.rels
        if all(self.reference.apply(batch) for batch in batches):
            assert self.store.apply_stream(iter(batches)) == sum(b.size for b in batches)
        else:
            self.reference.twins, self.reference.rels = twins, rels
            with pytest.raises(StoreError):
                self.store.apply_stream(iter(batches))

    @rule()
    def compact(self) -> None:
        self.store.compact()  # the next reopen loads the snapshot and replays the journal after it

    @precondition(lambda self: self.reference.twins)
    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = MemoryStore(self.directory, fsync=False)

    @rule(twin_id=_IDS, direction=st.sampled_from(["out", "in", "both"]))
    def relationships_agree(self, twin_id: str, direction: Any) -> None:
        got = self.store.relationships([twin_id], direction=direction).get(twin_id, [])
        expected = sorted(
            (
                r
                for r in self.reference.rels.values()
                if (direction != "in" and r.source == twin_id) or (direction != "out" and r.target == twin_id)
            ),
            key=lambda r: r.key,
        )
        assert got == expected

    @rule(model=_MODELS, value=st.integers(-2, 2))
    def queries_agree(self, model: str, value: int) -> None:
        where = [Filter("n", "ge", value)]
        page = self.store.query_twins(model, include_subtypes=False, where=where)
        expected = sorted(
            t.id for t in self.reference.twins.values() if t.model == model and where[0].matches(t.properties)
        )
        assert [t.id for t in page.twins] == expected

    @invariant()
    def same_graph(self) -> None:
        state(self.store)  # checks the store's own indexes too
        assert self.store.get_twins(["a", "b", "c", "d", "e"]) == self.reference.twins
        assert self.store.get_relationships(list(self.reference.rels)) == self.reference.rels
        assert self.store.counts() == {
            "models": 0,
            "twins": len(self.reference.twins),
            "relationships": len(self.reference.rels),
        }
        assert [t.id for t in self.store.query_twins().twins] == sorted(self.reference.twins)

    def teardown(self) -> None:
        self.store.close()
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=15, deadline=None)
TestStoreMachine = StoreMachine.TestCase


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(_BATCHES, max_size=8))
def test_replay_rebuilds_the_same_state_and_history(tmp_path: Path, batches: list[Batch]) -> None:
    directory = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
    with MemoryStore(directory, fsync=False, clock=Clock()) as store:
        assert isinstance(store, MemoryStore)
        for batch in batches:
            with contextlib.suppress(StoreError):
                store.apply(batch)
        expected = state(store), [store.history(i) for i in "abcde"]
    with MemoryStore(directory) as store:
        assert isinstance(store, MemoryStore)
        assert (state(store), [store.history(i) for i in "abcde"]) == expected


@settings(max_examples=150, deadline=None)
@given(before=st.lists(_BATCHES, max_size=4), stream=st.lists(_BATCHES, min_size=1, max_size=6))
def test_a_failed_stream_of_any_batches_leaves_the_store_as_it_was(
    before: list[Batch], stream: list[Batch]
) -> None:
    # parts that only add records skip looking for the records they replace: any that replaces or
    # deletes one must still be undone
    store = MemoryStore(clock=Clock())
    for batch in before:
        with contextlib.suppress(StoreError):
            store.apply(batch)
    expected = state(store), [store.history(i) for i in "abcde"]
    with pytest.raises((RuntimeError, StoreError)):
        store.apply_stream(parts([*stream, Batch()], fail_at=len(stream) + 1))
    assert (state(store), [store.history(i) for i in "abcde"]) == expected


def test_immediate_reads_hold_writers_off_until_the_block_ends() -> None:
    store = MemoryStore()
    store.apply(Batch(models=MODELS))
    applied = threading.Event()

    def write() -> None:
        store.apply(Batch(twins=[Twin("x1", ASSET, {"name": "late"})]))
        applied.set()

    with store.immediate_reads() as now:
        assert now
        writer = threading.Thread(target=write)
        writer.start()
        assert not applied.wait(0.2)  # the writer waits for the block
        assert store.get_twin("x1") is None
    writer.join(30)
    assert applied.is_set() and store.get_twin("x1") is not None


# --- snapshots -------------------------------------------------------------------------------------------


def everything(store: MemoryStore) -> tuple[Any, ...]:
    """The state, every twin's history and the graph as of each batch's time."""
    ids = sorted({t.id for b in BATCHES for t in b.twins} | {i for b in BATCHES for i in b.delete_twins})
    times = sorted({c.time for i in ids for c in store.history(i)})
    return state(store), [store.history(i) for i in ids], [state(store.as_of(t)) for t in times]  # type: ignore[arg-type]


def test_a_snapshot_loads_the_same_graph_history_and_past(data: Path) -> None:
    with MemoryStore(data, fsync=False) as store:
        for batch in BATCHES[:2]:
            store.apply(batch)
        assert store.compact() and not store.compact()  # nothing new the second time
        for batch in BATCHES[2:]:
            store.apply(batch)  # the journal tail after the snapshot
        before = everything(store)
    assert (data / "snapshot.dts").exists()
    with MemoryStore(data, fsync=False) as store:
        assert everything(store) == before
        store.compact()
    with MemoryStore(data, fsync=False) as store:  # from the snapshot alone
        assert everything(store) == before


def test_a_damaged_or_foreign_snapshot_is_ignored(data: Path, tmp_path: Path) -> None:
    fill(data, fsync=False)
    with MemoryStore(data, fsync=False) as store:
        store.compact()
        before = everything(store)
    snapshot = data / "snapshot.dts"
    good = snapshot.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    snapshot.write_bytes(bytes(damaged))
    with MemoryStore(data, fsync=False) as store:
        assert everything(store) == before
    other = tmp_path / "other"
    fill(other, BATCHES[:1], fsync=False)
    (other / "snapshot.dts").write_bytes(good)  # taken of another journal
    with MemoryStore(other, fsync=False) as store:
        assert state(store) == fill(tmp_path / "again", BATCHES[:1], fsync=False)[-1]


def test_a_torn_tail_after_a_snapshot_is_still_dropped(data: Path) -> None:
    with MemoryStore(data, fsync=False) as store:
        for batch in BATCHES[:-1]:
            store.apply(batch)
        store.compact()
        before = state(store)
        store.apply(BATCHES[-1])
    journal = data / JOURNAL_NAME
    journal.write_bytes(journal.read_bytes()[:-3])
    assert reopened(data) == before


def test_close_writes_a_snapshot_once_the_journal_has_grown(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dtgraph.stores.memory as memory

    fill(data, fsync=False)
    assert not (data / "snapshot.dts").exists()  # a small journal: no snapshot
    monkeypatch.setattr(memory, "SNAPSHOT_AFTER", 1)
    expected = reopened(data)
    assert (data / "snapshot.dts").exists()
    assert reopened(data) == expected


class _Cycle:
    """An object in a reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.mark.parametrize("frozen_before", [False, True])
def test_a_stream_leaves_the_collector_running_and_nothing_out_of_its_reach(frozen_before: bool) -> None:
    """After a stream the collector runs again, with the young generation not holding what the stream
    made; cyclic garbage made during the stream is still freed, and objects a process froze stay frozen."""
    import weakref

    store = MemoryStore()
    made: list[weakref.ref[_Cycle]] = []
    pinned = [_Cycle()]
    gc.unfreeze()  # what earlier tests froze (a served app freezes its graph) must not decide this one
    gc.collect()
    if frozen_before:
        gc.freeze()
    try:
        frozen = gc.get_freeze_count()

        def batches() -> Iterator[Batch]:
            yield Batch(models=MODELS)
            for c in range(5):
                made.append(weakref.ref(_Cycle()))  # garbage at once, but only the collector sees it
                yield Batch(twins=[Twin(f"t{c}-{i}", ASSET, {"name": "x"}) for i in range(500)])

        assert store.apply_stream(batches()) == len(MODELS) + 5 * 500
        assert gc.isenabled()
        assert gc.get_freeze_count() == frozen
        if not frozen_before:
            assert gc.get_count()[0] < 500  # the stream's objects left the young generation
        gc.collect()
        assert [r() for r in made] == [None] * 5
        assert pinned[0].me is pinned[0]
    finally:
        gc.unfreeze()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["r1", "r2", "é"]),
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from([{}, {"rate": 1.5}, {"rate": -2}]),
        ),
        max_size=8,
    )
)
def test_new_relationships_alone_are_packed_as_with_twins_beside_them(
    rows: list[tuple[str, str, str, dict[str, Any]]],
) -> None:
    """A batch of new relationships alone takes a shorter way into the store than one with twins: both
    keep the same records, sharing their ends' id objects with the stored twins."""

    def twin_id(letter: str) -> str:  # a new string object each time (one-letter strings are shared)
        return "".join(["twin-", letter])

    rels = [Relationship(i, twin_id(s), twin_id(t), "feeds", p) for i, s, t, p in rows]
    alone, beside = MemoryStore(), MemoryStore()
    for store in (alone, beside):
        store.apply(Batch(models=MODELS, twins=[Twin(twin_id(i), ASSET) for i in "abc"]))
    alone.apply(Batch(relationships=rels))
    beside.apply(Batch(twins=[Twin("z", ASSET)], relationships=rels))
    assert alone._rels == beside._rels
    assert alone.get_relationships(alone._rels) == beside.get_relationships(beside._rels)
    for rel in alone._rels.values():
        assert rel.source is alone._nodes[rel.source]["twin"].id
        assert rel.target is alone._nodes[rel.target]["twin"].id
