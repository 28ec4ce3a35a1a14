"""Adapting Whisper's decoder to what users say to a task assistant (LoRA, offline).

Whisper tiny.en knows English but not this domain: short questions about a procedure's
steps ("have I tamped the coffee", "how do I purge the wand"). Its decoder is the part
that holds that prior, so this module adapts the decoder alone, with low-rank adapters
(:meth:`~prism.speech.adaptation.whisper_decoder.WhisperDecoder.add_adapters`), on
spoken sentences the project makes itself:

1. text (:func:`adaptation_text`): the sentence patterns users say to the assistant
   (:data:`~prism.speech.question_lm.QUESTION_PATTERNS`) filled with the
   step names of every procedure in ``tasks/``, questions in people's own words about
   the things each procedure handles (:mod:`~prism.speech.free_phrasing`), and
   sentences of the steps' descriptions;
2. speech (:func:`adaptation_clip`): espeak-ng with :data:`ADAPTATION_VOICES`, none of
   which ``prism eval asr`` speaks with, at random rates and pitches, padded like a
   detected utterance, in procedural kitchen noise at 5-25 dB SNR (a share clean), then
   through the adapter's front end (:attr:`AdaptationConfig.front_end`, spectral
   subtraction by default), which the model card records and recognition with the
   adapter applies too;
3. encoder output (:func:`encode_clips`): CTranslate2's own int8 encoder, exactly what
   the decoder sees at run time, and the same prompt (step names, then typical
   questions) recognition passes;
4. training (:func:`train_adapter`): cross-entropy on the text tokens, AdamW with a
   warm-up and a linear decay, the adapters of the epoch with the lowest validation loss
   kept.

The encoder, the token embeddings (also the output layer) and the decoder's own weights
stay fixed, so the adapted model keeps Whisper's acoustics and vocabulary. The adapter
(:func:`save_adapter`, ``adapter.npz``, about 1.1 MB) is merged into the packaged
tiny.en weights when a recognizer first loads it
(:func:`~prism.speech.models.model_directory`, :func:`~prism.speech.models.merge_adapter`).
``prism train-asr`` runs it all; see ``docs/speech.md``.

This subpackage sits above the run-time recognizer: it uses its encoder, prompt and
noise suppression, and nothing at run time imports it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prism.data.synth.kitchen import kitchen_noise
from prism.data.synth.mixing import mix_at_snr
from prism.procedure.model import Procedure
from prism.speech.asr import encode_audio, load_whisper, prompt_tokens
from prism.speech.audio import SAMPLE_RATE_HZ, SpeechInputError
from prism.speech.denoise import FrontEnd
from prism.speech.free_phrasing import free_questions
from prism.speech.models import ADAPTER_FILE, MODEL_CARD_FILE
from prism.speech.prompt import vocabulary_prompt
from prism.speech.question_lm import QUESTION_PATTERNS
from prism.speech.tts import synthesize

if TYPE_CHECKING:
    import torch

    from prism.speech.adaptation.whisper_decoder import WhisperDecoder

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

ADAPTATION_VOICES = (
    "en-us+m2",
    "en-us+m4",
    "en-us+m5",
    "en-us+m6",
    "en-us+m7",
    "en-us+f1",
    "en-us+f2",
    "en-us+f4",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb+m2",
    "en-gb+f2",
    "en-us+klatt",
    "en-us+klatt2",
)
"""espeak-ng voices the training sentences are spoken with: variants of the American,
British, Scottish and Caribbean voices; none of them is one ``prism eval asr`` uses."""

_IGNORE = -100  # label of tokens the loss skips (the prompt, padding)
_ARTICLES = frozenset(
    {"the", "a", "an", "some", "your", "my", "it", "this", "that", "in", "on", "to", "of"}
    | {"with", "and", "up", "out", "off", "into"}
)
_QUESTION_START = re.compile(
    r"(what|where|which|how|did|have|am|is|are|when|why|should|can|do|does|and|then|"
    r"okay what|anything)\b"
)


@dataclass(frozen=True)
class AdaptationConfig:
    """How the adaptation data is made and the adapter trained.

    Parameters
    ----------
    n_clips : int
        Spoken sentences to make (training and validation together).
    validation_share : float
        Share of them held out to pick the best epoch.
    voices : tuple of str
        espeak-ng voices, drawn per sentence.
    speeds_wpm, pitches : tuple of (int, int)
        Ranges (inclusive) of the speaking rate (words per minute) and espeak pitch.
    snr_db : tuple of (float, float)
        Range of the speech-to-noise ratio (dB) of the noisy clips.
    clean_share : float
        Share of clips without noise.
    description_share : float
        Share of sentences taken from step descriptions instead of question patterns.
    free_share : float
        Share of sentences in people's own words
        (:func:`~prism.speech.free_phrasing.free_questions`) instead of question patterns.
    rank : int
        Rank of the low-rank adapters.
    learning_rate : float
        AdamW's peak learning rate.
    epochs, batch_size : int
        Passes over the training clips and clips per step.
    seed : int
        Every random choice (text, voice, noise, initialisation, order).
    cpu_threads : int
        Threads for CTranslate2 and torch.
    front_end : FrontEnd
        What is done to each clip before it is encoded; it becomes part of the adapted
        model (the model card's ``front_end``), so recognition does the same.
    """

    n_clips: int = 2800
    validation_share: float = 0.07
    voices: tuple[str, ...] = ADAPTATION_VOICES
    speeds_wpm: tuple[int, int] = (130, 210)
    pitches: tuple[int, int] = (30, 70)
    snr_db: tuple[float, float] = (5.0, 25.0)
    clean_share: float = 0.15
    description_share: float = 0.2
    free_share: float = 0.0
    rank: int = 8
    learning_rate: float = 1e-3
    epochs: int = 3
    batch_size: int = 16
    seed: int = 0
    cpu_threads: int = 2
    front_end: FrontEnd = field(default_factory=FrontEnd)

    def __post_init__(self) -> None:
        problems = []
        if self.n_clips < 2:
            problems.append(f"n_clips must be >= 2, got {self.n_clips}")
        for name in ("validation_share", "clean_share", "description_share", "free_share"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.description_share + self.free_share >= 1.0:
            problems.append(
                "description_share + free_share must be < 1 (the rest are question patterns), "
                f"got {self.description_share} + {self.free_share}"
            )
        for name in ("rank", "epochs", "batch_size", "cpu_threads"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.voices:
            problems.append("voices must not be empty")
        if not self.learning_rate > 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if problems:
            raise SpeechInputError("invalid AdaptationConfig: " + "; ".join(problems))


# ---------------------------------------------------------------- text and speech


def step_phrase(name: str, rng: np.random.Generator) -> str:
    """A step name as said in a sentence: lower case, half the time with "the" after the
    verb when the name has no article ("Purge wand" -> "purge wand" or "purge the wand")."""
    words = name.lower().split()
    if len(words) >= 2 and words[1] not in _ARTICLES and rng.random() < 0.5:
        words = [words[0], "the", *words[1:]]
    return " ".join(words)


def _description_sentences(procedure: Procedure) -> list[str]:
    sentences = (
        part.strip()
        for step in procedure.steps
        for part in re.split(r"(?<=[.!?])\s+|;\s+", step.description or "")
    )
    return [sentence for sentence in sentences if 3 <= len(sentence.split()) <= 20]


def adaptation_text(
    procedure: Procedure,
    rng: np.random.Generator,
    description_share: float = 0.2,
    free_share: float = 0.0,
    free: Sequence[str] | None = None,
) -> str:
    """One sentence a user might say during ``procedure``, capitalised and punctuated.

    With probability ``description_share`` a sentence of a step's description, with
    probability ``free_share`` a question in people's own words about the procedure
    (:func:`~prism.speech.free_phrasing.free_questions`), else a question pattern
    filled with one of the procedure's steps (:func:`step_phrase`). ``free``: those
    questions if made already (they are made here otherwise).
    """
    descriptions = _description_sentences(procedure)
    draw = rng.random()
    if descriptions and draw < description_share:
        text = descriptions[int(rng.integers(len(descriptions)))]
    elif draw < description_share + free_share:
        free = free_questions(procedure) if free is None else free
        text = free[int(rng.integers(len(free)))]
    else:
        pattern = QUESTION_PATTERNS[int(rng.integers(len(QUESTION_PATTERNS)))]
        step = procedure.steps[int(rng.integers(len(procedure.steps)))]
        text = pattern.replace("{step}", step_phrase(step.name, rng))
    text = text[0].upper() + text[1:]
    if not text.endswith((".", "?", "!")):
        text += "?" if _QUESTION_START.match(text.lower()) else "."
    return text


def adaptation_clip(
    text: str, rng: np.random.Generator, config: AdaptationConfig
) -> tuple[np.ndarray, str]:
    """``text`` spoken by a random voice, padded and in noise, then through
    ``config.front_end`` (noise suppression by default).

    Returns
    -------
    audio : np.ndarray [shape=(n_samples,), float32, 16 kHz]
        0.05-0.4 s before and 0.1-0.5 s after the speech (what voice activity
        detection keeps), through the front end recognition with the adapter applies.
    voice : str
    """
    voice = config.voices[int(rng.integers(len(config.voices)))]
    speech, _ = synthesize(
        text,
        voice=voice,
        speed_wpm=int(rng.integers(config.speeds_wpm[0], config.speeds_wpm[1] + 1)),
        pitch=int(rng.integers(config.pitches[0], config.pitches[1] + 1)),
    )
    lead = round(rng.uniform(0.05, 0.4) * SAMPLE_RATE_HZ)
    tail = round(rng.uniform(0.1, 0.5) * SAMPLE_RATE_HZ)
    audio = np.concatenate([np.zeros(lead), speech, np.zeros(tail)]).astype(np.float32)
    if rng.random() >= config.clean_share:
        noise = kitchen_noise(audio.size / SAMPLE_RATE_HZ, rng)[: audio.size]
        audio, _ = mix_at_snr(audio, noise, float(rng.uniform(*config.snr_db)), over="active")
    return config.front_end(audio.astype(np.float32)), voice


# ---------------------------------------------------------------- encoded clips


@dataclass
class EncodedClips:
    """Spoken sentences as the decoder sees them.

    Attributes
    ----------
    encoded : np.ndarray [shape=(n_clips, n_frames, width), float16]
        Whisper's encoder output (1500 frames of 384 for tiny.en).
    prefixes : list of list of int
        The tokens before the text: previous-text marker, prompt, start of transcript,
        no timestamps.
    targets : list of list of int
        The text's tokens, then end of text.
    texts : list of str
    voices : list of str
    """

    encoded: np.ndarray
    prefixes: list[list[int]] = field(default_factory=list)
    targets: list[list[int]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)


def encode_clips(
    procedures: Sequence[Procedure],
    config: AdaptationConfig,
    *,
    model_folder: Path,
    progress: Callable[[int, int], None] | None = None,
) -> EncodedClips:
    """Make ``config.n_clips`` spoken sentences over ``procedures`` and encode them.

    Parameters
    ----------
    procedures : sequence of Procedure
        Drawn uniformly per sentence; the prompt is built from the drawn one's steps.
    model_folder : Path
        The CTranslate2 Whisper model whose encoder (int8) and tokenizer are used.
    progress : callable or None
        Called with (clips done, clips in all).
    """
    if not procedures:
        raise SpeechInputError("encode_clips needs at least one procedure")
    rng = np.random.default_rng(config.seed)
    model = load_whisper(model_folder, "int8", config.cpu_threads)
    # the prompt tokens depend on the procedure only: once each, not once per clip
    prefixes = [
        prompt_tokens(model, vocabulary_prompt([step.name for step in procedure.steps]))
        for procedure in procedures
    ]
    free = [free_questions(procedure) for procedure in procedures]
    clips: EncodedClips | None = None
    for index in range(config.n_clips):
        drawn = int(rng.integers(len(procedures)))
        procedure = procedures[drawn]
        text = adaptation_text(
            procedure, rng, config.description_share, config.free_share, free[drawn]
        )
        audio, voice = adaptation_clip(text, rng, config)
        encoded = encode_audio(model, audio)[0].astype(np.float16)
        if clips is None:
            clips = EncodedClips(np.zeros((config.n_clips, *encoded.shape), np.float16))
        clips.encoded[index] = encoded
        prefix, tokenizer = prefixes[drawn]
        clips.prefixes.append(prefix)
        clips.targets.append([*tokenizer.encode(" " + text), tokenizer.eot])
        clips.texts.append(text)
        clips.voices.append(voice)
        if progress is not None:
            progress(index + 1, config.n_clips)
    assert clips is not None
    return clips


# ---------------------------------------------------------------- training


def token_batch(
    prefixes: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], pad: int
) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forcing inputs and labels of a batch (the loss covers the text only).

    Parameters
    ----------
    prefixes, targets : sequences of token lists
        Per clip, the tokens before the text and the text's tokens (ending with end of
        text).
    pad : int
        Token that fills short rows of ``inputs`` (its position is never a label).

    Returns
    -------
    inputs : np.ndarray [shape=(batch, n_tokens), int64]
        ``prefix + target`` without its last token, right-padded.
    labels : np.ndarray [shape=(batch, n_tokens), int64]
        The next token where it is a text token, -100 elsewhere.

    Raises
    ------
    SpeechInputError
        If the lists differ in length or are empty.
    """
    if len(prefixes) != len(targets) or not prefixes:
        raise SpeechInputError("token_batch needs as many prefixes as targets, at least one")
    width = max(len(p) + len(t) for p, t in zip(prefixes, targets, strict=True)) - 1
    inputs = np.full((len(prefixes), width), pad, np.int64)
    labels = np.full((len(prefixes), width), _IGNORE, np.int64)
    for row, (prefix, target) in enumerate(zip(prefixes, targets, strict=True)):
        sequence = [*prefix, *target]
        inputs[row, : len(sequence) - 1] = sequence[:-1]
        labels[row, len(prefix) - 1 : len(sequence) - 1] = target
    return inputs, labels


@dataclass
class AdaptationResult:
    """What training did.

    Attributes
    ----------
    validation_loss : list of float
        Mean cross-entropy per text token (nats) on the held-out clips: before training,
        then after each epoch.
    best_epoch : int
        The epoch whose adapters were kept (0: none helped, the adapters are zero).
    train_seconds : float
    """

    validation_loss: list[float]
    best_epoch: int
    train_seconds: float


def _loss(
    decoder: WhisperDecoder, clips: EncodedClips, indices: Sequence[int], pad: int
) -> tuple[torch.Tensor, int]:
    import torch
    import torch.nn.functional as F  # noqa: N812

    inputs, labels = token_batch(
        [clips.prefixes[i] for i in indices], [clips.targets[i] for i in indices], pad
    )
    encoded = torch.from_numpy(np.asarray(clips.encoded[list(indices)], np.float32))
    hidden = decoder.hidden(torch.from_numpy(inputs), encoded)
    labelled = torch.from_numpy(labels != _IGNORE)
    # only the text positions go through the output layer (the prompt is most tokens)
    logits = decoder.logits(hidden[labelled])
    loss = F.cross_entropy(logits, torch.from_numpy(labels)[labelled])
    return loss, int(labelled.sum())


def _validation_loss(
    decoder: WhisperDecoder, clips: EncodedClips, indices: Sequence[int], pad: int
) -> float:
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(indices), 32):
            loss, n = _loss(decoder, clips, indices[start : start + 32], pad)
            total, count = total + float(loss) * n, count + n
    return total / max(count, 1)


def split_clips(n_clips: int, validation_share: float, seed: int) -> tuple[list[int], list[int]]:
    """Training and validation clip indices (each sorted): a seeded random
    ``validation_share`` of the clips (at least one) is held out."""
    n_validation = min(n_clips - 1, max(1, round(validation_share * n_clips)))
    order = np.random.default_rng(seed).permutation(n_clips)
    return sorted(order[n_validation:].tolist()), sorted(order[:n_validation].tolist())


def train_adapter(
    decoder: WhisperDecoder,
    clips: EncodedClips,
    train: Sequence[int],
    validation: Sequence[int],
    config: AdaptationConfig,
    *,
    pad: int,
    progress: Callable[[int, int, float], None] | None = None,
) -> AdaptationResult:
    """Add adapters of ``config.rank`` to ``decoder`` and train them (in place).

    Parameters
    ----------
    clips : EncodedClips
    train, validation : sequences of int
        Indices of the clips to train on and of those that pick the best epoch
        (:func:`split_clips`).
    pad : int
        A padding token (e.g. end of text).
    progress : callable or None
        Called after each step with (step, steps, training loss).
    """
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.cpu_threads)
    decoder.requires_grad_(False)
    adapters = decoder.add_adapters(config.rank)
    parameters = list(adapters.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.0)
    per_epoch = max(1, len(train) // config.batch_size)
    total = config.epochs * per_epoch
    warm_up = max(1, total // 25)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warm_up) * max(0.0, 1.0 - step / total)
    )
    rng = np.random.default_rng(config.seed)
    started = time.perf_counter()
    losses = [_validation_loss(decoder, clips, validation, pad)]
    best = {name: value.detach().clone() for name, value in adapters.items()}
    best_epoch, step = 0, 0
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(len(train))
        for batch in range(per_epoch):
            positions = sorted(order[batch * config.batch_size : (batch + 1) * config.batch_size])
            loss, _ = _loss(decoder, clips, [train[p] for p in positions], pad)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            if progress is not None:
                progress(step, total, loss.item())
        losses.append(_validation_loss(decoder, clips, validation, pad))
        if losses[-1] < min(losses[:-1]):
            best_epoch = epoch
            best = {name: value.detach().clone() for name, value in adapters.items()}
    with torch.no_grad():
        for name, value in best.items():
            adapters[name].copy_(value)
    return AdaptationResult(losses, best_epoch, time.perf_counter() - started)


# ---------------------------------------------------------------- the adapter file


def save_adapter(decoder: WhisperDecoder, folder: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Write the decoder's adapters (``adapter.npz``, float32) and ``model_card.json``
    (which must hold the adapter's ``front_end``: :func:`adaptation_card`).

    Returns the card as written: ``card`` plus ``adapter_sha256``.

    Raises
    ------
    SpeechInputError
        If the decoder has no adapters or the card no ``front_end``.
    """
    if decoder.adapters is None:
        raise SpeechInputError("the decoder has no adapters to save (add_adapters, train_adapter)")
    if "front_end" not in card:
        raise SpeechInputError(
            "the adapter's model card needs its front_end (adaptation_card writes it): "
            "recognition applies it to the audio as training did"
        )
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        name.replace("__", "/"): value.detach().numpy().astype(np.float32)
        for name, value in decoder.adapters.items()
    }
    arrays["scale"] = np.float32(decoder.adapter_scale)
    path = folder / ADAPTER_FILE
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    card = {**card, "adapter_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (folder / MODEL_CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    return card


def adaptation_card(
    config: AdaptationConfig, result: AdaptationResult, clips: EncodedClips, base_model: str
) -> dict[str, Any]:
    """The model card of an adapter: settings, data, validation losses, and the front end
    recognition with it must apply (``front_end``, read by
    :func:`prism.speech.models.adapter_front_end`)."""
    return {
        "base_model": base_model,
        "front_end": config.front_end.to_dict(),
        "config": asdict(config),
        "n_clips": len(clips.texts),
        "voices": sorted(set(clips.voices)),
        "validation_loss": result.validation_loss,
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.train_seconds, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
