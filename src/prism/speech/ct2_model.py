"""Read and write CTranslate2 ``model.bin`` files (binary format version 6).

A thin I/O adapter: the file is a header (format version, model spec name, spec
revision), the named variables (shape, data type, raw little-endian bytes) and the
aliases (a variable stored once under two names, e.g. Whisper's tied output projection).
:func:`read_model_bin` returns them as numpy arrays; :func:`write_model_bin` writes them
back byte for byte (a read followed by a write reproduces the file exactly), so a
model's weights can be changed without CTranslate2's converters.

Why hand-written: CTranslate2 loads a ``model.bin`` for inference only; it has no public
API to read the weights out or to write changed ones back, and its converters start from
the original Transformers checkpoint (which would pull ``transformers`` and a second
copy of the weights from a hub, at run time). Merging the decoder adapter
(:func:`prism.speech.models.merge_adapter`) and building the training decoder
(:mod:`prism.speech.adaptation.whisper_decoder`) need exactly this: the format is small
(a header, named typed arrays, aliases) and a test checks that the packaged tiny.en
round-trips byte for byte.

Examples
--------
>>> model = read_model_bin(folder / "model.bin")  # doctest: +SKIP
>>> model.variables["decoder/layer_norm/gamma"].shape  # doctest: +SKIP
(384,)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prism.speech.audio import SpeechBackendError, SpeechInputError

__all__ = ["Ct2Model", "read_model_bin", "write_model_bin"]

_FORMAT_VERSION = 6
_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}
_TYPE_IDS = {dtype: type_id for type_id, dtype in _DTYPES.items()}


@dataclass
class Ct2Model:
    """The contents of a CTranslate2 ``model.bin``.

    Parameters
    ----------
    spec : str
        Model specification name, e.g. ``"WhisperSpec"``.
    revision : int
        Revision of that specification.
    variables : dict of str to np.ndarray
        Every stored variable in file order (weights, and scalars such as
        ``decoder/num_heads`` as 0-d arrays).
    aliases : list of (alias, variable name)
    """

    spec: str
    revision: int
    variables: dict[str, np.ndarray] = field(default_factory=dict)
    aliases: list[tuple[str, str]] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.offset = data, path, 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise SpeechBackendError(
                f"{self.path}: truncated CTranslate2 model (needed {size} bytes at offset "
                f"{self.offset}, the file has {len(self.data)})"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def number(self, fmt: str) -> int:
        value: int = struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]
        return value

    def string(self) -> str:
        size = self.number("H")
        return self.take(size)[:-1].decode("utf-8")


def read_model_bin(path: str | Path) -> Ct2Model:
    """Read a CTranslate2 ``model.bin``.

    Raises
    ------
    SpeechBackendError
        If the file is missing, truncated, of another format version or holds an
        unknown data type; the message names the file and the variable.
    """
    path = Path(path)
    try:
        reader = _Reader(path.read_bytes(), path)
    except OSError as error:
        raise SpeechBackendError(f"cannot read the CTranslate2 model {path}: {error}") from error
    version = reader.number("I")
    if version != _FORMAT_VERSION:
        raise SpeechBackendError(
            f"{path}: CTranslate2 model format version {version}, expected {_FORMAT_VERSION}"
        )
    model = Ct2Model(spec=reader.string(), revision=reader.number("I"))
    for _ in range(reader.number("I")):
        name = reader.string()
        shape = tuple(reader.number("I") for _ in range(reader.number("B")))
        type_id = reader.number("B")
        if type_id not in _DTYPES:
            raise SpeechBackendError(f"{path}: variable {name!r} has unknown data type {type_id}")
        raw = reader.take(reader.number("I"))
        dtype = _DTYPES[type_id]
        if len(raw) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise SpeechBackendError(
                f"{path}: variable {name!r} holds {len(raw)} bytes, not a {dtype} array "
                f"of shape {shape}"
            )
        model.variables[name] = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    for _ in range(reader.number("I")):
        alias = reader.string()
        model.aliases.append((alias, reader.string()))
    return model


def write_model_bin(model: Ct2Model, path: str | Path) -> None:
    """Write ``model`` as a CTranslate2 ``model.bin`` (format version 6).

    Raises
    ------
    SpeechInputError
        If a variable's data type cannot be stored (float32, float16, int8/16/32 can).
    """
    parts: list[bytes] = []

    def string(text: str) -> None:
        encoded = text.encode("utf-8") + b"\0"
        parts.append(struct.pack("<H", len(encoded)) + encoded)

    parts.append(struct.pack("<I", _FORMAT_VERSION))
    string(model.spec)
    parts.append(struct.pack("<II", model.revision, len(model.variables)))
    for name, value in model.variables.items():
        dtype = np.dtype(value.dtype).newbyteorder("<")
        if dtype not in _TYPE_IDS:
            raise SpeechInputError(f"variable {name!r}: cannot store data type {value.dtype}")
        string(name)
        parts.append(struct.pack("<B", value.ndim))
        parts.append(b"".join(struct.pack("<I", size) for size in value.shape))
        raw = np.ascontiguousarray(value, dtype=dtype).tobytes()
        parts.append(struct.pack("<BI", _TYPE_IDS[dtype], len(raw)) + raw)
    parts.append(struct.pack("<I", len(model.aliases)))
    for alias, name in model.aliases:
        string(alias)
        string(name)
    Path(path).write_bytes(b"".join(parts))
