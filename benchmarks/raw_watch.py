"""A watch client that may send anything: the hostile benchmark's end of a session WebSocket.

:class:`RawWatch` wraps one ``websockets`` connection to ``/v1/sessions/{id}/stream``
and keeps every message the server sent, in order, with the close code when the server
closed it. It does not check what it sends: raw frames (:func:`raw_frame`, any header
field) and any text go out as given. :class:`ProbeError` is how a probe says what it
expected and what happened instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection

from prism.protocol import HEADER, MAGIC, PROTOCOL_VERSION, FrameKind, SensorFrame, encode_frame

__all__ = ["ProbeError", "RawWatch", "audio_frame", "brief", "expect", "imu_frame", "raw_frame"]

SYNC = json.dumps({"type": "sync"})
"""A text frame no server accepts (no such type, no seq): its ``error`` reply marks the
point where the server has processed everything sent before it."""


class ProbeError(Exception):
    """A probe saw something other than what the protocol documents."""


def expect(condition: bool, expected: str, got: object) -> None:
    """Raise :class:`ProbeError` ("expected ..., got ...") unless ``condition``."""
    if not condition:
        raise ProbeError(f"expected {expected}, got {got}")


def raw_frame(
    kind: int,
    seq: int,
    t0: float,
    n: int,
    rate: float,
    payload: bytes,
    *,
    magic: bytes = MAGIC,
    version: int = PROTOCOL_VERSION,
) -> bytes:
    """A binary frame with exactly these header fields (unchecked) and payload."""
    return HEADER.pack(magic, version, kind, seq, t0, n, rate) + payload


def imu_frame(seq: int, t0: float, *, n: int = 10, rate: float = 50.0) -> bytes:
    """A valid IMU frame of ``n`` samples at rest (gravity on z)."""
    samples = np.zeros((n, 6), dtype=np.float32)
    samples[:, 2] = 9.81
    return encode_frame(SensorFrame(FrameKind.IMU, seq, t0, rate, samples))


def audio_frame(seq: int, t0: float, *, n: int = 3200) -> bytes:
    """A valid audio frame of ``n`` samples of silence (16 kHz)."""
    return encode_frame(SensorFrame(FrameKind.AUDIO, seq, t0, 16_000.0, np.zeros(n)))


class RawWatch:
    """One connection of a (possibly hostile) watch.

    Attributes
    ----------
    received : list of dict
        Every JSON message the server sent, in order (binary ones are left out).
    close_code : int or None
        The server's close code once the connection is closed.
    seq : int
        The next ``seq`` this watch means to use (set from ``welcome``).
    """

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.seq = 1
        self._read = 0
        """How many of ``received`` the waiting methods have looked at."""

    @classmethod
    async def open(cls, url: str, token: str | None) -> RawWatch:
        """Connect to ``url`` with the device ``token`` in the ``Authorization`` header
        (None: no token).

        Raises
        ------
        ProbeError
            If the server refuses the WebSocket handshake itself (an HTTP status).
        """
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            ws = await websockets.connect(
                url, additional_headers=headers, max_size=2**22, compression=None, open_timeout=5
            )
        except websockets.InvalidStatus as refused:
            raise ProbeError(
                f"expected the WebSocket accepted (then closed with a code if refused), "
                f"got HTTP {refused.response.status_code} at the handshake"
            ) from None
        return cls(ws)

    async def __aenter__(self) -> RawWatch:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close from this side (at most 2 s)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2.0)

    # ----------------------------------------------------------------- sending
    async def send(self, message: bytes | str | dict[str, Any]) -> None:
        """Send bytes, text, or a dict as JSON (nothing once the connection is closed:
        the methods that wait for an answer then say so)."""
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(json.dumps(message) if isinstance(message, dict) else message)

    async def hello(self, *, resume_from: int = 0, **fields: Any) -> dict[str, Any]:
        """Say hello; the ``welcome`` (this watch's ``seq`` goes on from its ``next_seq``).

        Raises
        ------
        ProbeError
            If the server answers otherwise or closes.
        """
        await self.send(
            {"type": "hello", "seq": 1, "protocol": 1, "resume_from": resume_from, **fields}
        )
        welcome = await self.next_of(("welcome", "error"), timeout_s=10.0)
        expect(
            welcome is not None and welcome["type"] == "welcome",
            "a welcome",
            welcome or self.closed_text(),
        )
        assert welcome is not None
        self.seq = int(welcome["next_seq"])
        return welcome

    async def stream(
        self, frames: Iterable[SensorFrame], *, ack_every: int = 0, ask_every: int = 0
    ) -> int:
        """Send ``frames`` numbered from :attr:`seq` on; with ``ack_every``, after every
        that many frames an ``ack`` of the newest message received; with ``ask_every``,
        after every that many frames a typed question. Returns the questions asked."""
        asked = 0
        for i, frame in enumerate(frames, start=1):
            seq = self.take_seq()
            await self.send(
                encode_frame(SensorFrame(frame.kind, seq, frame.t0, frame.rate, frame.samples))
            )
            if ack_every and i % ack_every == 0:
                newest = max((m.get("seq", 0) for m in self.received), default=0)
                await self.send({"type": "ack", "seq": self.take_seq(), "up_to": newest})
            if ask_every and i % ask_every == 0:
                question = {"type": "question", "text": "what's next?", "t": frame.end_s}
                await self.send({**question, "seq": self.take_seq()})
                asked += 1
        return asked

    async def answers(self, count: int, *, timeout_s: float) -> int:
        """Wait until ``count`` answers have come in all; how many did."""
        deadline = time.monotonic() + timeout_s
        while (
            sum(m.get("type") == "answer" for m in self.received) < count
            and time.monotonic() < deadline
            and await self._receive(deadline - time.monotonic()) is not None
        ):
            pass
        return sum(m.get("type") == "answer" for m in self.received)

    def take_seq(self) -> int:
        """The next ``seq`` (counted as used)."""
        self.seq += 1
        return self.seq - 1

    # ----------------------------------------------------------------- receiving
    async def _receive(self, timeout_s: float) -> dict[str, Any] | None:
        """The next JSON message (binary ones skipped); None when closed or on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.close_code is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                raw = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                return None
            except websockets.ConnectionClosed as closed:
                self.close_code = closed.rcvd.code if closed.rcvd else 1006
                self.close_reason = closed.rcvd.reason if closed.rcvd else ""
                return None
            if isinstance(raw, str):
                message: dict[str, Any] = json.loads(raw)
                self.received.append(message)
                return message
        return None

    async def next_of(
        self, types: tuple[str, ...], *, timeout_s: float = 5.0
    ) -> dict[str, Any] | None:
        """The first message not looked at yet whose ``type`` is one of ``types`` (those
        before it are kept in :attr:`received`); None if closed first or on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            while self._read < len(self.received):
                message = self.received[self._read]
                self._read += 1
                if message.get("type") in types:
                    return message
            if await self._receive(deadline - time.monotonic()) is None:
                return None

    async def error(self, *, after: str = "", timeout_s: float = 5.0) -> dict[str, Any]:
        """The next ``error`` message (``after``: what was sent, for the failure text).

        Raises
        ------
        ProbeError
            If the connection closes or none comes within ``timeout_s``.
        """
        found = await self.next_of(("error",), timeout_s=timeout_s)
        if found is None:
            got = "no error" if self.close_code is None else self.closed_text()
            raise ProbeError(f"expected an error{after} within {timeout_s:g} s, got {got}")
        return found

    async def expect_error(
        self, code: int, *, after: str = "", seq_free: int | None = None
    ) -> dict[str, Any]:
        """The next ``error`` must carry ``code`` and ``seq`` 0; with ``seq_free``, that
        sequence number must still be unused (:meth:`seq_is_free`). ``after``: what was
        sent, for the failure text (" after a kind-4 frame").

        Raises
        ------
        ProbeError
            Naming what came instead.
        """
        found = await self.error(after=after)
        expect(found["code"] == code, f"error {code}{after}", brief(found))
        expect(found.get("seq") == 0, f"error {code}{after} with seq 0", brief(found))
        if seq_free is not None:
            await self.seq_is_free(seq_free)
        return found

    async def seq_is_free(self, seq: int) -> None:
        """Check that the server has not used up ``seq``: an ``ack`` numbered ``seq``
        is accepted without any error (a used number gets 4004, a skipped one 4003).

        Raises
        ------
        ProbeError
            If the ack draws an error.
        """
        await self.send({"type": "ack", "seq": seq, "up_to": 0})
        errors = [m for m in await self.sync() if m.get("type") == "error"]
        expect(
            not errors,
            f"seq {seq} still free (an ack with it accepted)",
            [brief(e) for e in errors],
        )
        self.seq = seq + 1

    async def sync(self, *, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the server has processed everything sent so far; the messages that
        came meanwhile (without the sync's own reply).

        Raises
        ------
        ProbeError
            If the connection closes or the server does not answer within ``timeout_s``.
        """
        start = self._read
        await self.send(SYNC)
        while True:
            found = await self.next_of(("error",), timeout_s=timeout_s)
            expect(
                found is not None,
                f"the server to answer within {timeout_s:g} s",
                self.closed_text(),
            )
            assert found is not None
            if found["code"] == 4000 and not found.get("ref_seq"):
                index = self._read - 1
                del self.received[index]
                self._read = index
                return self.received[start:index]

    async def closed(self, *, timeout_s: float) -> int | None:
        """Read until the server closes; its close code (None if still open)."""
        deadline = time.monotonic() + timeout_s
        while self.close_code is None and time.monotonic() < deadline:
            await self._receive(deadline - time.monotonic())
        self._read = len(self.received)
        return self.close_code

    def closed_text(self) -> str:
        """``"closed with CODE (reason)"`` or ``"nothing"``: for failure messages."""
        if self.close_code is None:
            return "nothing"
        return f"the connection closed with {self.close_code} ({self.close_reason!r})"

    def errors(self) -> list[dict[str, Any]]:
        """Every ``error`` received so far."""
        return [m for m in self.received if m.get("type") == "error"]


def brief(message: dict[str, Any]) -> str:
    """An error message, short enough for a report line."""
    return f"{message.get('code')} seq={message.get('seq')} {str(message.get('message'))[:100]!r}"
