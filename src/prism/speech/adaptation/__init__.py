"""Training the decoder adapter of ``tiny.en-adapted`` (``prism train-asr``), offline.

- :mod:`~prism.speech.adaptation.adapt`: training sentences, spoken in kitchen noise and
  encoded by Whisper's own encoder, and the adapter's training and file.
- :mod:`~prism.speech.adaptation.whisper_decoder`: Whisper's decoder in torch, built from
  the CTranslate2 weights, with low-rank adapters (it needs torch).

Import from those modules; this package re-exports nothing (its one user is the
``prism train-asr`` command).

The run-time recognizer (:mod:`prism.speech`) never imports this subpackage; it merges a
trained adapter with :func:`prism.speech.models.merge_adapter`. See ``docs/speech.md``.
"""
