"""Text to speech with espeak-ng (a Debian package), for spoken answers and test questions.

espeak-ng runs as a subprocess (text on its standard input, a WAV file out), so nothing
is downloaded and nothing is linked; its 22.05 kHz output is resampled to the speech
package's 16 kHz with a polyphase filter (:func:`scipy.signal.resample_poly`).
Install it with ``apt-get install espeak-ng``.

Examples
--------
>>> audio, rate = synthesize("hello")
>>> rate, audio.dtype
(16000, dtype('float32'))
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile
from scipy import signal

from prism.speech.audio import SAMPLE_RATE_HZ, SpeechBackendError, SpeechInputError

__all__ = ["ESPEAK_PROGRAM", "espeak_available", "synthesize"]

ESPEAK_PROGRAM = "espeak-ng"
"""Name of the espeak-ng program looked up on ``PATH``."""

_TIMEOUT_S = 60.0
_MAX_TEXT_CHARS = 5_000


def espeak_available() -> bool:
    """Whether the espeak-ng program is on ``PATH``."""
    return shutil.which(ESPEAK_PROGRAM) is not None


def synthesize(
    text: str, *, voice: str = "en-us", speed_wpm: int = 160, pitch: int = 50
) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng and return the audio at 16 kHz.

    Parameters
    ----------
    text : str
        What to say (1 to 5000 characters, not only white space); read as plain text,
        never as options or markup.
    voice : str
        An espeak-ng voice, e.g. ``"en-us"``, ``"en-gb"``, ``"en-us+f3"`` (``espeak-ng
        --voices`` lists them).
    speed_wpm : int
        Speaking rate (words per minute, 80 to 450).
    pitch : int
        Base pitch (0 to 99; 50 is the voice's default).

    Returns
    -------
    audio : np.ndarray [shape=(n_samples,), float32, in [-1, 1]]
        Mono speech, with espeak-ng's short silences at both ends.
    sample_rate : int
        Always :data:`~prism.speech.audio.SAMPLE_RATE_HZ` (16000 Hz).

    Raises
    ------
    SpeechInputError
        On empty or too long text, or a rate or pitch out of range.
    SpeechBackendError
        If espeak-ng is not installed, rejects the voice or fails.
    """
    if not isinstance(text, str) or not text.strip():
        raise SpeechInputError(f"text must be a non-empty string, got {text!r}")
    if len(text) > _MAX_TEXT_CHARS:
        raise SpeechInputError(
            f"text must be at most {_MAX_TEXT_CHARS} characters, got {len(text)}"
        )
    for name, value, low, high in (("speed_wpm", speed_wpm, 80, 450), ("pitch", pitch, 0, 99)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SpeechInputError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    if not voice or not all(c.isalnum() or c in "-_+" for c in voice):
        raise SpeechInputError(
            f"voice must be an espeak-ng voice name such as 'en-us', got {voice!r}"
        )
    program = shutil.which(ESPEAK_PROGRAM)
    if program is None:
        raise SpeechBackendError(
            f"text to speech needs the program {ESPEAK_PROGRAM!r}, which is not on PATH; "
            "install it with: apt-get install espeak-ng"
        )
    raw, rate = _run_espeak(program, text, voice, speed_wpm, pitch)
    return _to_16k(raw, rate), SAMPLE_RATE_HZ


def _run_espeak(
    program: str, text: str, voice: str, speed_wpm: int, pitch: int
) -> tuple[np.ndarray, int]:
    """Run espeak-ng once; the text goes through stdin. Returns (float64 samples, rate)."""
    with tempfile.TemporaryDirectory(prefix="prism-tts-") as folder:
        path = Path(folder) / "speech.wav"
        command = [program, "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "-w", str(path)]
        try:
            done = subprocess.run(
                command,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SpeechBackendError(f"{ESPEAK_PROGRAM} could not run: {error}") from error
        message = done.stderr.decode("utf-8", "replace").strip()
        if done.returncode != 0 or not path.is_file() or path.stat().st_size <= 44:
            raise SpeechBackendError(
                f"{ESPEAK_PROGRAM} failed (exit code {done.returncode}) for voice {voice!r}: "
                f"{message or 'no audio written'}"
            )
        if message:  # espeak-ng reports an unknown voice on stderr but still exits 0
            raise SpeechBackendError(f"{ESPEAK_PROGRAM} reported a problem: {message}")
        samples, rate = soundfile.read(path, dtype="float64", always_2d=False)
    return np.asarray(samples, dtype=np.float64), int(rate)


def _to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample mono samples to 16 kHz (polyphase, anti-aliased) as float32 in [-1, 1]."""
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if rate != SAMPLE_RATE_HZ:
        ratio = Fraction(SAMPLE_RATE_HZ, rate)
        samples = np.asarray(signal.resample_poly(samples, ratio.numerator, ratio.denominator))
    out: np.ndarray = np.clip(samples, -1.0, 1.0).astype(np.float32)
    return out
