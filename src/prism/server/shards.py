"""Session pipelines sharded over worker processes (one :class:`LocalPipeline` each).

Feature extraction and tracking are Python work that holds the GIL, so one process
uses one core however many threads it runs. :class:`ShardedPipeline` puts each session
on one of ``workers`` processes (by a hash of its id) and forwards the calls over pipes:
:meth:`~ShardedPipeline.step` sends every shard its sessions' frames first and then
collects the answers, so the shards work at the same time. Worker processes are started
with ``spawn`` (no inherited event loop or threads) and end when the service does: a
closed pipe (also after a ``kill -9`` of the service) stops them.

A worker that dies (killed, out of memory) is noticed by the call that finds its pipe
broken or closed: the worker is started again at once and the call raises
:class:`~prism.errors.WorkerLostError` naming the lane. The new worker holds no
sessions, so until the front has rebuilt them (:meth:`Pipeline.replay`) and says so
(:meth:`ShardedPipeline.restored`), every call to that lane but ``open``, ``replay`` and
``drop`` raises the same error without reaching the worker.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from prism.errors import PrismError, SettingsError, WorkerLostError
from prism.protocol import ControlMessage
from prism.server.checkpoint import CheckpointError
from prism.server.pipeline import LocalPipeline, Pipeline, StepResult, UnknownSessionError
from prism.server.runtime import RuntimeEvent, SessionMode
from prism.storage import StoredInput

__all__ = ["GC_THRESHOLDS", "ShardedPipeline"]

GC_THRESHOLDS = (50_000, 20, 20)
"""Garbage-collector thresholds of a worker: the pipeline allocates many short-lived
arrays per frame and few cycles, so young collections can be rarer (fewer pauses)."""


_REBUILDING = frozenset({"open", "replay", "drop"})
"""Calls a restarted worker takes before its sessions are rebuilt."""


@dataclass
class _Shard:
    process: BaseProcess
    connection: Connection
    lock: threading.Lock
    lost: bool = False
    """The worker was restarted and its sessions are not rebuilt yet."""


def _serve(
    connection: Connection,
    tasks_dir: str,
    models_dir: str,
    warm_up: int,
    checkpoint_every_s: float | None,
) -> None:
    """A worker process: answer ``(method, args)`` calls until the pipe closes."""
    pipeline = LocalPipeline(
        Path(tasks_dir),
        Path(models_dir),
        warm_up_sessions=warm_up,
        checkpoint_every_s=checkpoint_every_s,
    )
    gc.set_threshold(*GC_THRESHOLDS)
    while True:
        try:
            method, args = connection.recv()
        except (EOFError, OSError):
            return
        try:
            connection.send(("ok", getattr(pipeline, method)(*args)))
        except UnknownSessionError as error:
            connection.send(("unknown", str(error)))
        except CheckpointError as error:
            connection.send(("checkpoint", str(error)))
        except PrismError as error:
            connection.send(("prism", str(error)))
        except Exception as error:  # reported to the caller, the worker goes on
            connection.send(("bug", f"{type(error).__name__}: {error}"))


class ShardedPipeline(Pipeline):
    """:class:`LocalPipeline` s in ``workers`` processes (see the module docstring).

    Parameters
    ----------
    tasks_dir, models_dir : Path
        As for :class:`LocalPipeline`.
    workers : int
        Worker processes (>= 1).
    warm_up_sessions, checkpoint_every_s
        As for :class:`LocalPipeline` (each worker warms its own cache).
    """

    def __init__(
        self,
        tasks_dir: Path,
        models_dir: Path,
        *,
        workers: int,
        warm_up_sessions: int = 0,
        checkpoint_every_s: float | None = None,
    ) -> None:
        if workers < 1:
            raise SettingsError(f"a sharded pipeline needs at least one worker, got {workers}")
        self._start = (str(tasks_dir), str(models_dir), warm_up_sessions, checkpoint_every_s)
        self._shards = [_Shard(*self._spawn(index), threading.Lock()) for index in range(workers)]

    def _spawn(self, index: int) -> tuple[BaseProcess, Connection]:
        """Start the worker of lane ``index``: its process and the front's end of its pipe."""
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve, args=(child, *self._start), name=f"prism-pipeline-{index}", daemon=True
        )
        process.start()
        child.close()
        return process, parent

    def _lost(self, index: int, problem: BaseException) -> WorkerLostError:
        """The worker of lane ``index`` is gone (its pipe ``problem``): start a new one
        (the shard's lock is held); the error for the caller."""
        shard = self._shards[index]
        name, pid = shard.process.name, shard.process.pid
        shard.connection.close()
        shard.process.join(timeout=1)
        if shard.process.is_alive():  # the pipe broke but the process lives on: end it
            shard.process.kill()
            shard.process.join(timeout=5)
        code = shard.process.exitcode
        shard.process, shard.connection = self._spawn(index)
        shard.lost = True
        return WorkerLostError(
            f"pipeline worker {name} (pid {pid}) died (exit code {code}; "
            f"{type(problem).__name__}): restarted as pid {shard.process.pid}",
            index,
        )

    def restored(self, lane: int) -> None:
        """The front rebuilt the sessions of ``lane``'s restarted worker: calls go to it
        again."""
        self._shards[lane].lost = False

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers."""
        return [shard.process.pid or 0 for shard in self._shards]

    @property
    def lanes(self) -> int:
        return len(self._shards)

    def lane(self, session_id: str) -> int:
        return self._index(session_id)

    def _index(self, session_id: str) -> int:
        return zlib.crc32(session_id.encode()) % len(self._shards)

    @staticmethod
    def _answer(shard: _Shard) -> Any:
        status, value = shard.connection.recv()
        if status == "ok":
            return value
        if status == "unknown":
            raise UnknownSessionError(value)
        if status == "checkpoint":
            raise CheckpointError(value)
        if status == "prism":
            raise PrismError(value)
        raise RuntimeError(f"pipeline worker {shard.process.name} failed: {value}")

    def _call(self, session_id: str, method: str, *args: Any) -> Any:
        index = self._index(session_id)
        shard = self._shards[index]
        with shard.lock:
            self._check(index, method)
            try:
                shard.connection.send((method, args))
                return self._answer(shard)
            except (EOFError, OSError) as problem:
                raise self._lost(index, problem) from None

    def _check(self, index: int, method: str) -> None:
        """Refuse ``method`` on a restarted worker whose sessions are not rebuilt yet."""
        if self._shards[index].lost and method not in _REBUILDING:
            raise WorkerLostError(
                f"pipeline lane {index}: its worker was restarted, its sessions are not "
                "rebuilt yet",
                index,
            )

    def open(self, session_id: str, procedure_id: str, privacy: bool = False) -> SessionMode:
        mode: SessionMode = self._call(session_id, "open", session_id, procedure_id, privacy)
        return mode

    def sense(self, session_id: str) -> list[RuntimeEvent]:
        events: list[RuntimeEvent] = self._call(session_id, "sense", session_id)
        return events

    def reload(self) -> None:
        """Every worker forgets its procedures and models (a restarted one has none)."""
        for index, shard in enumerate(self._shards):
            with shard.lock:
                try:
                    shard.connection.send(("reload", ()))
                    self._answer(shard)
                except (EOFError, OSError) as problem:
                    raise self._lost(index, problem) from None

    def step(self, frames: Mapping[str, Sequence[bytes]]) -> dict[str, StepResult]:
        by_shard: dict[int, dict[str, Sequence[bytes]]] = {}
        for session_id, bodies in frames.items():
            by_shard.setdefault(self._index(session_id), {})[session_id] = bodies
        shards = [(i, self._shards[i], part) for i, part in sorted(by_shard.items())]
        for _, shard, _ in shards:  # in index order: no two callers wait on each other
            shard.lock.acquire()
        try:
            failures: dict[int, Exception] = {}
            for index, shard, part in shards:
                try:
                    self._check(index, "step")
                    shard.connection.send(("step", (part,)))
                except (WorkerLostError, OSError) as refused:
                    failures[index] = refused
            results: dict[str, StepResult] = {}
            for index, shard, _ in shards:  # read every answer, even after a failure
                if index in failures:
                    continue
                try:
                    results.update(self._answer(shard))
                except Exception as error:
                    failures[index] = error
            for index, failure in failures.items():
                if isinstance(failure, EOFError | OSError):  # the worker is gone
                    failures[index] = self._lost(index, failure)
            if failures:
                raise next(iter(failures.values()))
            return results
        finally:
            for _, shard, _ in shards:
                shard.lock.release()

    def control(self, session_id: str, message: ControlMessage) -> list[RuntimeEvent]:
        events: list[RuntimeEvent] = self._call(session_id, "control", session_id, message)
        return events

    def snapshot(self, session_id: str) -> dict[str, Any]:
        view: dict[str, Any] = self._call(session_id, "snapshot", session_id)
        return view

    def replay(
        self,
        session_id: str,
        procedure_id: str,
        inputs: Sequence[StoredInput],
        checkpoint: bytes | None = None,
        privacy: bool = False,
    ) -> int:
        failed: int = self._call(
            session_id, "replay", session_id, procedure_id, list(inputs), checkpoint, privacy
        )
        return failed

    def drop(self, session_id: str) -> None:
        self._call(session_id, "drop", session_id)

    def close(self) -> None:
        for shard in self._shards:
            shard.connection.close()
        for shard in self._shards:
            shard.process.join(timeout=5)
            if shard.process.is_alive():
                shard.process.kill()
