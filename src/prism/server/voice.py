"""How the service hears spoken questions and speaks answers to a watch.

The recogniser and the synthesiser are handed in by the app (the speech package loads
its models on first use), so connections stay free of speech set-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from prism.errors import PrismError
from prism.procedure.model import Procedure
from prism.protocol import FrameKind, SensorFrame, encode_frame

__all__ = ["Voice"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Voice:
    """The service's ears and mouth (both slow: call them on a worker thread).

    Attributes
    ----------
    transcribe : callable
        ``transcribe(audio, procedure)``: the words of a spoken question (16 kHz mono
        float audio), "" if none (see :func:`~prism.server.runtime.transcribe_question`).
    synthesize : callable
        ``synthesize(text)``: the text spoken, ``(audio, rate)`` (mono float audio, Hz);
        raises a :class:`~prism.errors.PrismError` when it cannot speak.
    """

    transcribe: Callable[[np.ndarray, Procedure], str]
    synthesize: Callable[[str], tuple[np.ndarray, int]]

    def speak(self, message: dict[str, Any]) -> bytes | None:
        """An answer message's text spoken as an ``ANSWER_AUDIO`` frame numbered like the
        message; ``None`` when it cannot be spoken (espeak-ng missing or failing: the text
        answer stands)."""
        try:
            audio, rate = self.synthesize(str(message["text"]))
        except PrismError as problem:
            log.warning("answer %s not spoken: %s", message["seq"], problem)
            return None
        t = max(0.0, float(message.get("t", 0.0)))
        frame = SensorFrame(FrameKind.ANSWER_AUDIO, int(message["seq"]), t, float(rate), audio)
        return encode_frame(frame)
