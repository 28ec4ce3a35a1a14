"""Session persistence in Redis, shared by several service processes (or machines).

The same data and guarantees as :class:`~prism.storage.sqlite.SqliteStore` (see
:mod:`prism.storage.base`), in these keys (``P`` is the key prefix, default ``prism``):

=============================  ==========  =========================================
key                            type        content
=============================  ==========  =========================================
``P:devices``                  hash        device id -> token hash
``P:device_names``             hash        device id -> name
``P:device_by_hash``           hash        token hash -> device id
``P:recording_devices``        set         ids of the devices whose sessions keep
                                           every input
``P:sessions``                 sorted set  session ids by creation time
``P:session:<id>``             hash        ``device``, ``procedure``, ``created``,
                                           ``ended``, ``ended_at``, ``acked``,
                                           ``epoch``, ``recording``, ``last_seq``,
                                           ``pruned``, ``privacy``
``P:inputs:<id>``              list        processed inputs after ``pruned``, in
                                           order (8-byte seq, 1-byte kind, body)
``P:outputs:<id>``             sorted set  sent messages (JSON) by ``seq``
``P:checkpoint:<id>``          hash        ``position``, ``front`` (JSON), ``state``
``P:pairing:<code hash>``      string      ``<expiry>:<task>``, expiring with it
=============================  ==========  =========================================

:meth:`RedisStore.record_many` is one ``MULTI``/``EXEC`` transaction under ``WATCH`` of
the sessions' hashes, so a claim by another process between the epoch check and the
write makes it retry (and then reject that session's records). Input positions are
absolute: the list holds the inputs after the first ``pruned`` ones (deleted when a
checkpoint covered them), so input ``i`` (from 1) is entry ``i - pruned - 1``. A
checkpoint's position is ``pruned`` plus the list's length once the inputs written with
it are in. A session hash lacking a field (written by an older version) reads as 0
(``ended_at``: as ended when first purged).
A command that fails raises :class:`~prism.storage.base.StoreError` naming the server and
the operation: :class:`~prism.storage.base.StoreUnavailableError` when it passes (the
connection refused, reset or timed out, the server loading its data, read-only, out of
memory, unable to persist), so the caller may try again.
Durability is Redis's: with its default snapshots a crash of Redis itself may lose the
last seconds; run it with ``appendonly yes`` (and ``appendfsync everysec``) to keep them.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import urlsplit

import redis
from redis.typing import EncodableT, FieldT

from prism.storage.base import (
    Checkpoint,
    InputKind,
    Record,
    SessionRow,
    SessionStore,
    StoredInput,
    StoreError,
    StoreUnavailableError,
)

__all__ = ["RedisStore"]

_KINDS: tuple[InputKind, ...] = ("frame", "control", "question", "mode", "labels")
_INPUT_HEADER = struct.Struct(">qB")
"""An input entry: ``seq`` (int64) and the kind's index in :data:`_KINDS`, then the body."""

_MAX_RETRIES = 16
"""Attempts of a transaction whose watched sessions changed under it."""

_PASSING_REPLIES = ("READONLY", "OOM", "MISCONF", "LOADING", "MASTERDOWN", "BUSY")
"""Error replies of a server that cannot write now (the first word of the reply)."""


def _pack_input(stored: StoredInput) -> bytes:
    return _INPUT_HEADER.pack(stored.seq, _KINDS.index(stored.kind)) + stored.body


def _unpack_input(entry: bytes, where: str) -> StoredInput:
    if len(entry) < _INPUT_HEADER.size:
        raise StoreError(f"{where}: input entry of {len(entry)} bytes is too short")
    seq, kind = _INPUT_HEADER.unpack_from(entry)
    if kind >= len(_KINDS):
        raise StoreError(f"{where}: unknown input kind {kind}")
    return StoredInput(seq, _KINDS[kind], entry[_INPUT_HEADER.size :])


class RedisStore(SessionStore):
    """A Redis server's keys under ``prefix`` (see the module docstring).

    Parameters
    ----------
    url : str
        ``redis://host:port/db`` (``rediss://`` for TLS; a password in the URL).
    prefix : str
        Key prefix: several services (or tests) can share one Redis.
    timeout_s : float
        Socket timeout of every command (s).

    Raises
    ------
    StoreUnavailableError
        If the server cannot be reached.
    """

    def __init__(self, url: str, *, prefix: str = "prism", timeout_s: float = 5.0) -> None:
        super().__init__()
        self.url, self.prefix = url, prefix
        parts = urlsplit(url)
        self.where = f"{parts.hostname}:{parts.port or 6379}{parts.path}"
        """The server in messages (without a password)."""
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._unsure = False
        """A write's connection broke: it may have been applied, the next write checks."""
        with self._commands("connecting"):
            self._redis.ping()

    @contextmanager
    def _commands(self, operation: str) -> Iterator[None]:
        """Redis's errors in the block as :class:`StoreError` naming ``operation``; the
        block timed in :attr:`time`."""
        try:
            with self.time.measure():
                yield
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise StoreUnavailableError(
                f"Redis store {self.where}: {operation} failed: cannot reach the server ({error})"
            ) from None
        except redis.ResponseError as error:
            kind = StoreUnavailableError if str(error).startswith(_PASSING_REPLIES) else StoreError
            raise kind(f"Redis store {self.where}: {operation} failed: {error}") from None

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def close(self) -> None:
        self._redis.close()

    def add_device(
        self, device_id: str, token_hash: str, name: str, *, recording: bool = False
    ) -> None:
        with self._commands("adding a device"), self._redis.pipeline() as pipe:
            pipe.hset(self._key("devices"), device_id, token_hash)
            pipe.hset(self._key("device_names"), device_id, name)
            pipe.hset(self._key("device_by_hash"), token_hash, device_id)
            if recording:
                pipe.sadd(self._key("recording_devices"), device_id)
            pipe.execute()

    def devices(self) -> dict[str, str]:
        with self._commands("reading the devices"):
            stored = cast(dict[bytes, bytes], self._redis.hgetall(self._key("devices")))
            return {device.decode(): hashed.decode() for device, hashed in stored.items()}

    def device_for(self, token_hash: str) -> str | None:
        with self._commands("looking up a device"):
            device = cast(bytes | None, self._redis.hget(self._key("device_by_hash"), token_hash))
            return device.decode() if device is not None else None

    def add_session(
        self, session_id: str, device_id: str, procedure: str, *, privacy: bool = False
    ) -> SessionRow:
        with self._commands("adding a session"):
            created = time.time()
            recording = bool(self._redis.sismember(self._key("recording_devices"), device_id))
            fields: dict[FieldT, EncodableT] = {
                "device": device_id,
                "procedure": procedure,
                "created": created,
                "ended": 0,
                "acked": 0,
                "epoch": 0,
                "recording": int(recording),
                "last_seq": 0,
                "pruned": 0,
                "privacy": int(privacy),
            }
            with self._redis.pipeline() as pipe:
                pipe.hset(self._key("session", session_id), mapping=fields)
                pipe.zadd(self._key("sessions"), {session_id: created})
                pipe.execute()
            return SessionRow(
                session_id, device_id, procedure, False, 0, recording=recording, privacy=privacy
            )

    def _row(self, session_id: str, fields: Mapping[bytes, bytes]) -> SessionRow:
        try:
            ended_at = fields.get(b"ended_at")
            return SessionRow(
                session_id,
                fields[b"device"].decode(),
                fields[b"procedure"].decode(),
                ended=bool(int(fields[b"ended"])),
                acked=int(fields[b"acked"]),
                epoch=int(fields[b"epoch"]),
                recording=bool(int(fields.get(b"recording", 0))),
                last_seq=int(fields.get(b"last_seq", 0)),
                ended_at=None if ended_at is None else float(ended_at),
                pruned=int(fields.get(b"pruned", 0)),
                privacy=bool(int(fields.get(b"privacy", 0))),
            )
        except (KeyError, ValueError) as error:
            raise StoreError(
                f"{self._key('session', session_id)}: unusable session hash ({error})"
            ) from None

    def sessions(self) -> list[SessionRow]:
        with self._commands("reading the sessions"):
            found = cast(list[bytes], self._redis.zrange(self._key("sessions"), 0, -1))
            ids = [i.decode() for i in found]
            with self._redis.pipeline(transaction=False) as pipe:
                for session_id in ids:
                    pipe.hgetall(self._key("session", session_id))
                hashes = cast(list[dict[bytes, bytes]], pipe.execute())
        return [self._row(i, fields) for i, fields in zip(ids, hashes, strict=True) if fields]

    def session(self, session_id: str) -> SessionRow | None:
        key = self._key("session", session_id)
        with self._commands("reading a session"):
            fields = cast(dict[bytes, bytes], self._redis.hgetall(key))
        return self._row(session_id, fields) if fields else None

    def claim(self, session_id: str) -> int:
        with self._commands("claiming a session"):
            key = self._key("session", session_id)
            if not self._redis.exists(key):
                raise StoreError(f"cannot claim unknown session {session_id!r}")
            return int(self._redis.hincrby(key, "epoch", 1))

    def record_many(
        self, records: Sequence[Record], *, epochs: Mapping[str, int] | None = None
    ) -> set[str]:
        if not records:
            return set()
        sessions = sorted({r.session_id for r in records})
        keys = [self._key("session", s) for s in sessions]
        operation = f"storing {len(records)} records"
        for _ in range(_MAX_RETRIES):
            with self._commands(operation), self._redis.pipeline() as pipe:
                try:
                    pipe.watch(*keys)  # type: ignore[no-untyped-call]
                    rejected = self._write(pipe, records, sessions, epochs or {})
                except redis.WatchError:
                    continue
                except (redis.ConnectionError, redis.TimeoutError):
                    self._unsure = True  # EXEC may have been applied: check on the next write
                    raise
            self._unsure = False
            return rejected
        raise StoreError(
            f"Redis store {self.where}: {operation}: the sessions kept changing "
            f"({_MAX_RETRIES} attempts)"
        )

    def _write(
        self,
        pipe: Any,
        records: Sequence[Record],
        sessions: list[str],
        epochs: Mapping[str, int],
    ) -> set[str]:
        """One attempt of :meth:`record_many` on a pipeline that watches the sessions."""
        # immediate mode under WATCH: read the current values
        current = {
            session_id: _SessionState.read(pipe, self._key("session", session_id))
            for session_id in sessions
        }
        rejected = {
            session_id
            for session_id, epoch in epochs.items()
            if current[session_id] is None
            or cast(_SessionState, current[session_id]).epoch != epoch
        }
        states = {
            session_id: state
            for session_id, state in current.items()
            if state is not None and session_id not in rejected
        }
        for session_id, state in states.items():
            state.length = int(cast(int, pipe.llen(self._key("inputs", session_id))))
        written = {  # a write retried after its connection broke: its inputs are in already
            record.session_id
            for record in records
            if self._unsure
            and record.inputs
            and record.session_id in states
            and (
                (
                    record.last_seq is not None
                    and record.last_seq <= states[record.session_id].last_seq
                )
                or pipe.lindex(self._key("inputs", record.session_id), -1)
                == _pack_input(record.inputs[-1])
            )
        }
        pipe.multi()
        now = time.time()
        for record in records:
            session_id = record.session_id
            if session_id in rejected or session_id in written:
                continue
            state, key = states[session_id], self._key("session", session_id)
            if record.inputs:
                pipe.rpush(self._key("inputs", session_id), *map(_pack_input, record.inputs))
                state.length += len(record.inputs)
            if record.messages:
                pipe.zadd(
                    self._key("outputs", session_id),
                    {json.dumps(m): int(m["seq"]) for m in record.messages},
                )
            if record.ended and not state.ended:
                state.ended = True
                pipe.hset(key, mapping={"ended": 1, "ended_at": now})
            if record.acked is not None and record.acked > state.acked:
                state.acked = record.acked
                pipe.hset(key, "acked", record.acked)
            if record.last_seq is not None and record.last_seq > state.last_seq:
                state.last_seq = record.last_seq
                pipe.hset(key, "last_seq", record.last_seq)
            if record.checkpoint is not None:
                position = state.pruned + state.length
                pipe.hset(
                    self._key("checkpoint", session_id),
                    mapping={
                        "position": position,
                        "front": json.dumps(record.checkpoint.front),
                        "state": record.checkpoint.state,
                    },
                )
                if not state.recording:  # the checkpoint covers every input stored
                    pipe.delete(self._key("inputs", session_id))
                    pipe.hset(key, "pruned", position)
                    state.pruned, state.length = position, 0
        pipe.execute()
        return rejected

    def inputs(self, session_id: str, *, after: int = 0) -> Iterator[StoredInput]:
        key = self._key("inputs", session_id)
        with self._commands("reading a session's inputs"), self._redis.pipeline() as pipe:
            # one transaction: pruning moves the list
            pipe.hget(self._key("session", session_id), "pruned")
            pipe.lrange(key, 0, -1)
            pruned_field, entries = pipe.execute()
        pruned = int(pruned_field or 0)
        skip = max(0, after - pruned)
        for offset, entry in enumerate(cast(list[bytes], entries)[skip:]):
            yield _unpack_input(entry, f"{key}[{skip + offset}]")

    def outputs(self, session_id: str, *, after: int = 0) -> list[dict[str, Any]]:
        with self._commands("reading a session's messages"):
            key = self._key("outputs", session_id)
            found = cast(list[bytes], self._redis.zrangebyscore(key, f"({after}", "+inf"))
            return [json.loads(entry) for entry in found]

    def checkpoint(self, session_id: str) -> Checkpoint | None:
        key = self._key("checkpoint", session_id)
        with self._commands("reading a checkpoint"):
            fields = cast(dict[bytes, bytes], self._redis.hgetall(key))
        if not fields:
            return None
        try:
            return Checkpoint(
                fields[b"state"], json.loads(fields[b"front"]), int(fields[b"position"])
            )
        except (KeyError, ValueError) as error:
            raise StoreError(f"{key}: unusable checkpoint ({error})") from None

    def _delete_sessions(self, pipe: Any, sessions: Sequence[str]) -> None:
        """Queue the deletion of sessions with everything they stored on ``pipe``."""
        for session_id in sessions:
            for part in ("session", "inputs", "outputs", "checkpoint"):
                pipe.delete(self._key(part, session_id))
        if sessions:
            pipe.zrem(self._key("sessions"), *sessions)

    def add_pairing(self, code_hash: str, task: str, expires: float) -> None:
        with self._commands("adding a pairing"):
            ttl_ms = max(1, int((expires - time.time()) * 1000))
            self._redis.set(self._key("pairing", code_hash), f"{expires}:{task}", px=ttl_ms)

    def take_pairing(self, code_hash: str, now: float) -> str | None:
        with self._commands("taking a pairing"):
            found = cast(bytes | None, self._redis.getdel(self._key("pairing", code_hash)))
        if found is None:
            return None
        expires, task = found.decode().split(":", 1)
        return task if float(expires) > now else None

    def purge_ended(self, before: float) -> list[str]:
        with self._commands("deleting expired sessions"):
            ids = [
                i.decode()
                for i in cast(list[bytes], self._redis.zrange(self._key("sessions"), 0, -1))
            ]
            with self._redis.pipeline(transaction=False) as pipe:
                for session_id in ids:
                    pipe.hmget(self._key("session", session_id), "ended", "ended_at")
                found = cast(list[list[bytes | None]], pipe.execute())
            expired, now = [], time.time()
            with self._redis.pipeline() as pipe:
                for session_id, (ended, ended_at) in zip(ids, found, strict=True):
                    if not int(ended or 0):
                        continue
                    if ended_at is None:  # ended before ended_at was kept: its retention starts
                        pipe.hset(self._key("session", session_id), "ended_at", now)
                    elif float(ended_at) < before:
                        expired.append(session_id)
                self._delete_sessions(pipe, expired)
                pipe.execute()
            return expired

    def forget_device(self, device_id: str) -> list[str] | None:
        with self._commands("deleting a device"):
            token_hash = cast(bytes | None, self._redis.hget(self._key("devices"), device_id))
            ids = [row.session_id for row in self.sessions() if row.device_id == device_id]
            if token_hash is None and not ids:
                return None
            with self._redis.pipeline() as pipe:
                pipe.hdel(self._key("devices"), device_id)
                pipe.hdel(self._key("device_names"), device_id)
                pipe.srem(self._key("recording_devices"), device_id)
                if token_hash is not None:
                    pipe.hdel(self._key("device_by_hash"), token_hash)
                self._delete_sessions(pipe, ids)
                pipe.execute()
            return ids


class _SessionState:
    """A session hash's fields that :meth:`RedisStore.record_many` updates, as read under
    ``WATCH`` and then kept up to date while its commands are queued."""

    def __init__(self, fields: list[bytes | None]) -> None:
        epoch, ended, acked, last_seq, pruned, recording = (int(v or 0) for v in fields)
        self.epoch, self.ended, self.acked, self.last_seq = epoch, bool(ended), acked, last_seq
        self.pruned, self.recording, self.length = pruned, bool(recording), 0

    _FIELDS = ("epoch", "ended", "acked", "last_seq", "pruned", "recording")

    @classmethod
    def read(cls, pipe: Any, key: str) -> _SessionState | None:
        """The state of the session hash ``key`` (``None``: no such session)."""
        fields = cast(list[bytes | None], pipe.hmget(key, *cls._FIELDS))
        return None if fields[0] is None else cls(fields)
