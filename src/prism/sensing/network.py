"""The fused activity network: one encoder per modality, fusion, causal temporal context.

::

    IMU window (C, 100) --ImuEncoder--> (E,) --+
                                               +--concat--> Linear+ReLU --> (H,) frame embedding
    log-mel (64, 40) --AudioEncoder---> (E,) --+                              |
                                                  causal dilated conv stack over frames
                                                  (kernel 3, dilations 1, 2, 4, ..., residual)
                                                                              |
                                                         Linear --> (n_classes,) logits per frame

The temporal context only looks back (frame ``t`` sees frames ``t - R + 1 .. t`` with
``R`` = :attr:`FusedActivityNet.receptive_field`), so running it frame by frame with
carried state (:meth:`FusedActivityNet.context`) gives the same logits as running it on a
whole session. A modality can be missing: its embedding is then replaced by a learned
"missing" vector (training drops modalities at random so the model learns to do without).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from prism.sensing.features import N_MELS, SensingError

__all__ = [
    "MODALITIES",
    "AudioEncoder",
    "CausalContext",
    "FusedActivityNet",
    "ImuEncoder",
    "NetworkConfig",
    "check_modalities",
    "session_logits",
]

MODALITIES = ("imu", "audio")
"""Known modalities, in their canonical order."""


def check_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    """Validate a modality subset; returns it in canonical order (``imu`` before ``audio``).

    >>> check_modalities(["audio", "imu"])
    ('imu', 'audio')
    """
    if isinstance(modalities, str):
        modalities = (modalities,)
    chosen = set(modalities)
    if not chosen or not chosen <= set(MODALITIES) or len(chosen) != len(modalities):
        raise SensingError(
            f"modalities must be a non-empty subset of {MODALITIES} without repeats, "
            f"got {tuple(modalities)}"
        )
    return tuple(m for m in MODALITIES if m in chosen)


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of :class:`FusedActivityNet`.

    Parameters
    ----------
    imu_channels : int
        Channels of an IMU window (6, or 7 with the acceleration magnitude).
    imu_width : int
        The IMU encoder's convolutions have ``w, 2w, 2w`` channels.
    audio_width : int
        The audio encoder's convolutions have ``w, 2w, 4w`` channels.
    embedding_size : int
        Output size ``E`` of each modality encoder.
    hidden_size : int
        Size ``H`` of the fused frame embedding and of the temporal context layers.
    context_levels : int
        Dilated causal conv layers (dilations ``1, 2, ..., 2**(levels - 1)``), >= 0.
    kernel_size : int
        Kernel of the context layers (frames), >= 2.
    dropout : float
        Dropout after the fusion layer and in the context layers, in [0, 1).
    """

    imu_channels: int = 7
    imu_width: int = 16
    audio_width: int = 8
    embedding_size: int = 64
    hidden_size: int = 96
    context_levels: int = 5
    kernel_size: int = 3
    dropout: float = 0.1

    def __post_init__(self) -> None:
        for name, low in (
            ("imu_channels", 1),
            ("imu_width", 1),
            ("audio_width", 1),
            ("embedding_size", 1),
            ("hidden_size", 1),
            ("context_levels", 0),
            ("kernel_size", 2),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SensingError(
                    f"NetworkConfig.{name} must be an integer >= {low}, got {value!r}"
                )
        if not 0.0 <= self.dropout < 1.0:
            raise SensingError(f"NetworkConfig.dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def receptive_field(self) -> int:
        """Frames the context sees, the current one included: ``1 + (k - 1)(2**L - 1)``."""
        return 1 + (self.kernel_size - 1) * (int(2**self.context_levels) - 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready field values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`SensingError`."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SensingError(
                f"unknown NetworkConfig keys {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**dict(data))


class ImuEncoder(nn.Module):
    """IMU window ``(N, C, 100)`` -> embedding ``(N, E)``: three strided 1-D convolutions.

    Channels ``w, 2w, 2w`` (kernels 5, 5, 3, stride 2: 100 -> 50 -> 25 -> 13 samples),
    then mean and max over time and a linear layer.
    """

    def __init__(self, channels: int, embedding_size: int, *, width: int = 16) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(channels, width, 5, stride=2, padding=2),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Conv1d(width, 2 * width, 5, stride=2, padding=2),
            nn.BatchNorm1d(2 * width),
            nn.ReLU(),
            nn.Conv1d(2 * width, 2 * width, 3, stride=2, padding=1),
            nn.BatchNorm1d(2 * width),
            nn.ReLU(),
        )
        self.project = nn.Sequential(nn.Linear(4 * width, embedding_size), nn.ReLU())

    def forward(self, windows: Tensor) -> Tensor:
        """``(N, C, 100)`` -> ``(N, E)``."""
        h = self.convs(windows)
        return self.project(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))  # type: ignore[no-any-return]


class AudioEncoder(nn.Module):
    """Log-mel window ``(N, 64, 40)`` -> embedding ``(N, E)``: three strided 2-D convolutions.

    Adjacent STFT columns are averaged first (40 -> 20 columns of 50 ms), then
    convolutions with ``w, 2w, 4w`` channels (3 x 3, stride 2) give a map of 8 bands x
    3 columns; it is pooled over time only (mean and max), so the embedding keeps the
    coarse spectral shape.
    """

    def __init__(self, embedding_size: int, *, width: int = 8) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.AvgPool2d((1, 2)),
            nn.Conv2d(1, width, 3, stride=2, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),
            nn.BatchNorm2d(4 * width),
            nn.ReLU(),
        )
        bands = N_MELS
        for _ in range(3):  # each stride-2 conv (kernel 3, padding 1) halves, rounding up
            bands = (bands + 1) // 2
        self.project = nn.Sequential(nn.Linear(2 * 4 * width * bands, embedding_size), nn.ReLU())

    def forward(self, windows: Tensor) -> Tensor:
        """``(N, 64, 40)`` -> ``(N, E)``."""
        h = self.convs(windows.unsqueeze(1))
        pooled = torch.cat([h.mean(dim=3), h.amax(dim=3)], dim=1)
        return self.project(pooled.flatten(1))  # type: ignore[no-any-return]


class CausalContext(nn.Module):
    """Residual stack of dilated causal 1-D convolutions over frames.

    Level ``i`` computes ``x + dropout(relu(conv_i(x)))`` with dilation ``2**i``; the
    left context comes from a carried state (zeros at the session start).
    """

    def __init__(self, size: int, *, levels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilations = tuple(2**i for i in range(levels))
        self.convs = nn.ModuleList(
            nn.Conv1d(size, size, kernel_size, dilation=d) for d in self.dilations
        )
        self.dropout = nn.Dropout(dropout)
        self.size = size

    def initial_state(self, batch: int = 1) -> list[Tensor]:
        """Zero state: per level, the last ``(k - 1) * dilation`` inputs, ``(B, H, n)``."""
        return [torch.zeros(batch, self.size, (self.kernel_size - 1) * d) for d in self.dilations]

    def forward(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """``x (B, H, T)`` with ``state`` -> outputs ``(B, H, T)`` and the next state."""
        new_state = []
        for conv, past in zip(self.convs, state, strict=True):
            padded = torch.cat([past, x], dim=2)
            new_state.append(padded[:, :, padded.shape[2] - past.shape[2] :])
            x = x + self.dropout(torch.relu(conv(padded)))
        return x, new_state


class FusedActivityNet(nn.Module):
    """Per-frame activity logits from IMU and/or audio windows, with causal context.

    Parameters
    ----------
    n_classes : int
        Output classes (steps + "other"), >= 2.
    modalities : sequence of {"imu", "audio"}
        Encoders to build.
    config : NetworkConfig
        Layer sizes.

    Examples
    --------
    >>> net = FusedActivityNet(4, modalities=("imu",), config=NetworkConfig(imu_channels=6))
    >>> net.eval()(torch.zeros(2, 3, 6, 100), None).shape
    torch.Size([2, 3, 4])
    """

    def __init__(
        self,
        n_classes: int,
        *,
        modalities: Sequence[str] = MODALITIES,
        config: NetworkConfig | None = None,
    ) -> None:
        super().__init__()
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise SensingError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        self.n_classes = n_classes
        self.modalities = check_modalities(modalities)
        self.config = config if config is not None else NetworkConfig()
        size = self.config.embedding_size
        encoders: dict[str, nn.Module] = {}
        if "imu" in self.modalities:
            encoders["imu"] = ImuEncoder(
                self.config.imu_channels, size, width=self.config.imu_width
            )
        if "audio" in self.modalities:
            encoders["audio"] = AudioEncoder(size, width=self.config.audio_width)
        self.encoders = nn.ModuleDict(encoders)
        self.missing = nn.ParameterDict(
            {name: nn.Parameter(torch.zeros(size)) for name in self.modalities}
        )
        self.fuse = nn.Sequential(
            nn.Linear(size * len(self.modalities), self.config.hidden_size),
            nn.ReLU(),
            nn.Dropout(self.config.dropout),
        )
        self.context_stack = CausalContext(
            self.config.hidden_size,
            levels=self.config.context_levels,
            kernel_size=self.config.kernel_size,
            dropout=self.config.dropout,
        )
        self.head = nn.Linear(self.config.hidden_size, n_classes)

    @property
    def receptive_field(self) -> int:
        """Frames of temporal context, the current one included."""
        return self.config.receptive_field

    def parameter_count(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def initial_state(self, batch: int = 1) -> list[Tensor]:
        """Context state at the session start (zeros)."""
        return self.context_stack.initial_state(batch)

    def embed(
        self,
        imu: Tensor | None,
        audio: Tensor | None,
        *,
        drop_imu: Tensor | None = None,
        drop_audio: Tensor | None = None,
    ) -> Tensor:
        """Fused frame embeddings of ``N`` frames.

        Parameters
        ----------
        imu : Tensor [shape=(N, C, 100), normalised] or None
            None for a modality of the network means "missing": the learned missing
            vector stands in for its embedding.
        audio : Tensor [shape=(N, 64, 40), normalised] or None
        drop_imu, drop_audio : Tensor [shape=(N,), bool] or None
            Frames whose modality is replaced by the missing vector (modality dropout).

        Returns
        -------
        Tensor [shape=(N, H)]
        """
        inputs = {"imu": (imu, drop_imu), "audio": (audio, drop_audio)}
        for name, (windows, _) in inputs.items():
            if windows is not None and name not in self.modalities:
                raise SensingError(
                    f"this network has no {name} encoder (modalities {self.modalities})"
                )
        sizes = {windows.shape[0] for windows, _ in inputs.values() if windows is not None}
        if len(sizes) != 1:
            raise SensingError(
                "embed needs imu and/or audio windows with the same frame count, "
                f"got {sorted(sizes)}"
            )
        n = sizes.pop()
        parts = []
        for name in self.modalities:
            windows, drop = inputs[name]
            missing = self.missing[name][None, :]
            if windows is None:
                parts.append(missing.expand(n, -1))
                continue
            embedding: Tensor = self.encoders[name](windows)
            if drop is not None:
                embedding = torch.where(drop[:, None], missing, embedding)
            parts.append(embedding)
        return self.fuse(torch.cat(parts, dim=1))  # type: ignore[no-any-return]

    def context(
        self, embeddings: Tensor, state: list[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """Logits from frame embeddings ``(B, T, H)`` -> ``(B, T, n_classes)`` and new state.

        ``state`` (from :meth:`initial_state` or a previous call) carries the last frames
        of each context level, so calling this on consecutive pieces of a session gives
        the logits of one call on the whole session.
        """
        if state is None:
            state = self.initial_state(embeddings.shape[0])
        hidden, new_state = self.context_stack(embeddings.transpose(1, 2), state)
        return self.head(hidden.transpose(1, 2)), new_state

    def forward(self, imu: Tensor | None, audio: Tensor | None) -> Tensor:
        """Logits of whole sequences from the session start.

        Parameters
        ----------
        imu : Tensor [shape=(B, T, C, 100)] or None
        audio : Tensor [shape=(B, T, 64, 40)] or None

        Returns
        -------
        Tensor [shape=(B, T, n_classes)]
        """
        source = imu if imu is not None else audio
        if source is None:
            raise SensingError("forward needs at least one of imu and audio windows")
        batch, steps = source.shape[:2]
        flat_imu = imu.reshape(batch * steps, *imu.shape[2:]) if imu is not None else None
        flat_audio = audio.reshape(batch * steps, *audio.shape[2:]) if audio is not None else None
        embeddings = self.embed(flat_imu, flat_audio).reshape(batch, steps, -1)
        logits, _ = self.context(embeddings)
        return logits


def session_logits(
    network: FusedActivityNet,
    imu: np.ndarray | None,
    audio: np.ndarray | None,
    *,
    block_frames: int = 1024,
) -> np.ndarray:
    """Logits of one whole session from normalised windows, without gradients.

    Frames are embedded in blocks of ``block_frames`` (bounded memory), then the causal
    context runs over the whole sequence from a zero state. The network is used as it
    is: call ``network.eval()`` first for inference.

    Parameters
    ----------
    network : FusedActivityNet
    imu : np.ndarray [shape=(T, C, 100), float32, normalised] or None
        None for a network modality means "missing".
    audio : np.ndarray [shape=(T, 64, 40), float32, normalised] or None

    Returns
    -------
    np.ndarray [shape=(T, n_classes), float32]
    """
    source = imu if imu is not None else audio
    if source is None:
        raise SensingError("session_logits needs at least one of imu and audio windows")
    n_frames = source.shape[0]
    if n_frames == 0:
        return np.zeros((0, network.n_classes), dtype=np.float32)
    with torch.no_grad():
        blocks = []
        for start in range(0, n_frames, block_frames):
            stop = min(start + block_frames, n_frames)
            blocks.append(
                network.embed(
                    torch.from_numpy(imu[start:stop]) if imu is not None else None,
                    torch.from_numpy(audio[start:stop]) if audio is not None else None,
                )
            )
        logits, _ = network.context(torch.cat(blocks)[None])
    return logits[0].numpy().astype(np.float32)
