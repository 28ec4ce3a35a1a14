"""Sensor Logger's HTTP Push as a watch of the service: ``POST /v1/ingest/sensor-logger``.

Sensor Logger (Android, iOS, and their Wear OS and Apple Watch companions) posts the
readings of a recording as JSON, every few seconds, to a URL the user types into the
app. The URL names the device's token and the procedure:
``https://HOST/v1/ingest/sensor-logger?token=TOKEN&task=latte_making``. The first message
of a Sensor Logger recording (its ``sessionId``) opens a PrISM session of that procedure
for the device; the following ones go to it. Their motion readings become IMU frames
(:class:`~prism.data.sensor_logger.PushAssembler`: repeats dropped, late readings within
2 s put in order, 50 Hz), numbered and fed to the session exactly as a watch's frames
(the same sequence and time checks, the same batches, the same backpressure: the reply
waits while the session is behind). The session is IMU-only; it ends when the device
starts another recording (after the readings still held) or by the idle sweep. Its step
updates are stored as for any session (``GET /v1/sessions/{id}/events``, the
dashboard).

The app shows the text of a 499 reply to its user (once per recording): a message
without a device's token is refused with 401; every other refusal (no or unknown task,
a malformed or too large message) is a 499 with a plain-text reason. What this process
keeps of a recording (the assembler, the session id) is in memory: after a restart, the
next message of a recording opens a new session.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from prism.data.recording import IMU_RATE_HZ, ImuSamples
from prism.data.sensor_logger import PushAssembler, parse_push
from prism.errors import DataError
from prism.protocol import (
    MAX_NESTING,
    MAX_SAMPLES,
    FrameKind,
    ProtocolError,
    SensorFrame,
    encode_frame,
    nesting_depth,
)
from prism.server.registry import SessionRegistry
from prism.server.session import LiveSession

__all__ = ["MAX_BODY_BYTES", "SensorLoggerBridge"]

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest push message taken (bytes of JSON)."""

RECORDINGS_KEPT = 1000
"""Sensor Logger recordings a process follows at once (the least recently used is
forgotten beyond)."""


@dataclass
class _Recording:
    """One Sensor Logger recording followed: its session and its reorder buffer."""

    session_id: str
    assembler: PushAssembler = field(default_factory=PushAssembler)


class SensorLoggerBridge:
    """The Sensor Logger recordings of the service's devices (see the module docstring).

    Parameters
    ----------
    registry : SessionRegistry
    """

    def __init__(self, registry: SessionRegistry) -> None:
        self.registry = registry
        self._recordings: OrderedDict[tuple[str, str], _Recording] = OrderedDict()

    async def ingest(self, device_id: str, task: str, body: bytes) -> dict[str, Any]:
        """Take one push message of ``device_id``'s recording of ``task``.

        Returns
        -------
        dict
            ``session_id``, ``frames`` (IMU frames this message completed),
            ``late_readings`` and ``repeated_messages`` (dropped so far, this recording).

        Raises
        ------
        DataError
            A message too large, too deeply nested, not JSON or not in Sensor Logger's
            schema (the reason names the field).
        ServiceError
            From opening the session (unknown procedure, too many sessions, ...).
        """
        message = parse_push(_decoded(body))
        key = (device_id, message.session_id)
        recording = self._recordings.get(key)
        session = None if recording is None else self.registry.sessions.get(recording.session_id)
        if recording is None or session is None or session.ended:
            await self._end_others(device_id, message.session_id)
            session = self.registry.open_session(device_id, task)
            recording = self._recordings[key] = _Recording(session.id)
            while len(self._recordings) > RECORDINGS_KEPT:
                self._recordings.popitem(last=False)
        self._recordings.move_to_end(key)
        frames = await self._feed(session, recording.assembler.add(message))
        assembler = recording.assembler
        return {
            "session_id": session.id,
            "frames": frames,
            "late_readings": assembler.late,
            "repeated_messages": assembler.repeated,
        }

    async def _feed(self, session: LiveSession, chunks: list[ImuSamples]) -> int:
        """IMU chunks into the session as IMU frames, as a watch's would go; how many
        frames were taken (one refused by the time checks, e.g. after a gap of more
        than an hour, is left out)."""
        batches = self.registry.batches
        taken = 0
        for chunk in chunks:
            for start in range(0, len(chunk.times), MAX_SAMPLES[FrameKind.IMU]):
                part = slice(start, start + MAX_SAMPLES[FrameKind.IMU])
                frame = SensorFrame(
                    FrameKind.IMU,
                    session.incoming.next_seq,
                    float(chunk.times[start]),
                    IMU_RATE_HZ,
                    chunk.values[part],
                )
                try:
                    batches.take_frame(session, frame, encode_frame(frame))
                except ProtocolError:
                    self.registry.counters["protocol_errors"] += 1
                    continue
                taken += 1
                while batches.behind(session):
                    await asyncio.sleep(0.01)
        return taken

    async def _end_others(self, device_id: str, keep: str) -> None:
        """End the device's other followed recordings' sessions (it started a new one),
        after the readings their assemblers still held."""
        for key in [k for k in self._recordings if k[0] == device_id and k[1] != keep]:
            recording = self._recordings.pop(key)
            session = self.registry.sessions.get(recording.session_id)
            if session is not None and not session.ended:
                await self._feed(session, recording.assembler.flush())
                await self.registry.end(session)


def _decoded(body: bytes) -> Any:
    """The JSON of a message body, refused before parsing when too large or too deep."""
    if len(body) > MAX_BODY_BYTES:
        raise DataError(f"message of {len(body)} bytes, at most {MAX_BODY_BYTES} taken")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError("message is not UTF-8 text") from None
    depth = nesting_depth(text)
    if depth > MAX_NESTING:
        raise DataError(f"message nests {depth} levels deep, at most {MAX_NESTING} allowed")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"message is not JSON ({error})") from None
