"""What the service front keeps of one live session, and its connection's outbox."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prism.protocol import (
    AUDIO_RATE_HZ,
    PRIVACY_AUDIO_RATE_HZ,
    ErrorCode,
    FrameKind,
    ProtocolError,
    SensorFrame,
    SequenceChecker,
    StreamClock,
)
from prism.server.runtime import RuntimeEvent
from prism.storage import StoredInput

__all__ = ["NOTABLE_KEPT", "CloseRequest", "LiveSession", "Outbox", "error_messages"]


@dataclass(frozen=True)
class CloseRequest:
    """An outbox item asking the connection to close with ``code`` after what came before."""

    code: int
    reason: str


Outbox = asyncio.Queue[dict[str, Any] | bytes | CloseRequest]
"""A connection's messages to send, in order (JSON messages, binary frames, a close)."""


NOTABLE_KEPT = 200
"""Reminders and answers a session keeps in memory for the dashboard."""


@dataclass
class LiveSession:
    """What the front keeps of a session: sequence state, recent messages, connection.

    Memory stays bounded however long a session runs, whether or not its watch
    acknowledges: of the messages sent (all in the database) it keeps the newest
    ``max_unacked`` the watch has not acknowledged, the last step message, the last
    :data:`NOTABLE_KEPT` reminders and answers, and the ids of the reminders sent.

    Attributes
    ----------
    sent_count : int
        Messages numbered so far (the last one's ``seq``).
    unacked : list of dict
        The newest messages after ``acked`` (at most ``max_unacked``), in order; older
        unacknowledged ones are read back from the store.
    max_unacked : int
        Unacknowledged messages kept in memory (``max_unacked_kept``).
    reminder_ids : set of int
        The ``reminder_id`` of every reminder sent (a reminder action names one).
    pending : list of StoredInput
        Inputs taken but not yet processed and stored (sensor frames, acknowledgements),
        in arrival order.
    pending_frames : int
        How many of them are sensor frames.
    outbox : Outbox or None
        Messages for the connected watch (None: no connection).
    epoch : int
        The session's epoch in the store when this process loaded or claimed it.
    owner : bool
        This process claimed the session (or created it) and writes its inputs; a copy
        loaded only to answer a request is not the owner.
    last_input_seq : int
        The ``seq`` of the newest input taken for processing.
    recording : bool
        The session keeps every input (its device was registered for recording); else
        its inputs are deleted once a checkpoint covers them.
    privacy : bool
        A privacy session: its audio frames come at 1 kHz (decimated on the watch), and
        the procedure's privacy model classifies them.
    last_marked : str or None
        A recording session's last step marked (``None`` marks left out): a bare "next"
        marks the step after it.
    """

    id: str
    device_id: str
    procedure_id: str
    incoming: SequenceChecker = field(default_factory=SequenceChecker)
    clock: StreamClock = field(default_factory=StreamClock)
    sent_count: int = 0
    unacked: list[dict[str, Any]] = field(default_factory=list)
    max_unacked: int = 500
    reminder_ids: set[int] = field(default_factory=set)
    notable: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=NOTABLE_KEPT))
    last_step: dict[str, Any] = field(default_factory=dict)
    """The last step message sent ({} before the first)."""
    acked: int = 0
    ended: bool = False
    pending: list[StoredInput] = field(default_factory=list)
    pending_frames: int = 0
    outbox: Outbox | None = None
    epoch: int = 0
    owner: bool = False
    last_input_seq: int = 0
    recording: bool = False
    privacy: bool = False
    last_marked: str | None = None

    @property
    def audio_rate(self) -> float:
        """The rate (Hz) of the session's audio frames (kind 2): 1 kHz in a privacy
        session, else 16 kHz. Spoken questions are 16 kHz in both."""
        return PRIVACY_AUDIO_RATE_HZ if self.privacy else AUDIO_RATE_HZ

    def check_rate(self, frame: SensorFrame) -> None:
        """Refuse an audio frame whose rate is not the session's (:attr:`audio_rate`).

        Raises
        ------
        ProtocolError
            ``BAD_FRAME`` naming ``rate``.
        """
        if frame.kind == FrameKind.AUDIO and frame.rate != self.audio_rate:
            kind = "a privacy session" if self.privacy else "this session"
            raise ProtocolError(
                ErrorCode.BAD_FRAME,
                f"audio rate {frame.rate:g} Hz: {kind} takes audio at {self.audio_rate:g} Hz",
                frame.seq,
            )

    def number(self, events: list[RuntimeEvent]) -> list[dict[str, Any]]:
        """The messages of ``events``, numbered after those sent (and kept as sent).

        Error events are left out: an ``error`` is outside the sequence, never numbered
        or stored (:func:`error_messages`).
        """
        numbered = [event for event in events if event.kind != "error"]
        messages = [event.message(self.sent_count + i + 1) for i, event in enumerate(numbered)]
        self.sent_count += len(messages)
        self.keep(messages)
        return messages

    def keep(self, messages: list[dict[str, Any]]) -> None:
        """Remember sent ``messages`` (in order) as :class:`LiveSession` says."""
        self.unacked.extend(m for m in messages if m["seq"] > self.acked)
        if len(self.unacked) > self.max_unacked:
            del self.unacked[: len(self.unacked) - self.max_unacked]
        for message in messages:
            if message.get("type") == "step":
                self.last_step = message
            elif message.get("type") in ("reminder", "answer"):
                self.notable.append(message)
            if message.get("type") == "reminder" and isinstance(message.get("reminder_id"), int):
                self.reminder_ids.add(message["reminder_id"])

    def acknowledge(self, up_to: int) -> None:
        """The watch has every message up to ``up_to``: forget them from memory."""
        self.acked = max(self.acked, min(up_to, self.sent_count))
        if self.unacked and self.unacked[0]["seq"] <= self.acked:
            self.unacked = [m for m in self.unacked if m["seq"] > self.acked]


def error_messages(events: list[RuntimeEvent]) -> list[dict[str, Any]]:
    """The ``error`` messages among ``events``: unnumbered (``seq`` 0), for the watch only.

    They are about messages the service already accepted (their ``seq`` is used), so
    their ``ref_seq`` is null (only a refused message's error names its ``seq`` there,
    for the watch to use again) and their text names the message instead.
    """
    return [
        {
            "type": "error",
            "seq": 0,
            "code": event.data["code"],
            "message": f"message {event.data.get('ref_seq')}: {event.data['message']}",
            "ref_seq": None,
        }
        for event in events
        if event.kind == "error"
    ]
