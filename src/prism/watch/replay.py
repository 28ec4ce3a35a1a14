"""A watch that streams a recorded session to the service, as the real watch would.

:func:`replay` connects to a session's WebSocket (``watch_bridge/PROTOCOL.md``), sends
the recording's IMU and audio as binary frames in time order (``chunk_s`` per frame),
paced by ``speed`` (1 = real time, ``None`` = as fast as the server takes them), can ask
a question at a given time (text, or spoken audio as a push-to-talk clip), acknowledges
what it receives and ends the session. Every server message goes to ``on_message``. For
a privacy session (``audio_rate=1000``) it decimates the recording's audio to 1 kHz
before sending it, as a watch in privacy mode does
(:func:`prism.sensing.features.decimate`).

It numbers its messages as the protocol says (:class:`Numbering`): a message the server
refuses does not use up its ``seq``, so the next message is sent with that number.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import websockets

from prism.data.recording import AUDIO_RATE_HZ, Recording
from prism.errors import ReplayError
from prism.protocol import ErrorCode, FrameKind, SensorFrame, encode_frame
from prism.sensing.features import decimate

__all__ = [
    "REFUSALS",
    "Numbering",
    "ReplayError",
    "ReplayQuestion",
    "ReplayResult",
    "replay",
    "sensor_frames",
]

REFUSALS = frozenset(
    {ErrorCode.BAD_FRAME, ErrorCode.TOO_LARGE, ErrorCode.TIME_BACKWARDS, ErrorCode.UNKNOWN_STEP}
)
"""Error codes that, with a ``ref_seq``, refuse that message: its ``seq`` is not used."""


class Numbering:
    """A watch's sequence numbers: one per message sent, a refused one used again.

    Parameters
    ----------
    next_seq : int
        The first number to send (``welcome.next_seq``).

    Examples
    --------
    >>> numbers = Numbering(5)
    >>> [numbers.take(), numbers.take()]
    [5, 6]
    >>> numbers.refused({"type": "error", "code": 4005, "ref_seq": 6}); numbers.take()
    6
    """

    def __init__(self, next_seq: int) -> None:
        self.next_seq = next_seq

    def take(self) -> int:
        """The number of the message about to be sent."""
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def refused(self, error: dict[str, Any]) -> None:
        """Read an ``error`` message: if it refuses a message already numbered (one of
        :data:`REFUSALS` with its ``ref_seq``), that number goes to the next message
        (the server drops those sent after it as gaps; a replay does not resend them)."""
        ref = error.get("ref_seq")
        if (
            error.get("code") in REFUSALS
            and isinstance(ref, int)
            and not isinstance(ref, bool)
            and 0 < ref < self.next_seq
        ):
            self.next_seq = ref


@dataclass(frozen=True)
class ReplayQuestion:
    """A question the simulated user asks at ``at_s`` (session time)."""

    at_s: float
    text: str
    audio: np.ndarray | None = None
    """If given: sent as spoken-question audio (16 kHz mono) instead of text."""


@dataclass
class ReplayResult:
    """What happened: every server message, in order, how many frames were sent, and
    the latency of each step update that names the frame it first includes (``in_seq``):
    from sending that frame to receiving the update (s, as ``benchmarks/load.py``)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    frames_sent: int = 0
    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """The messages of one ``type``."""
        return [m for m in self.messages if m.get("type") == kind]


def sensor_frames(
    recording: Recording, *, chunk_s: float = 0.2, audio_rate: int = AUDIO_RATE_HZ
) -> list[SensorFrame]:
    """The recording cut into IMU and audio frames of ``chunk_s``, in time order
    (``seq`` left at 0: numbered when sent); the audio at ``audio_rate`` Hz (below
    16 kHz: decimated as a watch in privacy mode does)."""
    frames: list[SensorFrame] = []
    if recording.imu is not None:
        times, values = recording.imu.times, recording.imu.values
        rate = float((len(times) - 1) / (times[-1] - times[0])) if len(times) > 1 else 50.0
        step = max(1, round(chunk_s * rate))
        for start in range(0, len(times), step):
            frames.append(
                SensorFrame(
                    FrameKind.IMU, 1, float(times[start]), rate, values[start : start + step]
                )
            )
    if recording.audio is not None:
        audio = recording.audio
        if audio_rate != AUDIO_RATE_HZ:
            audio = decimate(audio, audio_rate).astype(np.float32)
        step = max(1, round(chunk_s * audio_rate))
        for start in range(0, audio.size, step):
            frames.append(
                SensorFrame(
                    FrameKind.AUDIO,
                    1,
                    start / audio_rate,
                    float(audio_rate),
                    audio[start : start + step],
                )
            )
    frames.sort(key=lambda frame: (frame.end_s, frame.kind))
    return frames


async def replay(
    url: str,
    token: str,
    recording: Recording,
    *,
    speed: float | None = 1.0,
    questions: tuple[ReplayQuestion, ...] = (),
    chunk_s: float = 0.2,
    on_message: Callable[[dict[str, Any]], None] | None = None,
    final_timeout_s: float = 30.0,
    audio_rate: int = AUDIO_RATE_HZ,
) -> ReplayResult:
    """Stream ``recording`` to the session WebSocket at ``url``.

    Parameters
    ----------
    url : str
        ``ws://host:port/v1/sessions/{id}/stream``.
    token : str
        The device token.
    speed : float or None
        Playback speed (1 = real time); None: no pacing.
    questions : tuple of ReplayQuestion
        Asked when the stream reaches their time.
    final_timeout_s : float
        After ``end``, how long to wait for the server's last messages.
    audio_rate : int
        The rate of the audio frames (Hz): 16 kHz, or 1 kHz for a privacy session (the
        recording's audio decimated here, as the watch would).

    Raises
    ------
    ReplayError
        If the server cannot be reached, refuses the connection or sends a fatal error.
    """
    result = ReplayResult()
    started = time.perf_counter()
    frames = sensor_frames(recording, chunk_s=chunk_s, audio_rate=audio_rate)
    pending = sorted(questions, key=lambda q: q.at_s)
    headers = {"Authorization": f"Bearer {token}"}
    answers_expected = len(pending) + 1  # the questions' answers and the end's step event
    try:
        connection = await websockets.connect(
            url, additional_headers=headers, max_size=2**22, compression=None
        )
    except (OSError, websockets.exceptions.InvalidHandshake) as error:
        raise ReplayError(f"cannot connect to {url}: {error}") from None
    async with connection as ws:
        try:
            await ws.send(json.dumps({"type": "hello", "seq": 1, "protocol": 1}))
            welcome = json.loads(await ws.recv())
        except websockets.exceptions.ConnectionClosed as closed:
            reason = closed.rcvd.reason if closed.rcvd is not None else "no reason given"
            raise ReplayError(f"the server refused the session: {reason}") from None
        if welcome.get("type") != "welcome":
            raise ReplayError(f"the server refused the session: {welcome}")
        numbers = Numbering(int(welcome["next_seq"]))
        ended = asyncio.Event()
        finished = asyncio.Event()
        answered = 0
        received = [0]  # highest server seq received; acknowledged by the sender
        acked = 0
        sent_at: dict[int, float] = {}  # seq of a sensor frame -> when it was sent

        async def receive() -> None:
            nonlocal answered
            async for raw in ws:
                message = json.loads(raw)
                result.messages.append(message)
                if on_message is not None:
                    on_message(message)
                kind = message.get("type")
                if kind == "error" and message.get("code", 0) >= 4400:
                    raise ReplayError(f"the server closed the session: {message['message']}")
                if kind == "error":
                    numbers.refused(message)
                origin = sent_at.pop(message.get("in_seq") or -1, None) if kind == "step" else None
                if origin is not None:
                    result.latencies_s.append(time.perf_counter() - origin)
                if kind == "answer" or (kind == "step" and message.get("final")):
                    answered += 1
                received_up_to = max(received[0], int(message.get("seq") or 0))
                received[0] = received_up_to
                if ended.is_set() and answered >= answers_expected:
                    finished.set()
                    return

        receiver = asyncio.create_task(receive())
        for frame in frames:
            while pending and pending[0].at_s <= frame.t0:
                question = pending.pop(0)
                if question.audio is not None:
                    clip = SensorFrame(
                        FrameKind.QUESTION_AUDIO,
                        numbers.take(),
                        question.at_s,
                        16000.0,
                        question.audio,
                    )
                    await ws.send(encode_frame(clip))
                else:
                    text = {
                        "type": "question",
                        "seq": numbers.take(),
                        "text": question.text,
                        "t": question.at_s,
                    }
                    await ws.send(json.dumps(text))
            if speed is not None:
                delay = started + frame.end_s / speed - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            if received[0] - acked >= 20:  # acks go out from this one task: in seq order
                acked = received[0]
                await ws.send(json.dumps({"type": "ack", "seq": numbers.take(), "up_to": acked}))
            numbered = SensorFrame(frame.kind, numbers.take(), frame.t0, frame.rate, frame.samples)
            await ws.send(encode_frame(numbered))
            sent_at[numbered.seq] = time.perf_counter()
            result.frames_sent += 1
            if receiver.done():
                receiver.result()  # re-raise a fatal error
        end = {"type": "end", "seq": numbers.take(), "t": recording.annotation.duration}
        await ws.send(json.dumps(end))
        ended.set()
        if answered >= answers_expected:
            finished.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), final_timeout_s)
        receiver.cancel()
    result.wall_s = time.perf_counter() - started
    return result
