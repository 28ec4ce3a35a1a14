"""Session persistence in SQLite (embedded, one service process): see
:mod:`prism.storage.base` for what is stored and why.

WAL journal: a killed process loses nothing committed.

A failing operation raises :class:`~prism.storage.base.StoreError` naming the file and
the operation: :class:`~prism.storage.base.StoreUnavailableError` for what passes (disk
full, read-only, I/O error, locked by another process: the caller may try again), the
plain class for the rest (a constraint broken: a bug). Commits only append to the
write-ahead log; a background connection copies it into the database file and then
rewinds the log, so the log file (and its index, which every connection maps into
memory) stays bounded however long the service writes.

Deleted inputs (covered by a checkpoint) free their pages, which the next inputs reuse:
the file stays at its high-water mark. SQLite overwrites a freed page with zeros only
where that costs no extra write (``secure_delete=FAST``): zeroing every freed page of
the inputs as they are deleted doubled the writes and, with 200 streaming sessions,
added some 20-50 ms to the p99 latency. Deleting a device or expired sessions zeroes
every page it frees (``secure_delete=ON`` for that transaction).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prism.storage.base import (
    Checkpoint,
    Record,
    SessionRow,
    SessionStore,
    StoredInput,
    StoreError,
    StoreUnavailableError,
)

__all__ = ["SqliteStore"]

_PASSING: dict[int, str] = {
    sqlite3.SQLITE_FULL: "disk full",
    sqlite3.SQLITE_READONLY: "read-only",
    sqlite3.SQLITE_IOERR: "I/O error",
    sqlite3.SQLITE_CANTOPEN: "cannot open the file",
    sqlite3.SQLITE_BUSY: "locked by another connection",
    sqlite3.SQLITE_LOCKED: "locked by another connection",
}
"""Primary SQLite result codes of faults that pass (the store is unavailable meanwhile)."""

_WAL_KEPT_BYTES = 64 * 1024 * 1024
"""A rewound write-ahead log file larger than this is truncated to it."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL, name TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS devices_by_hash ON devices (token_hash);
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
CREATE TABLE IF NOT EXISTS checkpoints (
    session_id TEXT PRIMARY KEY, position INTEGER NOT NULL, front TEXT NOT NULL,
    state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pairings (
    code_hash TEXT PRIMARY KEY, task TEXT NOT NULL, expires REAL NOT NULL);
"""

_LATER_COLUMNS = (
    ("sessions", "epoch", "INTEGER NOT NULL DEFAULT 0"),
    ("devices", "recording", "INTEGER NOT NULL DEFAULT 0"),
    ("sessions", "recording", "INTEGER NOT NULL DEFAULT 0"),
    ("sessions", "last_seq", "INTEGER NOT NULL DEFAULT 0"),
    ("sessions", "ended_at", "REAL"),
    ("sessions", "pruned", "INTEGER NOT NULL DEFAULT 0"),
    ("sessions", "privacy", "INTEGER NOT NULL DEFAULT 0"),
)
"""Columns added after the first schema: (table, column, type), added to a database that
lacks them. Sessions that had ended before ``ended_at`` existed count as ended when it
is added (their retention starts then)."""


def _add_later_columns(db: sqlite3.Connection) -> None:
    for table, column, kind in _LATER_COLUMNS:
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            if column == "ended_at":
                db.execute("UPDATE sessions SET ended_at = ? WHERE ended = 1", (time.time(),))


class SqliteStore(SessionStore):
    """The SQLite file (``":memory:"`` for a throw-away store). Thread-safe.

    Parameters
    ----------
    path : Path or str
        The database file (created with its folder if missing).
    wal_copy_every_s : float
        How often a background thread copies the write-ahead log into the database file
        and rewinds the log (a file database only).
    """

    def __init__(self, path: Path | str, *, wal_copy_every_s: float = 2.0) -> None:
        super().__init__()
        on_disk = str(path) != ":memory:"
        self.path = str(path)
        if on_disk:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # inputs deleted as checkpoints cover them: their pages are reused by the
            # next inputs, not zeroed at once (zeroing doubled the writes, module docstring)
            self._db.execute("PRAGMA secure_delete=FAST")
            self._db.executescript(_SCHEMA)
            _add_later_columns(self._db)
        self._stop = threading.Event()
        self._wal_copier: threading.Thread | None = None
        if on_disk:
            # commits only append to the WAL; a background connection copies it into the
            # database file, so no commit (nor the messages waiting for it) pays for that
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.execute(f"PRAGMA journal_size_limit={_WAL_KEPT_BYTES}")
            self._wal_copier = threading.Thread(
                target=self._copy_wal,
                args=(str(path), wal_copy_every_s),
                name="sqlite-wal-copy",
                daemon=True,
            )
            self._wal_copier.start()

    def _copy_wal(self, path: str, every_s: float) -> None:
        """Every ``every_s`` seconds copy the WAL into the database, then rewind it.

        A passive checkpoint copies the bulk without blocking anyone. Under a steady
        stream of commits it never catches up with the newest frames, and SQLite only
        starts the log over once every frame has been copied, so on its own the log
        grows without end (2.5 GB in 3 minutes of 200 streaming sessions, its index
        mapped into the service's memory). A restart checkpoint then copies the few
        frames committed meanwhile while it holds the store's lock (no transaction is
        open then; new commits wait for that moment), and the next commit writes from
        the start of the log again (``journal_size_limit`` trims the file).
        """
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # a reader of another process could hold the restart back: give up after 0.1 s
        # (the log is rewound on a later round) rather than stall this one's commits
        db.execute("PRAGMA busy_timeout=100")
        try:
            while not self._stop.wait(every_s):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                with self._lock:
                    db.execute("PRAGMA wal_checkpoint(RESTART)")
        finally:
            db.close()

    def close(self) -> None:
        """Stop the WAL copies and close the database."""
        self._stop.set()
        if self._wal_copier is not None:
            self._wal_copier.join()
        with self._lock:
            self._db.close()

    def _failed(self, operation: str, error: sqlite3.Error) -> StoreError:
        """``error`` of ``operation`` as a :class:`StoreError` naming the file."""
        reason = _PASSING.get(getattr(error, "sqlite_errorcode", 0) & 0xFF)
        if reason is not None:
            return StoreUnavailableError(
                f"SQLite store {self.path}: {operation} failed: {reason} ({error})"
            )
        return StoreError(f"SQLite store {self.path}: {operation} failed: {error}")

    @contextmanager
    def _transaction(self, operation: str, *, erase: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection inside one write transaction (rolled back on any error);
        SQLite's errors come out as :class:`StoreError` naming ``operation``.

        ``erase``: the pages the transaction frees are overwritten with zeros (deleting
        a device or expired sessions). Otherwise (``secure_delete=FAST``, see the module
        docstring) freed pages keep their bytes until a later write reuses them. Timed
        in :attr:`time`, the wait for the lock included."""
        with self.time.measure(), self._lock:
            try:
                if erase:
                    self._db.execute("PRAGMA secure_delete=ON")
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:  # a failed statement may have ended it
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise self._failed(operation, error) from error
            finally:
                if erase:
                    self._db.execute("PRAGMA secure_delete=FAST")

    def _query(self, operation: str, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        with self.time.measure(), self._lock:
            try:
                return self._db.execute(sql, parameters).fetchall()
            except sqlite3.Error as error:
                raise self._failed(operation, error) from error

    def add_device(
        self, device_id: str, token_hash: str, name: str, *, recording: bool = False
    ) -> None:
        with self._transaction("adding a device") as db:
            db.execute(
                "INSERT INTO devices (device_id, token_hash, name, recording) VALUES (?, ?, ?, ?)",
                (device_id, token_hash, name, int(recording)),
            )

    def devices(self) -> dict[str, str]:
        rows = self._query("reading the devices", "SELECT device_id, token_hash FROM devices")
        return {device_id: token_hash for device_id, token_hash in rows}

    def device_for(self, token_hash: str) -> str | None:
        rows = self._query(
            "looking up a device",
            "SELECT device_id FROM devices WHERE token_hash = ?",
            (token_hash,),
        )
        return str(rows[0][0]) if rows else None

    def add_session(
        self, session_id: str, device_id: str, procedure: str, *, privacy: bool = False
    ) -> SessionRow:
        with self._transaction("adding a session") as db:
            db.execute(
                "INSERT INTO sessions "
                "(session_id, device_id, procedure, created, privacy, recording) "
                "VALUES (?, ?, ?, ?, ?, "
                "COALESCE((SELECT recording FROM devices WHERE device_id = ?), 0))",
                (session_id, device_id, procedure, time.time(), int(privacy), device_id),
            )
            row = db.execute(
                f"SELECT {self._SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        return _session_row(row)

    _SESSION_COLUMNS = (
        "session_id, device_id, procedure, ended, acked, epoch, recording, last_seq, ended_at, "
        "pruned, privacy"
    )

    def sessions(self) -> list[SessionRow]:
        rows = self._query(
            "reading the sessions", f"SELECT {self._SESSION_COLUMNS} FROM sessions ORDER BY created"
        )
        return [_session_row(row) for row in rows]

    def session(self, session_id: str) -> SessionRow | None:
        rows = self._query(
            "reading a session",
            f"SELECT {self._SESSION_COLUMNS} FROM sessions WHERE session_id = ?",
            (session_id,),
        )
        return _session_row(rows[0]) if rows else None

    def claim(self, session_id: str) -> int:
        with self._transaction("claiming a session") as db:
            row = db.execute(
                "UPDATE sessions SET epoch = epoch + 1 WHERE session_id = ? RETURNING epoch",
                (session_id,),
            ).fetchone()
        if row is None:
            raise StoreError(f"cannot claim unknown session {session_id!r}")
        return int(row[0])

    def record_many(
        self, records: Sequence[Record], *, epochs: Mapping[str, int] | None = None
    ) -> set[str]:
        with self._transaction(f"storing {len(records)} records") as db:
            rejected: set[str] = set()
            for session_id, epoch in (epochs or {}).items():
                row = db.execute(
                    "SELECT epoch FROM sessions WHERE session_id = ?", (session_id,)
                ).fetchone()
                if row is None or int(row[0]) != epoch:
                    rejected.add(session_id)
            kept = [r for r in records if r.session_id not in rejected]
            db.executemany(
                "INSERT INTO inputs (session_id, seq, kind, body) VALUES (?, ?, ?, ?)",
                [(r.session_id, i.seq, i.kind, i.body) for r in kept for i in r.inputs],
            )
            db.executemany(
                "INSERT INTO outputs VALUES (?, ?, ?)",
                [(r.session_id, int(m["seq"]), json.dumps(m)) for r in kept for m in r.messages],
            )
            now = time.time()
            db.executemany(
                "UPDATE sessions SET ended = 1, ended_at = COALESCE(ended_at, ?) "
                "WHERE session_id = ?",
                [(now, r.session_id) for r in kept if r.ended],
            )
            db.executemany(
                "UPDATE sessions SET acked = MAX(acked, ?) WHERE session_id = ?",
                [(r.acked, r.session_id) for r in kept if r.acked is not None],
            )
            db.executemany(
                "UPDATE sessions SET last_seq = MAX(last_seq, ?) WHERE session_id = ?",
                [(r.last_seq, r.session_id) for r in kept if r.last_seq is not None],
            )
            for record in kept:
                if record.checkpoint is not None:
                    _write_checkpoint(db, record.session_id, record.checkpoint)
        return rejected

    def inputs(self, session_id: str, *, after: int = 0) -> Iterator[StoredInput]:
        rows = self._query(
            "reading a session's inputs",
            "SELECT seq, kind, body FROM inputs WHERE session_id = ? AND id > ? ORDER BY id",
            (session_id, after),
        )
        for seq, kind, body in rows:
            yield StoredInput(int(seq), kind, bytes(body))

    def outputs(self, session_id: str, *, after: int = 0) -> list[dict[str, Any]]:
        rows = self._query(
            "reading a session's messages",
            "SELECT message FROM outputs WHERE session_id = ? AND seq > ? ORDER BY seq",
            (session_id, after),
        )
        return [json.loads(row[0]) for row in rows]

    def checkpoint(self, session_id: str) -> Checkpoint | None:
        rows = self._query(
            "reading a checkpoint",
            "SELECT position, front, state FROM checkpoints WHERE session_id = ?",
            (session_id,),
        )
        if not rows:
            return None
        position, front, state = rows[0]
        return Checkpoint(bytes(state), json.loads(front), int(position))

    def add_pairing(self, code_hash: str, task: str, expires: float) -> None:
        with self._transaction("adding a pairing") as db:
            db.execute("INSERT INTO pairings VALUES (?, ?, ?)", (code_hash, task, expires))

    def take_pairing(self, code_hash: str, now: float) -> str | None:
        with self._transaction("taking a pairing") as db:
            row = db.execute(
                "DELETE FROM pairings WHERE code_hash = ? RETURNING task, expires", (code_hash,)
            ).fetchone()
            db.execute("DELETE FROM pairings WHERE expires <= ?", (now,))
        return str(row[0]) if row is not None and float(row[1]) > now else None

    def purge_ended(self, before: float) -> list[str]:
        with self._transaction("deleting expired sessions", erase=True) as db:
            rows = db.execute(
                "SELECT session_id FROM sessions WHERE ended = 1 AND ended_at < ?", (before,)
            ).fetchall()
            ids = [str(row[0]) for row in rows]
            _delete_sessions(db, ids)
        return ids

    def forget_device(self, device_id: str) -> list[str] | None:
        with self._transaction("deleting a device", erase=True) as db:
            known = db.execute("DELETE FROM devices WHERE device_id = ?", (device_id,)).rowcount
            rows = db.execute(
                "SELECT session_id FROM sessions WHERE device_id = ?", (device_id,)
            ).fetchall()
            ids = [str(row[0]) for row in rows]
            _delete_sessions(db, ids)
        return ids if known or ids else None


def _write_checkpoint(db: sqlite3.Connection, session_id: str, checkpoint: Checkpoint) -> None:
    """Replace the session's checkpoint; unless it is recording, delete the inputs it covers.

    Its position is the newest input id of the whole table (ids are never reused), so it
    covers every input of the session stored so far even when none is left."""
    position = int(
        db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'inputs'"
        ).fetchone()[0]
    )
    db.execute(
        "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?)",
        (session_id, position, json.dumps(checkpoint.front), checkpoint.state),
    )
    pruning = db.execute(
        "UPDATE sessions SET pruned = ? WHERE session_id = ? AND recording = 0",
        (position, session_id),
    ).rowcount
    if pruning:
        db.execute("DELETE FROM inputs WHERE session_id = ? AND id <= ?", (session_id, position))


def _delete_sessions(db: sqlite3.Connection, ids: list[str]) -> None:
    """Delete sessions with their inputs, messages and checkpoints (inside a transaction)."""
    for table in ("inputs", "outputs", "checkpoints", "sessions"):
        db.executemany(f"DELETE FROM {table} WHERE session_id = ?", [(i,) for i in ids])


def _session_row(row: tuple[Any, ...]) -> SessionRow:
    return SessionRow(
        row[0],
        row[1],
        row[2],
        ended=bool(row[3]),
        acked=int(row[4]),
        epoch=int(row[5]),
        recording=bool(row[6]),
        last_seq=int(row[7]),
        ended_at=None if row[8] is None else float(row[8]),
        pruned=int(row[9]),
        privacy=bool(row[10]),
    )
