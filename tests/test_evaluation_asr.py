"""Tests for the spoken-question evaluation's audio (the scoring runs in test_cli_eval_asr)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from prism.evaluation.asr import SpokenQuestionConfig, spoken_question
from prism.speech import espeak_available

pytestmark = pytest.mark.skipif(
    not espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


def test_the_first_spoken_questions_are_the_audio_they_were() -> None:
    """Pinned before kitchen noise and its mixing moved to prism.data.synth (one
    ``mix_at_snr`` for the generator and the speech path): the same samples, seed 0."""
    config = SpokenQuestionConfig()
    rng = np.random.default_rng(config.seed)
    expected = [
        ("what am I doing right now?", "7966e1fd20f8303d", 2.32, 16.369616873214543),
        ("where am I", "3a76183d78f84cc9", 1.4, 15.129957390886934),
        ("which step is this", "05db15a6a039b214", 1.8, 15.469607783283713),
    ]
    for index, (question, digest, speech_end_s, snr_db) in enumerate(expected):
        audio, end_s, snr = spoken_question(question, index, config, rng)
        assert audio.dtype == np.float32
        assert hashlib.sha256(audio.tobytes()).hexdigest()[:16] == digest
        assert (end_s, snr) == (speech_end_s, snr_db)
