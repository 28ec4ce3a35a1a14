"""Session persistence in SQLite: devices, sessions, every input a session processed and
every message it sent, so a restarted server rebuilds its sessions exactly.

A session is rebuilt by feeding its stored inputs, in processing order, to a fresh
:class:`~prism.server.runtime.SessionRuntime` (the pipeline is deterministic); the
messages it sent are read back, not recomputed. Each processed input and the messages
it produced are written in one transaction *before* the messages are sent, so whatever
a watch received (and may acknowledge) survives a crash. WAL journal: a killed process
loses nothing committed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["InputKind", "Record", "SessionRow", "SqliteStore", "StoredInput"]

InputKind = Literal["frame", "control", "question"]
"""``frame``: binary frame bytes; ``control``: a JSON control message; ``question``: the
transcript of a spoken question, answered at that point."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, procedure TEXT NOT NULL,
    created REAL NOT NULL, ended INTEGER NOT NULL DEFAULT 0, acked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS inputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, seq INTEGER NOT NULL,
    kind TEXT NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS inputs_by_session ON inputs (session_id, id);
CREATE TABLE IF NOT EXISTS outputs (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, message TEXT NOT NULL,
    PRIMARY KEY (session_id, seq));
"""


@dataclass(frozen=True)
class SessionRow:
    """A stored session."""

    session_id: str
    device_id: str
    procedure: str
    ended: bool
    acked: int


@dataclass(frozen=True)
class Record:
    """What one session processed and sent, to be stored together.

    Attributes
    ----------
    session_id : str
    inputs : sequence of StoredInput
        In processing order.
    messages : sequence of dict
        The messages produced (each with its ``seq``).
    ended : bool
        The session is over.
    acked : int or None
        The watch's latest acknowledgement (kept if higher than the stored one).
    """

    session_id: str
    inputs: Sequence[StoredInput] = ()
    messages: Sequence[dict[str, Any]] = ()
    ended: bool = False
    acked: int | None = None


@dataclass(frozen=True)
class StoredInput:
    """One processed input, in processing order."""

    seq: int
    kind: InputKind
    body: bytes


class SqliteStore:
    """The SQLite file (``":memory:"`` for a throw-away store). Thread-safe.

    Parameters
    ----------
    path : Path or str
        The database file (created with its folder if missing).
    checkpoint_every_s : float
        How often a background thread copies the write-ahead log into the database file
        (a file database only).
    """

    def __init__(self, path: Path | str, *, checkpoint_every_s: float = 2.0) -> None:
        on_disk = str(path) != ":memory:"
        if on_disk:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if on_disk:
            # commits only append to the WAL; a background connection copies it into the
            # database file, so no commit (nor the messages waiting for it) pays for that
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = threading.Thread(
                target=self._checkpoints,
                args=(str(path), checkpoint_every_s),
                name="sqlite-checkpoint",
                daemon=True,
            )
            self._checkpointer.start()

    def _checkpoints(self, path: str, every_s: float) -> None:
        """Checkpoint the WAL every ``every_s`` seconds (passive: never blocks writers)."""
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            while not self._stop.wait(every_s):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def close(self) -> None:
        """Stop the checkpoints and close the database."""
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction (rolled back on any error)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _write(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        with self._transaction() as db:
            for sql, parameters in statements:
                db.execute(sql, parameters)

    def add_device(self, device_id: str, token_hash: str, name: str) -> None:
        """Store a device (its token only hashed)."""
        self._write([("INSERT INTO devices VALUES (?, ?, ?)", (device_id, token_hash, name))])

    def devices(self) -> dict[str, str]:
        """Device id -> token hash."""
        with self._lock:
            rows = self._db.execute("SELECT device_id, token_hash FROM devices").fetchall()
        return {device_id: token_hash for device_id, token_hash in rows}

    def add_session(self, session_id: str, device_id: str, procedure: str) -> None:
        """Store a new session."""
        self._write(
            [
                (
                    "INSERT INTO sessions (session_id, device_id, procedure, created) "
                    "VALUES (?, ?, ?, ?)",
                    (session_id, device_id, procedure, time.time()),
                )
            ]
        )

    def sessions(self) -> list[SessionRow]:
        """Every stored session, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT session_id, device_id, procedure, ended, acked FROM sessions "
                "ORDER BY created"
            ).fetchall()
        return [SessionRow(r[0], r[1], r[2], bool(r[3]), int(r[4])) for r in rows]

    def record(
        self,
        session_id: str,
        processed: StoredInput | None,
        messages: Sequence[dict[str, Any]],
        *,
        ended: bool = False,
        acked: int | None = None,
    ) -> None:
        """Store an input and the messages it produced, atomically; ``ended`` marks the
        session over, ``acked`` is the watch's latest acknowledgement (kept if higher)."""
        inputs = () if processed is None else (processed,)
        self.record_many([Record(session_id, inputs, messages, ended=ended, acked=acked)])

    def record_many(self, records: Sequence[Record]) -> None:
        """Store several sessions' :class:`Record` s in one transaction (a server's
        batch of frames: one commit instead of one per input)."""
        inputs = [(r.session_id, i.seq, i.kind, i.body) for r in records for i in r.inputs]
        outputs = [
            (r.session_id, int(m["seq"]), json.dumps(m)) for r in records for m in r.messages
        ]
        ended = [(r.session_id,) for r in records if r.ended]
        acked = [(r.acked, r.session_id) for r in records if r.acked is not None]
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO inputs (session_id, seq, kind, body) VALUES (?, ?, ?, ?)", inputs
            )
            db.executemany("INSERT INTO outputs VALUES (?, ?, ?)", outputs)
            db.executemany("UPDATE sessions SET ended = 1 WHERE session_id = ?", ended)
            db.executemany("UPDATE sessions SET acked = MAX(acked, ?) WHERE session_id = ?", acked)

    def inputs(self, session_id: str) -> Iterator[StoredInput]:
        """The session's processed inputs, in processing order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, body FROM inputs WHERE session_id = ? ORDER BY id",
                (session_id,),
            ).fetchall()
        for seq, kind, body in rows:
            yield StoredInput(int(seq), kind, bytes(body))

    def outputs(self, session_id: str, *, after: int = 0) -> list[dict[str, Any]]:
        """The messages the session sent with ``seq > after``, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT message FROM outputs WHERE session_id = ? AND seq > ? ORDER BY seq",
                (session_id, after),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]
