"""Spoken answers: an answer's text as an ANSWER_AUDIO frame numbered like the message, or
nothing when the synthesiser cannot speak."""

from __future__ import annotations

import numpy as np

from prism.errors import PrismError
from prism.procedure.model import Procedure
from prism.protocol import FrameKind, decode_frame
from prism.server.voice import Voice


def _deaf(audio: np.ndarray, procedure: Procedure) -> str:
    return ""


def test_an_answer_is_spoken_as_a_frame_numbered_like_its_message() -> None:
    said: list[str] = []

    def synthesize(text: str) -> tuple[np.ndarray, int]:
        said.append(text)
        return np.full(1600, 0.25, np.float32), 16_000

    frame = Voice(_deaf, synthesize).speak({"type": "answer", "seq": 7, "t": 3.5, "text": "Go on"})
    assert frame is not None and said == ["Go on"]
    decoded = decode_frame(frame)
    assert (decoded.kind, decoded.seq, decoded.t0, decoded.rate) == (
        FrameKind.ANSWER_AUDIO,
        7,
        3.5,
        16_000.0,
    )
    np.testing.assert_allclose(decoded.samples, 0.25)


def test_an_answer_that_cannot_be_spoken_stays_text_only() -> None:
    def mute(text: str) -> tuple[np.ndarray, int]:
        raise PrismError("espeak-ng is not installed")

    assert Voice(_deaf, mute).speak({"type": "answer", "seq": 2, "text": "Go on"}) is None
