"""The order of the watch's messages: sequence numbers, and sensor streams moving forward
in time (``watch_bridge/PROTOCOL.md``, *Sequence numbers and acknowledgements*)."""

from __future__ import annotations

from collections.abc import Mapping

from prism.protocol.errors import ErrorCode, ProtocolError
from prism.protocol.frames import FrameKind, SensorFrame

__all__ = ["MAX_LEAD_S", "MAX_T0_S", "TIME_TOLERANCE_S", "SequenceChecker", "StreamClock"]

TIME_TOLERANCE_S = 0.05
"""How far a stream may go back in time between frames (clock jitter), seconds."""
MAX_T0_S = 86_400.0
"""A sensor frame starts before this session time (one day), seconds."""
MAX_LEAD_S = 3_600.0
"""How far a sensor frame may start after the latest end of the session's streams, seconds."""


class SequenceChecker:
    """Enforces the order of one direction's sequence numbers.

    Parameters
    ----------
    next_seq : int
        The first sequence number expected (1 for a new session; from the store when a
        session resumes).
    """

    def __init__(self, next_seq: int = 1) -> None:
        self.next_seq = next_seq

    def accept(self, seq: int) -> None:
        """Accept ``seq`` if it is the next one (:meth:`check`), and expect the one after.

        Raises
        ------
        ProtocolError
            As :meth:`check` (nothing changes).
        """
        self.check(seq)
        self.next_seq += 1

    def check(self, seq: int) -> None:
        """Check that ``seq`` is the next one, without taking it.

        Raises
        ------
        ProtocolError
            ``DUPLICATE`` for a number already accepted, ``SEQUENCE_GAP`` for one
            beyond the next expected.
        """
        if seq < self.next_seq:
            raise ProtocolError(
                ErrorCode.DUPLICATE, f"seq {seq} was already processed (next: {self.next_seq})", seq
            )
        if seq > self.next_seq:
            raise ProtocolError(
                ErrorCode.SEQUENCE_GAP,
                f"seq {seq} skips ahead: resend from seq {self.next_seq}",
                seq,
            )


class StreamClock:
    """Checks that each sensor stream moves forward in time (within jitter tolerance)
    and that no frame starts implausibly late (:data:`MAX_T0_S`, :data:`MAX_LEAD_S`)."""

    def __init__(self) -> None:
        self._end: dict[FrameKind, float] = {}

    def state(self) -> dict[str, float]:
        """JSON-ready: stream name -> the end (s) of its latest frame."""
        return {kind.name.lower(): end for kind, end in self._end.items()}

    @classmethod
    def from_state(cls, state: Mapping[str, float]) -> StreamClock:
        """A clock as :meth:`state` saved it (unknown stream names are ignored)."""
        clock = cls()
        for kind in FrameKind:
            if kind.name.lower() in state:
                clock._end[kind] = float(state[kind.name.lower()])
        return clock

    def accept(self, frame: SensorFrame) -> None:
        """Accept ``frame`` (:meth:`check`): its stream now ends where the frame does.

        Raises
        ------
        ProtocolError
            As :meth:`check` (nothing changes).
        """
        self.check(frame)
        self._end[frame.kind] = max(frame.end_s, self._end.get(frame.kind, 0.0))

    def check(self, frame: SensorFrame) -> None:
        """Check ``frame``'s time without accepting it.

        Raises
        ------
        ProtocolError
            ``BAD_FRAME`` naming ``t0`` if the frame starts at or after
            :data:`MAX_T0_S`, or more than :data:`MAX_LEAD_S` after the latest end of
            the session's streams; ``TIME_BACKWARDS``, naming the stream and both times,
            if it starts before the previous frame of its stream ended (less
            :data:`TIME_TOLERANCE_S`).
        """
        if not frame.t0 < MAX_T0_S:
            raise ProtocolError(
                ErrorCode.BAD_FRAME,
                f"t0 must be < {MAX_T0_S:.0f} s (one day), got {frame.t0:.3f} s",
                frame.seq,
            )
        latest = max(self._end.values(), default=0.0)
        if self._end and frame.t0 > latest + MAX_LEAD_S:
            raise ProtocolError(
                ErrorCode.BAD_FRAME,
                f"t0 {frame.t0:.3f} s is more than {MAX_LEAD_S:.0f} s after the session's "
                f"streams ended ({latest:.3f} s)",
                frame.seq,
            )
        end = self._end.get(frame.kind)
        if end is not None and frame.t0 < end - TIME_TOLERANCE_S:
            raise ProtocolError(
                ErrorCode.TIME_BACKWARDS,
                f"{frame.kind.name.lower()} frame starts at {frame.t0:.3f} s, before the "
                f"previous one ended ({end:.3f} s)",
                frame.seq,
            )
