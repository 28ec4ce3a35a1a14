"""The store contract (prism.storage.base.SessionStore), run over every store: SQLite and
a real Redis (redis-server started and stopped by the ``redis_url`` fixture)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prism.storage import (
    Checkpoint,
    Record,
    SessionStore,
    SqliteStore,
    StoredInput,
    StoreError,
)
from prism.storage.redis_store import RedisStore


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    """Each store implementation, empty."""
    if request.param == "sqlite":
        made: SessionStore = SqliteStore(tmp_path / "s.sqlite3")
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisStore(url, prefix=f"test-{tmp_path.name}")
    yield made
    made.close()


def _sessions(store: SessionStore, *ids: str, device: str = "d1") -> None:
    """Store sessions ``ids`` of ``device`` in this order (distinct creation times)."""
    for session_id in ids:
        store.add_session(session_id, device, "latte_making")
        time.sleep(0.002)


def _inputs(*seqs: int) -> list[StoredInput]:
    return [StoredInput(seq, "control", f"input {seq}".encode()) for seq in seqs]


def _seqs(store: SessionStore, session_id: str, *, after: int = 0) -> list[int]:
    return [stored.seq for stored in store.inputs(session_id, after=after)]


def test_a_session_lives_through_records_a_checkpoint_and_a_claim(store: SessionStore) -> None:
    store.add_device("d1", "hash1", "watch")
    assert store.devices() == {"d1": "hash1"}
    assert store.device_for("hash1") == "d1" and store.device_for("nope") is None
    store.add_session("s", "d1", "latte_making")
    assert store.session("nope") is None
    first = [StoredInput(1, "frame", b"\x00\x01"), StoredInput(2, "control", b"{}")]
    rejected = store.record_many(
        [Record("s", first, [{"seq": 1, "type": "step"}], acked=1)], epochs={"s": 0}
    )
    assert rejected == set()
    checkpoint = Checkpoint(b"state-after-2", {"last_seq": 2})
    store.record_many([Record("s", [StoredInput(3, "question", b"hi")], checkpoint=checkpoint)])
    store.record_many([Record("s", [StoredInput(4, "control", b"{}")], acked=0)])
    saved = store.checkpoint("s")
    assert saved is not None and (saved.state, saved.front) == (b"state-after-2", {"last_seq": 2})
    # the checkpoint covers the inputs stored with it and before: they are deleted
    assert [i.seq for i in store.inputs("s", after=saved.position)] == [4]
    assert [i.seq for i in store.inputs("s")] == [4]
    row = store.session("s")
    assert row is not None and (row.acked, row.ended, row.epoch) == (1, False, 0)
    assert (row.recording, row.pruned, row.last_seq) == (False, saved.position, 0)
    # another process claims the session: writes with the old epoch are rejected
    assert store.claim("s") == 1
    lost = Record("s", [StoredInput(5, "control", b"{}")], [{"seq": 2, "type": "step"}])
    assert store.record_many([lost], epochs={"s": 0}) == {"s"}
    assert not store.record("s", None, [{"seq": 2, "type": "step"}], epoch=0)
    assert [i.seq for i in store.inputs("s")] == [4]
    assert store.record("s", None, [{"seq": 2, "type": "answer"}], ended=True, epoch=1)
    assert store.outputs("s", after=1) == [{"seq": 2, "type": "answer"}]
    assert [(r.session_id, r.ended, r.epoch) for r in store.sessions()] == [("s", True, 1)]
    with pytest.raises(StoreError, match="unknown session 'nope'"):
        store.claim("nope")


def test_devices_are_found_by_their_token_hash(store: SessionStore) -> None:
    assert store.devices() == {}
    store.add_device("d1", "hash1", "kitchen watch")
    store.add_device("d2", "hash2", "other watch")
    assert store.devices() == {"d1": "hash1", "d2": "hash2"}
    assert (store.device_for("hash2"), store.device_for("hash1")) == ("d2", "d1")
    assert store.device_for("d1") is None  # an id is not a hash


def test_sessions_are_listed_oldest_first_with_their_facts(store: SessionStore) -> None:
    _sessions(store, "s2", "s1")
    _sessions(store, "s3", device="d2")
    listed = store.sessions()
    assert [row.session_id for row in listed] == ["s2", "s1", "s3"]
    row = store.session("s3")
    assert row is not None
    assert (row.device_id, row.procedure, row.ended, row.acked, row.epoch) == (
        "d2",
        "latte_making",
        False,
        0,
        0,
    )
    assert row == listed[2]


def test_record_many_keeps_each_sessions_inputs_and_messages_apart(store: SessionStore) -> None:
    _sessions(store, "a", "b")
    assert store.record_many([]) == set()
    store.record_many(
        [
            Record("a", _inputs(1, 2), [{"seq": 1, "type": "step"}]),
            Record("b", _inputs(1), [{"seq": 1, "type": "step"}, {"seq": 2, "type": "reminder"}]),
        ]
    )
    store.record_many([Record("a", _inputs(3), [{"seq": 2, "type": "answer", "text": "é"}])])
    assert (_seqs(store, "a"), _seqs(store, "b")) == ([1, 2, 3], [1])
    assert list(store.inputs("a"))[2] == StoredInput(3, "control", b"input 3")
    assert [m["seq"] for m in store.outputs("b")] == [1, 2]
    assert store.outputs("a")[-1] == {"seq": 2, "type": "answer", "text": "é"}


def test_record_stores_one_input_with_its_messages_or_messages_alone(
    store: SessionStore,
) -> None:
    _sessions(store, "s")
    assert store.record("s", StoredInput(1, "question", b"what's next?"), [{"seq": 1}])
    assert store.record("s", None, [{"seq": 2}, {"seq": 3}])
    assert list(store.inputs("s")) == [StoredInput(1, "question", b"what's next?")]
    assert store.outputs("s") == [{"seq": 1}, {"seq": 2}, {"seq": 3}]


def test_inputs_keep_their_kind_and_bytes(store: SessionStore) -> None:
    _sessions(store, "s")
    kept = [
        StoredInput(1, "frame", bytes(range(256))),
        StoredInput(2, "control", b'{"type": "ack"}'),
        StoredInput(3, "question", "où ?".encode()),
        StoredInput(0, "labels", b'[{"start": 0.0, "end": 1.5, "step": "a"}]'),
        StoredInput(2**32 - 1, "frame", b""),
    ]
    store.record_many([Record("s", kept)])
    assert list(store.inputs("s")) == kept
    assert list(store.inputs("nope")) == []


@pytest.mark.parametrize(("after", "expected"), [(0, [1, 2, 3, 4]), (2, [3, 4]), (4, []), (9, [])])
def test_outputs_after_a_seq(store: SessionStore, after: int, expected: list[int]) -> None:
    _sessions(store, "s")
    store.record("s", None, [{"seq": 1}, {"seq": 2}])
    store.record("s", None, [{"seq": 3}, {"seq": 4}])
    assert [m["seq"] for m in store.outputs("s", after=after)] == expected


@pytest.mark.parametrize("recording", [False, True], ids=["pruned", "recording"])
def test_a_checkpoint_marks_where_replay_starts_per_session(
    store: SessionStore, recording: bool
) -> None:
    store.add_device("d1", "hash1", "watch", recording=recording)
    _sessions(store, "a", "b")
    assert store.checkpoint("a") is None
    # the sessions' inputs interleave in the store; positions are per session's inputs
    store.record_many([Record("a", _inputs(1, 2)), Record("b", _inputs(1))])
    store.record_many(
        [
            Record("b", _inputs(2, 3), checkpoint=Checkpoint(b"b-after-3", {"last_seq": 3})),
            Record("a", _inputs(3)),
        ]
    )
    store.record_many([Record("a", _inputs(4)), Record("b", _inputs(4, 5))])
    saved = store.checkpoint("b")
    assert saved is not None and saved.state == b"b-after-3" and saved.front == {"last_seq": 3}
    assert _seqs(store, "b", after=saved.position) == [4, 5]
    assert store.checkpoint("a") is None
    # the covered inputs are gone unless the session records; the others' are kept
    assert _seqs(store, "b") == ([1, 2, 3, 4, 5] if recording else [4, 5])
    assert _seqs(store, "a") == [1, 2, 3, 4]
    # a later checkpoint replaces it; positions stay those of the first inputs
    store.record_many([Record("b", _inputs(6), checkpoint=Checkpoint(b"b-after-6"))])
    again = store.checkpoint("b")
    assert again is not None and (again.state, again.front) == (b"b-after-6", {})
    assert again.position > saved.position
    assert _seqs(store, "b", after=again.position) == []
    store.record_many([Record("b", _inputs(7))])
    assert _seqs(store, "b", after=again.position) == [7]
    assert _seqs(store, "b", after=saved.position) == ([4, 5, 6, 7] if recording else [7])
    # a checkpoint in a record without inputs covers all that came before
    store.record_many([Record("b", checkpoint=Checkpoint(b"b-after-7"))])
    last = store.checkpoint("b")
    assert last is not None and last.position >= again.position
    assert _seqs(store, "b", after=last.position) == []
    assert _seqs(store, "b") == ([1, 2, 3, 4, 5, 6, 7] if recording else [])
    row = store.session("b")
    assert row is not None and row.recording == recording
    assert row.pruned == (0 if recording else last.position)


def test_claims_raise_the_epoch_and_reject_the_previous_owners_writes(
    store: SessionStore,
) -> None:
    _sessions(store, "a", "b")
    store.record_many([Record("a", _inputs(1), [{"seq": 1}], acked=1)], epochs={"a": 0})
    assert [store.claim("a"), store.claim("a")] == [1, 2]
    stale = Record("a", _inputs(2), [{"seq": 2}], ended=True, acked=2, checkpoint=Checkpoint(b"x"))
    rejected = store.record_many([stale, Record("b", _inputs(1))], epochs={"a": 1, "b": 0})
    assert rejected == {"a"}  # the other session of the transaction is written
    assert (_seqs(store, "a"), _seqs(store, "b")) == ([1], [1])
    row = store.session("a")
    assert row is not None and (row.epoch, row.ended, row.acked) == (2, False, 1)
    assert store.outputs("a") == [{"seq": 1}] and store.checkpoint("a") is None
    assert store.record_many([Record("a", _inputs(2))], epochs={"a": 2}) == set()
    assert store.record_many([Record("ghost", _inputs(1))], epochs={"ghost": 0}) == {"ghost"}
    assert store.record_many([Record("a", _inputs(3))]) == set()  # no epochs: not checked
    assert _seqs(store, "a") == [1, 2, 3]


def test_ended_and_acked_only_move_forward(store: SessionStore) -> None:
    _sessions(store, "a", "b")
    store.record_many([Record("a", acked=5), Record("b", ended=True)])
    store.record_many([Record("a", acked=3), Record("b", acked=2)])
    assert store.record("a", None, [], ended=True, acked=4)
    store.record_many([Record("b")])
    rows = {row.session_id: (row.ended, row.acked) for row in store.sessions()}
    assert rows == {"a": (True, 5), "b": (True, 2)}


def test_sessions_of_a_recording_device_are_recording(store: SessionStore) -> None:
    store.add_device("d1", "hash1", "research watch", recording=True)
    store.add_device("d2", "hash2", "kitchen watch")
    made = store.add_session("s1", "d1", "latte_making")
    assert made == store.session("s1") and made.recording
    assert not store.add_session("s2", "d2", "latte_making").recording
    assert not store.add_session("s3", "unregistered", "latte_making").recording


def test_a_privacy_session_is_stored_as_one(store: SessionStore) -> None:
    made = store.add_session("p", "d1", "latte_making", privacy=True)
    assert made == store.session("p") and made.privacy and not made.recording
    assert not store.add_session("n", "d1", "latte_making").privacy
    assert {row.session_id: row.privacy for row in store.sessions()} == {"p": True, "n": False}
    store.record_many([Record("p", _inputs(1), ended=True)])
    row = store.session("p")
    assert row is not None and row.privacy and row.ended


def test_the_last_seq_is_kept_without_inputs_and_only_moves_forward(store: SessionStore) -> None:
    _sessions(store, "s")
    store.record_many([Record("s", acked=2, last_seq=7)])  # an acknowledgement, not stored
    assert list(store.inputs("s")) == []
    store.record_many([Record("s", last_seq=5)])
    row = store.session("s")
    assert row is not None and (row.last_seq, row.acked) == (7, 2)
    assert store.record("s", StoredInput(9, "control", b"{}"), [])
    row = store.session("s")
    assert row is not None and row.last_seq == 9


def test_purge_ended_deletes_what_ended_sessions_stored(store: SessionStore) -> None:
    _sessions(store, "old", "live", "new")
    for session_id in ("old", "live", "new"):
        store.record_many(
            [Record(session_id, _inputs(1), [{"seq": 1}], checkpoint=Checkpoint(b"c"))]
        )
        store.record_many([Record(session_id, _inputs(2))])
    store.record_many([Record("old", ended=True)])
    ended = store.session("old")
    assert ended is not None and ended.ended_at is not None
    assert abs(ended.ended_at - time.time()) < 60
    time.sleep(0.01)
    cutoff = time.time()
    store.record_many([Record("new", ended=True)])
    store.record_many([Record("old", ended=True)])  # ending again keeps the first time
    again = store.session("old")
    assert again is not None and again.ended_at == ended.ended_at
    assert store.purge_ended(cutoff) == ["old"]
    assert store.session("old") is None and "old" not in [r.session_id for r in store.sessions()]
    assert (list(store.inputs("old")), store.outputs("old"), store.checkpoint("old")) == (
        [],
        [],
        None,
    )
    assert _seqs(store, "live") == [2] and _seqs(store, "new") == [2]
    assert store.purge_ended(cutoff) == []
    assert store.purge_ended(time.time() + 1) == ["new"]
    assert [r.session_id for r in store.sessions()] == ["live"]


def test_forget_device_deletes_the_device_and_all_its_sessions(store: SessionStore) -> None:
    store.add_device("d1", "hash1", "watch", recording=True)
    store.add_device("d2", "hash2", "other watch")
    _sessions(store, "a", "b")
    _sessions(store, "c", device="d2")
    for session_id in ("a", "b", "c"):
        store.record_many(
            [Record(session_id, _inputs(1, 2), [{"seq": 1}], checkpoint=Checkpoint(b"c"))]
        )
    assert sorted(store.forget_device("d1") or []) == ["a", "b"]
    assert store.devices() == {"d2": "hash2"} and store.device_for("hash1") is None
    assert [r.session_id for r in store.sessions()] == ["c"]
    for session_id in ("a", "b"):
        assert store.session(session_id) is None and store.checkpoint(session_id) is None
        assert list(store.inputs(session_id)) == [] and store.outputs(session_id) == []
    assert store.outputs("c") == [{"seq": 1}] and store.checkpoint("c") is not None
    assert store.forget_device("d1") is None
    # registered again under the same id, the device does not record any more
    store.add_device("d1", "hash3", "watch")
    assert not store.add_session("d", "d1", "latte_making").recording
    _sessions(store, "e", device="unregistered")
    assert store.forget_device("unregistered") == ["e"]


@pytest.mark.parametrize("delete", ["forget_device", "purge_ended"])
def test_sqlite_zeroes_what_deleting_a_device_or_expired_sessions_frees(
    tmp_path: Path, delete: str
) -> None:
    """Deleting a device's data, or sessions past their retention, leaves none of their
    bytes in the database file (its freed pages are zeroed, not only put on the free
    list), while the inputs a checkpoint covers are freed without zeroing them."""
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path)
    store.add_device("d1", "hash1", "watch", recording=True)
    store.add_session("a", "d1", "latte_making")
    audio = b"kitchen audio of a home " * 400  # bytes that must not outlive a deletion
    store.record_many([Record("a", [StoredInput(1, "frame", audio)], ended=True)])
    store.close()  # the write-ahead log goes into the file
    assert audio[:200] in path.read_bytes()  # (a row spans pages: look for a piece)
    store = SqliteStore(path)
    if delete == "forget_device":
        assert store.forget_device("d1") == ["a"]
    else:
        assert store.purge_ended(time.time() + 1.0) == ["a"]
    store.close()
    assert audio[:200] not in path.read_bytes()


def test_a_pairing_is_taken_once_and_only_before_it_expires(store: SessionStore) -> None:
    now = time.time()
    store.add_pairing("h1", "latte_making", now + 60)
    store.add_pairing("h2", "wound_care", now + 60)
    store.add_pairing("h3", "latte_making", now + 5)
    assert store.take_pairing("h1", now) == "latte_making"
    assert store.take_pairing("h1", now) is None  # used
    assert store.take_pairing("nope", now) is None
    assert store.take_pairing("h3", now + 10) is None  # expired
    assert store.take_pairing("h2", now + 10) == "wound_care"


def test_the_store_times_each_operation_it_runs(store: SessionStore) -> None:
    opened = store.time.calls  # Redis: the ping when it connects
    _sessions(store, "a")
    store.record_many([Record("a", _inputs(1, 2))])
    assert _seqs(store, "a") == [1, 2]
    calls, wall_s, cpu_s = store.time.calls, store.time.wall_s, store.time.cpu_s
    assert calls >= opened + 3 and 0.0 < wall_s < 5.0 and cpu_s >= 0.0
    with pytest.raises(StoreError, match="unknown session"):
        store.claim("nobody")  # a failed operation counts too
    assert store.time.calls > calls and store.time.wall_s > wall_s
