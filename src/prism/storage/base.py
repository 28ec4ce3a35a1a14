"""What the service stores, and the interface every store implements.

A store keeps devices (token hashes), sessions, the inputs a session processed, every
message it sent and the latest checkpoint of each session's pipeline. A session is
rebuilt from its checkpoint plus the inputs stored after it (or from all its inputs when
it has none), and the messages it sent are read back, not recomputed. Each processed
input and the messages it produced are written together *before* the messages are sent,
so whatever a watch received (and may acknowledge) survives a crash.

Retention: a session's inputs (raw sensor frames, kitchen audio included) are kept only
until a checkpoint covers them: the record that brings a checkpoint deletes the inputs
before it in the same transaction (:attr:`SessionRow.pruned` says up to where). Sessions
of a device registered for recording (:attr:`SessionRow.recording`) keep every input.
A privacy session (:attr:`SessionRow.privacy`) never had speech to keep: its watch sends
audio decimated to 1 kHz.
Ended sessions are deleted with everything they stored by :meth:`SessionStore.purge_ended`,
a device with all its sessions by :meth:`SessionStore.forget_device`.

Ownership: a session is served by one service process at a time. A process that takes a
session over (a watch reconnecting to another worker) *claims* it, which raises the
session's epoch; writes carry the epoch their process holds and a store rejects those of
a session whose epoch has moved on, so a process that lost a session can never write
into it.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from prism.errors import StoreError, StoreUnavailableError

__all__ = [
    "Checkpoint",
    "InputKind",
    "Record",
    "SessionRow",
    "SessionStore",
    "StoreError",
    "StoreTime",
    "StoreUnavailableError",
    "StoredInput",
]

InputKind = Literal["frame", "control", "question", "mode", "labels"]
"""``frame``: binary frame bytes; ``control``: a JSON control message; ``question``: the
transcript of a spoken question, answered at that point; ``mode``: the session's mode
from that point (``guided``: opened without a model; ``sensing``: switched to its
task's model); ``labels``: a recording session's step labels as a researcher corrected
them (JSON, :mod:`prism.server.labels`; the latest one counts), not replayed."""


@dataclass(frozen=True)
class SessionRow:
    """A stored session.

    Attributes
    ----------
    ended : bool
        The session is over.
    acked : int
        The watch's latest acknowledgement.
    epoch : int
        Raised by each :meth:`SessionStore.claim`.
    recording : bool
        The session keeps every input (its device was registered for recording).
    last_seq : int
        The highest watch ``seq`` of an input the session processed (stored or not:
        acknowledgements and empty frames are not kept as inputs).
    ended_at : float or None
        When the session ended (Unix time, s; ``None``: not ended).
    pruned : int
        The inputs up to this position were deleted (a checkpoint covers them; 0: none).
    privacy : bool
        A privacy session: its watch sends audio decimated to 1 kHz, which the
        procedure's privacy model classifies.
    """

    session_id: str
    device_id: str
    procedure: str
    ended: bool
    acked: int
    epoch: int = 0
    recording: bool = False
    last_seq: int = 0
    ended_at: float | None = None
    pruned: int = 0
    privacy: bool = False


@dataclass(frozen=True)
class StoredInput:
    """One processed input, in processing order."""

    seq: int
    kind: InputKind
    body: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A session's pipeline state after some of its inputs.

    Attributes
    ----------
    state : bytes
        The pipeline's serialized runtime (see :mod:`prism.server.checkpoint`).
    front : dict
        JSON-ready state of the service front that goes with it (stream clocks, the
        last input ``seq``).
    position : int
        Where in the session's stored inputs it was taken: :meth:`SessionStore.inputs`
        with ``after=position`` gives the inputs it does not include. Set by the store
        when the checkpoint is written (0 on the way in).
    """

    state: bytes
    front: dict[str, Any] = field(default_factory=dict)
    position: int = 0


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
    checkpoint : Checkpoint or None
        The pipeline state after ``inputs`` (replaces the session's previous one). Unless
        the session is recording, the session's inputs up to it are deleted.
    last_seq : int or None
        The highest watch ``seq`` the record covers, inputs not stored included (kept if
        higher than the stored one).
    """

    session_id: str
    inputs: Sequence[StoredInput] = ()
    messages: Sequence[dict[str, Any]] = ()
    ended: bool = False
    acked: int | None = None
    checkpoint: Checkpoint | None = None
    last_seq: int | None = None


class StoreTime:
    """The time a store spent in its operations, summed over every thread. Thread-safe.

    Each store times the operations it runs (a Redis command or pipeline, an SQLite
    transaction or query, lock waits included) with :meth:`measure`; the service shows
    the sums on ``/metrics`` (``prism_store_*``) so a load test can tell which share of
    a process's time goes to its store.

    Attributes
    ----------
    calls : int
        Operations timed.
    wall_s : float
        Their wall-clock time (s): waiting for the server or the lock included.
    cpu_s : float
        The CPU time of the calling threads meanwhile (s; ``time.thread_time``): what the
        store costs this process (client-side encoding, system calls), not the server.

    >>> timer = StoreTime()
    >>> with timer.measure():
    ...     pass
    >>> timer.calls
    1
    """

    def __init__(self) -> None:
        self.calls, self.wall_s, self.cpu_s = 0, 0.0, 0.0
        self._lock = threading.Lock()

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Time the block as one operation (counted also when it raises)."""
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            with self._lock:
                self.calls += 1
                self.wall_s += wall
                self.cpu_s += cpu


class SessionStore(ABC):
    """Devices, sessions, inputs, messages and checkpoints (see the module docstring).

    Implementations: :class:`~prism.storage.sqlite.SqliteStore` (one service process)
    and :class:`~prism.storage.redis_store.RedisStore` (several processes or machines).
    All methods are thread-safe. A method that fails raises :class:`StoreError` naming
    the store and the operation; :class:`StoreUnavailableError` when the fault passes
    (server unreachable, disk full, read-only): the same call can be tried again.
    :attr:`time` sums the time spent in its operations.
    """

    def __init__(self) -> None:
        self.time = StoreTime()
        """The time spent in this store's operations (each implementation times them)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and background threads."""

    @abstractmethod
    def add_device(
        self, device_id: str, token_hash: str, name: str, *, recording: bool = False
    ) -> None:
        """Store a device (its token only hashed); ``recording``: its sessions keep every
        input."""

    @abstractmethod
    def devices(self) -> dict[str, str]:
        """Device id -> token hash."""

    @abstractmethod
    def device_for(self, token_hash: str) -> str | None:
        """The device whose token has this hash (``None``: none)."""

    @abstractmethod
    def add_session(
        self, session_id: str, device_id: str, procedure: str, *, privacy: bool = False
    ) -> SessionRow:
        """Store a new session (epoch 0), recording if its device is, a privacy session
        if ``privacy``; the new row."""

    @abstractmethod
    def sessions(self) -> list[SessionRow]:
        """Every stored session, oldest first."""

    @abstractmethod
    def session(self, session_id: str) -> SessionRow | None:
        """One stored session (``None``: unknown)."""

    @abstractmethod
    def claim(self, session_id: str) -> int:
        """Take the session over: raise its epoch and return the new one.

        Raises
        ------
        StoreError
            If the session is unknown.
        """

    @abstractmethod
    def record_many(
        self, records: Sequence[Record], *, epochs: Mapping[str, int] | None = None
    ) -> set[str]:
        """Store several sessions' records atomically (one transaction).

        Parameters
        ----------
        records : sequence of Record
        epochs : mapping, optional
            Session id -> the epoch the writer holds. Records of a session whose stored
            epoch differs are not written.

        Returns
        -------
        set of str
            The sessions whose records were rejected (another process owns them now).
        """

    @abstractmethod
    def inputs(self, session_id: str, *, after: int = 0) -> Iterator[StoredInput]:
        """The session's processed inputs after position ``after`` (a checkpoint's
        :attr:`Checkpoint.position`; 0: all), in processing order."""

    @abstractmethod
    def outputs(self, session_id: str, *, after: int = 0) -> list[dict[str, Any]]:
        """The messages the session sent with ``seq > after``, in order."""

    @abstractmethod
    def checkpoint(self, session_id: str) -> Checkpoint | None:
        """The session's latest checkpoint (``None``: none yet)."""

    @abstractmethod
    def purge_ended(self, before: float) -> list[str]:
        """Delete the sessions that ended before ``before`` (Unix time, s) with their
        inputs, messages and checkpoints; the ids of those deleted."""

    @abstractmethod
    def forget_device(self, device_id: str) -> list[str] | None:
        """Delete a device with its sessions, their inputs, messages and checkpoints.

        Returns
        -------
        list of str or None
            The ids of the sessions deleted; ``None`` if there is no such device.
        """

    @abstractmethod
    def add_pairing(self, code_hash: str, task: str, expires: float) -> None:
        """Store a pairing: a one-time code (only its hash) that gives a new device for
        ``task`` until ``expires`` (Unix time, s)."""

    @abstractmethod
    def take_pairing(self, code_hash: str, now: float) -> str | None:
        """Use a pairing once: its task if it exists and has not expired at ``now``
        (Unix time, s), else ``None``; either way it is gone afterwards, as are the
        pairings expired at ``now``."""

    def record(
        self,
        session_id: str,
        processed: StoredInput | None,
        messages: Sequence[dict[str, Any]],
        *,
        ended: bool = False,
        acked: int | None = None,
        epoch: int | None = None,
    ) -> bool:
        """Store an input and the messages it produced, atomically; ``ended`` marks the
        session over, ``acked`` is the watch's latest acknowledgement (kept if higher).
        Returns ``False`` when rejected (``epoch`` is not the session's any more)."""
        inputs = () if processed is None else (processed,)
        last_seq = None if processed is None else processed.seq
        record = Record(session_id, inputs, messages, ended=ended, acked=acked, last_seq=last_seq)
        epochs = None if epoch is None else {session_id: epoch}
        return session_id not in self.record_many([record], epochs=epochs)
