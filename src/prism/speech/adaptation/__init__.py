"""Training the decoder adapter of ``tiny.en-adapted`` (``prism train-asr``), offline.

- :mod:`~prism.speech.adaptation.adapt`: training sentences, spoken in kitchen noise and
  encoded by Whisper's own encoder, and the adapter's training and file.
- :mod:`~prism.speech.adaptation.whisper_decoder`: Whisper's decoder in torch, built from
  the CTranslate2 weights, with low-rank adapters. Import :class:`WhisperDecoder` from
  there: it needs torch, which importing this package does not load.

The run-time recognizer (:mod:`prism.speech`) never imports this subpackage; it merges a
trained adapter with :func:`prism.speech.models.merge_adapter`. See ``docs/speech.md``.
"""

from prism.speech.adaptation.adapt import (
    ADAPTATION_VOICES,
    AdaptationConfig,
    AdaptationResult,
    EncodedClips,
    adaptation_card,
    adaptation_clip,
    adaptation_text,
    encode_clips,
    save_adapter,
    split_clips,
    step_phrase,
    token_batch,
    train_adapter,
)

__all__ = [
    "ADAPTATION_VOICES",
    "AdaptationConfig",
    "AdaptationResult",
    "EncodedClips",
    "adaptation_card",
    "adaptation_clip",
    "adaptation_text",
    "encode_clips",
    "save_adapter",
    "split_clips",
    "step_phrase",
    "token_batch",
    "train_adapter",
]
