"""The order of the watch's messages: sequence numbers, and sensor streams moving forward
in time (``watch_bridge/PROTOCOL.md``, *Sequence numbers and acknowledgements*)."""

from __future__ import annotations

from collections.abc import Mapping

from prism.protocol.errors import ErrorCode, ProtocolError
from prism.protocol.frames import FrameKind, SensorFrame

__all__ = ["TIME_TOLERANCE_S", "SequenceChecker", "StreamClock"]

TIME_TOLERANCE_S = 0.05
"""How far a stream may go back in time between frames (clock jitter), seconds."""


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
        """Accept ``seq`` if it is the next one.

        Raises
        ------
        ProtocolError
            ``DUPLICATE`` for a number already accepted, ``SEQUENCE_GAP`` for one
            beyond the next expected (nothing changes in either case).
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
        self.next_seq += 1


class StreamClock:
    """Checks that each sensor stream moves forward in time (within jitter tolerance)."""

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
        """Accept ``frame`` if it does not go back in time on its stream.

        Raises
        ------
        ProtocolError
            ``TIME_BACKWARDS``, naming the stream and both times.
        """
        end = self._end.get(frame.kind)
        if end is not None and frame.t0 < end - TIME_TOLERANCE_S:
            raise ProtocolError(
                ErrorCode.TIME_BACKWARDS,
                f"{frame.kind.name.lower()} frame starts at {frame.t0:.3f} s, before the "
                f"previous one ended ({end:.3f} s)",
                frame.seq,
            )
        self._end[frame.kind] = max(frame.end_s, end or 0.0)
