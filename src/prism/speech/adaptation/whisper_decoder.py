"""Whisper's text decoder in torch, built from (and written back to) CTranslate2 weights.

Only the decoder: the encoder output comes from CTranslate2 itself (the same int8
encoder that recognition uses), so the decoder can be trained on exactly what it sees at
run time (:mod:`~prism.speech.adaptation.adapt`). The layout is CTranslate2's
``WhisperSpec``: pre-norm layers of masked self-attention (fused query/key/value),
cross-attention on the encoder output (query, fused key/value) and a GELU feed-forward
block, a final layer norm and an output projection tied to the token embeddings.

Why hand-written: training the adapter needs gradients through the decoder, and
CTranslate2 only runs inference. The reference implementations (``openai-whisper``,
``transformers``) would bring large dependencies and their own checkpoint layout, so the
weights would differ from the int8 model recognition runs; this module reads the very
weights recognition uses, by their CTranslate2 names, and a test checks that its greedy
decoding equals CTranslate2's token for token.

Shapes: ``tokens`` [batch, n_tokens] (int64), ``encoded`` [batch, n_frames, width]
(float32, n_frames = 1500 for a 30 s window), logits [batch, n_tokens, vocabulary].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from prism.speech.audio import SpeechBackendError, SpeechInputError

__all__ = ["WhisperDecoder"]

_PREFIX = "decoder/"
_LAYER_VARIABLES = (
    "self_attention/layer_norm/gamma",
    "self_attention/layer_norm/beta",
    "self_attention/linear_0/weight",
    "self_attention/linear_0/bias",
    "self_attention/linear_1/weight",
    "self_attention/linear_1/bias",
    "attention/layer_norm/gamma",
    "attention/layer_norm/beta",
    "attention/linear_0/weight",
    "attention/linear_0/bias",
    "attention/linear_1/weight",
    "attention/linear_1/bias",
    "attention/linear_2/weight",
    "attention/linear_2/bias",
    "ffn/layer_norm/gamma",
    "ffn/layer_norm/beta",
    "ffn/linear_0/weight",
    "ffn/linear_0/bias",
    "ffn/linear_1/weight",
    "ffn/linear_1/bias",
)


def _key(name: str) -> str:
    return name.replace("/", "__")


class WhisperDecoder(nn.Module):
    """Whisper's decoder with CTranslate2's variable names.

    Parameters
    ----------
    variables : dict of str to np.ndarray
        A ``WhisperSpec`` model's variables (:func:`~prism.speech.ct2_model.
        read_model_bin`); only those under ``decoder/`` are used.

    Raises
    ------
    SpeechBackendError
        If a decoder variable is missing.
    """

    def __init__(self, variables: dict[str, np.ndarray]) -> None:
        super().__init__()
        n_layers = 0
        while f"{_PREFIX}layer_{n_layers}/ffn/linear_0/weight" in variables:
            n_layers += 1
        names = [
            "embeddings/weight",
            "position_encodings/encodings",
            "layer_norm/gamma",
            "layer_norm/beta",
            *(f"layer_{i}/{v}" for i in range(n_layers) for v in _LAYER_VARIABLES),
        ]
        missing = [name for name in names if _PREFIX + name not in variables]
        if missing or n_layers == 0:
            raise SpeechBackendError(
                "not a Whisper decoder: missing variables "
                + ", ".join(_PREFIX + name for name in (missing or ["layer_0/..."])[:5])
            )
        self.n_layers = n_layers
        self.n_heads = int(variables.get(f"{_PREFIX}num_heads", np.array(6)))
        self.adapters: nn.ParameterDict | None = None  # see add_adapters
        self.adapter_scale = 1.0
        self.weights = nn.ParameterDict(
            {
                _key(name): nn.Parameter(
                    torch.from_numpy(np.asarray(variables[_PREFIX + name], np.float32))
                )
                for name in names
            }
        )

    def trainable_names(self) -> list[str]:
        """The ct2 names (without ``decoder/``) of the layer weights and the final norm.

        The token embeddings (also the output projection) and position encodings are
        left out: adapting them would change every word's prior, not the phrasing.
        """
        frozen = {_key("embeddings/weight"), _key("position_encodings/encodings")}
        return [name.replace("__", "/") for name in self.weights if name not in frozen]

    def add_adapters(self, rank: int, scale: float = 1.0) -> nn.ParameterDict:
        """Add a low-rank adapter (LoRA) to every linear layer of every decoder layer.

        Each weight ``W`` [out, in] is used as ``W + scale * B @ A`` with ``A`` [rank, in]
        (small random) and ``B`` [out, rank] (zeros, so the decoder starts unchanged).
        Only ``A`` and ``B`` are meant to be trained; returns them (also :attr:`adapters`).

        Raises
        ------
        SpeechInputError
            If ``rank`` is below 1.
        """
        if rank < 1:
            raise SpeechInputError(f"rank must be >= 1, got {rank}")
        generator = torch.Generator().manual_seed(0)
        self.adapter_scale = scale
        adapters = nn.ParameterDict()
        self.adapters = adapters
        for name in self.weights:
            weight = self.weights[name]
            if name.startswith("layer_") and name.endswith("__weight") and weight.ndim == 2:
                out_features, in_features = weight.shape
                base = name.removesuffix("__weight")
                adapters[f"{base}__lora_a"] = nn.Parameter(
                    torch.randn(rank, in_features, generator=generator) / in_features**0.5
                )
                adapters[f"{base}__lora_b"] = nn.Parameter(torch.zeros(out_features, rank))
        return adapters

    def _w(self, name: str) -> torch.Tensor:
        weight: torch.Tensor = self.weights[_key(name)]
        adapters = self.adapters
        if adapters is not None and name.endswith("/weight"):
            base = _key(name.removesuffix("/weight"))
            if f"{base}__lora_a" in adapters:
                delta: torch.Tensor = adapters[f"{base}__lora_b"] @ adapters[f"{base}__lora_a"]
                return weight + self.adapter_scale * delta
        return weight

    def merged_variables(self) -> dict[str, np.ndarray]:
        """The decoder's layer weights with the adapters added, by ct2 name (float32)."""
        with torch.no_grad():
            return {
                _PREFIX + name: self._w(name).numpy().astype(np.float32)
                for name in self.trainable_names()
            }

    def _attention(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, causal: bool
    ) -> torch.Tensor:
        batch, n_query, width = query.shape
        n_key = key.shape[1]
        head = width // self.n_heads

        def split(x: torch.Tensor, n: int) -> torch.Tensor:
            return x.view(batch, n, self.n_heads, head).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            split(query, n_query), split(key, n_key), split(value, n_key), is_causal=causal
        )
        return out.transpose(1, 2).reshape(batch, n_query, width)

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self._w(f"{name}/gamma"), self._w(f"{name}/beta"))

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self._w(f"{name}/weight"), self._w(f"{name}/bias"))

    def forward(self, tokens: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """Next-token logits at every position (:meth:`hidden`, then :meth:`logits`).

        Parameters
        ----------
        tokens : torch.Tensor [shape=(batch, n_tokens), int64]
        encoded : torch.Tensor [shape=(batch, n_frames, width), float32]

        Returns
        -------
        torch.Tensor [shape=(batch, n_tokens, vocabulary), float32]
        """
        return self.logits(self.hidden(tokens, encoded))

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Token logits from final states: [..., width] -> [..., vocabulary]."""
        return hidden @ self._w("embeddings/weight").T

    def hidden(self, tokens: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """The decoder's final (normalised) state at every position.

        Parameters
        ----------
        tokens : torch.Tensor [shape=(batch, n_tokens), int64]
            At most 448 tokens (Whisper's text context).
        encoded : torch.Tensor [shape=(batch, n_frames, width), float32]
            The encoder output.

        Returns
        -------
        torch.Tensor [shape=(batch, n_tokens, width), float32]
        """
        width = encoded.shape[-1]
        x = (
            self._w("embeddings/weight")[tokens]
            + self._w("position_encodings/encodings")[: tokens.shape[1]]
        )
        for i in range(self.n_layers):
            layer = f"layer_{i}"
            h = self._norm(x, f"{layer}/self_attention/layer_norm")
            q, k, v = torch.split(self._linear(h, f"{layer}/self_attention/linear_0"), width, -1)
            x = x + self._linear(
                self._attention(q, k, v, causal=True), f"{layer}/self_attention/linear_1"
            )
            h = self._norm(x, f"{layer}/attention/layer_norm")
            q = self._linear(h, f"{layer}/attention/linear_0")
            k, v = torch.split(self._linear(encoded, f"{layer}/attention/linear_1"), width, -1)
            x = x + self._linear(
                self._attention(q, k, v, causal=False), f"{layer}/attention/linear_2"
            )
            h = self._norm(x, f"{layer}/ffn/layer_norm")
            x = x + self._linear(
                F.gelu(self._linear(h, f"{layer}/ffn/linear_0")), f"{layer}/ffn/linear_1"
            )
        return self._norm(x, "layer_norm")
