"""What the service is missing right now: its store, pipeline workers being restarted.

The frame batches (:mod:`prism.server.batches`) report a fault when it starts and when it
ends; ``GET /v1/health`` and ``/metrics`` read :class:`Health`. Faults that pass are
expected: each is logged once when it starts and once when it ends, never per retry.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["Health"]

log = logging.getLogger(__name__)


class Health:
    """The service's faults in progress (event-loop only; not thread-safe).

    Attributes
    ----------
    store_fault : str or None
        Why the store fails now (its error's message); ``None``: it works.
    restarting : set of int
        Lanes of the pipeline whose worker process is being restarted and its sessions
        rebuilt.
    speech : str
        The speech recognizer: ``"loading"``, ``"ready"``, ``"unavailable: <why>"`` or
        ``"loads on first use"`` (not preloaded). Not a fault: sessions are served
        either way, and a spoken question asked while it loads waits for it.
    """

    def __init__(self) -> None:
        self.store_fault: str | None = None
        self.restarting: set[int] = set()
        self.speech = "loads on first use"

    @property
    def ok(self) -> bool:
        """No fault in progress."""
        return self.store_fault is None and not self.restarting

    def store_failed(self, reason: str) -> bool:
        """The store failed (``reason``: its error); whether this starts a fault."""
        starts = self.store_fault is None
        if starts:
            log.warning("store unavailable, holding its writes and retrying: %s", reason)
        self.store_fault = reason
        return starts

    def store_back(self) -> None:
        """A store operation succeeded: the fault, if any, is over."""
        if self.store_fault is not None:
            log.warning("store available again: writing what was held")
            self.store_fault = None

    def worker_lost(self, lane: int, reason: str) -> None:
        """The worker of ``lane`` died (``reason``) and is being restarted."""
        log.warning("pipeline lane %d: %s; restarting it and rebuilding its sessions", lane, reason)
        self.restarting.add(lane)

    def worker_back(self, lane: int) -> None:
        """The worker of ``lane`` runs again with its sessions rebuilt."""
        log.warning("pipeline lane %d: worker restarted, its sessions rebuilt", lane)
        self.restarting.discard(lane)

    def report(self) -> dict[str, Any]:
        """The body of ``GET /v1/health`` (without the session count): ``status`` is
        ``"ok"`` or ``"degraded"``; ``store`` ``"ok"`` or ``"unavailable: <why>"``;
        ``pipeline`` ``"ok"`` or the lanes being restarted; ``speech`` the recognizer's
        state (:attr:`speech`)."""
        pipeline = (
            "restarting worker of lane " + ", ".join(map(str, sorted(self.restarting)))
            if self.restarting
            else "ok"
        )
        return {
            "status": "ok" if self.ok else "degraded",
            "store": "ok" if self.store_fault is None else f"unavailable: {self.store_fault}",
            "pipeline": pipeline,
            "speech": self.speech,
        }
