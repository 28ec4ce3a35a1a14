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

That is early fusion (``NetworkConfig(fusion="early")``). With late fusion (the
default) each modality has its own Linear+ReLU, context stack and head (a branch), and
the output is the weighted sum of the branches' temperature-scaled log probabilities; a
missing modality's branch is left out.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from prism.sensing.features import N_MELS, SensingError

__all__ = [
    "FUSIONS",
    "MODALITIES",
    "AudioEncoder",
    "BranchOutputs",
    "CausalContext",
    "FusedActivityNet",
    "ImuEncoder",
    "NetworkConfig",
    "check_modalities",
    "combine_session",
    "concatenate_branch_outputs",
    "session_branch_logits",
    "session_logits",
]

MODALITIES = ("imu", "audio")
"""Known modalities, in their canonical order."""
FUSIONS = ("early", "late")
"""Ways :class:`FusedActivityNet` combines two modalities (:attr:`NetworkConfig.fusion`)."""


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
    fusion : {"early", "late"}
        How two modalities are combined (``"late"`` by default: more accurate, and its
        branches work alone when a modality is missing; ``"early"`` is cheaper to run,
        which is why the shipped latte-making model uses it). ``"early"``: their
        embeddings are concatenated and one context stack and head read them.
        ``"late"``: each modality has its own context stack and head, trained on its own
        loss, and the network's output is a weighted sum of their log probabilities, each
        branch's logits divided by its temperature
        (:attr:`FusedActivityNet.branch_temperatures`) and, where every branch has its
        input, its log probabilities multiplied by its weight
        (:attr:`FusedActivityNet.branch_weights`; both fitted on validation data): a
        product of experts. Ignored with one modality.
    """

    imu_channels: int = 7
    imu_width: int = 16
    audio_width: int = 8
    embedding_size: int = 64
    hidden_size: int = 96
    context_levels: int = 5
    kernel_size: int = 3
    dropout: float = 0.1
    fusion: str = "late"

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
        if self.fusion not in FUSIONS:
            raise SensingError(
                f"NetworkConfig.fusion must be one of {FUSIONS}, got {self.fusion!r}"
            )

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
        for conv, dilation, past in zip(self.convs, self.dilations, state, strict=True):
            padded = torch.cat([past, x], dim=2)
            new_state.append(padded[:, :, padded.shape[2] - past.shape[2] :])
            if x.shape[2] == 1:
                # One new frame (streaming): the kernel's taps are every dilation-th
                # column, and one matrix product is several times faster than a call
                # of the convolution on such small inputs.
                taps = padded[:, :, ::dilation].flatten(1)
                weight, bias = cast(Tensor, conv.weight), cast(Tensor, conv.bias)
                out = torch.addmm(bias, taps, weight.flatten(1).t()).unsqueeze(2)
            else:
                out = conv(padded)
            x = x + self.dropout(torch.relu(out))
        return x, new_state


def _fold_batch_norms(layers: nn.Sequential) -> nn.Sequential:
    """``layers`` (in eval mode) with every convolution followed by a batch norm replaced
    by one convolution doing both."""
    folded: list[nn.Module] = []
    for layer in layers:
        previous = folded[-1] if folded else None
        if isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d) and isinstance(
            previous, nn.Conv1d | nn.Conv2d
        ):
            folded[-1] = fuse_conv_bn_eval(previous, layer)
        else:
            folded.append(layer)
    return nn.Sequential(*folded)


class _Branch(nn.Module):
    """Frame inputs -> Linear+ReLU -> causal context -> per-frame logits."""

    fuse: nn.Sequential
    context_stack: CausalContext
    head: nn.Linear

    def __init__(self, inputs: int, n_classes: int, config: NetworkConfig) -> None:
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Linear(inputs, config.hidden_size), nn.ReLU(), nn.Dropout(config.dropout)
        )
        self.context_stack = CausalContext(
            config.hidden_size,
            levels=config.context_levels,
            kernel_size=config.kernel_size,
            dropout=config.dropout,
        )
        self.head = nn.Linear(config.hidden_size, n_classes)

    def forward(self, hidden: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """``hidden (B, T, H)`` (after :attr:`fuse`) -> logits ``(B, T, C)`` and new state."""
        out, new_state = self.context_stack(hidden.transpose(1, 2), state)
        return self.head(out.transpose(1, 2)), new_state


class FusedActivityNet(nn.Module):
    """Per-frame activity logits from IMU and/or audio windows, with causal context.

    Parameters
    ----------
    n_classes : int
        Output classes (steps + "other"), >= 2.
    modalities : sequence of {"imu", "audio"}
        Encoders to build.
    config : NetworkConfig
        Layer sizes and the fusion (early: one branch over the concatenated encoder
        outputs; late: one branch per modality).

    Examples
    --------
    >>> net = FusedActivityNet(4, modalities=("imu",), config=NetworkConfig(imu_channels=6))
    >>> net.eval()(torch.zeros(2, 3, 6, 100), None).shape
    torch.Size([2, 3, 4])
    """

    branch_temperatures: Tensor
    branch_weights: Tensor

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
        self.late = self.config.fusion == "late" and len(self.modalities) > 1
        size = self.config.embedding_size
        encoders: dict[str, nn.Module] = {}
        if "imu" in self.modalities:
            encoders["imu"] = ImuEncoder(
                self.config.imu_channels, size, width=self.config.imu_width
            )
        if "audio" in self.modalities:
            encoders["audio"] = AudioEncoder(size, width=self.config.audio_width)
        self.encoders = nn.ModuleDict(encoders)
        self.missing = nn.ParameterDict(  # late fusion leaves a missing branch out instead
            {} if self.late else {name: nn.Parameter(torch.zeros(size)) for name in self.modalities}
        )
        branches = self.modalities if self.late else ("fused",)
        inputs = size if self.late else size * len(self.modalities)
        self.branches = nn.ModuleDict(
            {name: _Branch(inputs, n_classes, self.config) for name in branches}
        )
        self.register_buffer("branch_temperatures", torch.ones(len(branches)))
        self.register_buffer("branch_weights", torch.ones(len(branches)))

    @property
    def receptive_field(self) -> int:
        """Frames of temporal context, the current one included."""
        return self.config.receptive_field

    @property
    def branch_names(self) -> tuple[str, ...]:
        """The branches: the modalities (late fusion) or ``("fused",)``."""
        return tuple(self.branches.keys())

    def branch(self, name: str) -> _Branch:
        """The branch ``name`` (one of :attr:`branch_names`)."""
        return cast(_Branch, self.branches[name])

    def for_inference(self) -> FusedActivityNet:
        """A copy for inference only, cheaper to call on the few frames of a live batch.

        The copy is in eval mode without gradients; each encoder's batch norms are
        folded into the convolutions before them (``fuse_conv_bn_eval``: one layer
        instead of two) and the branches' dropout layers (identities in eval mode) are
        left out. Its outputs equal this network's in eval mode to float rounding
        (~1e-6). It does not follow later changes of this network's weights.
        """
        twin = copy.deepcopy(self).eval().requires_grad_(False)
        for encoder in twin.encoders.values():
            encoder.convs = _fold_batch_norms(cast(nn.Sequential, encoder.convs))
        for name in twin.branch_names:
            branch = twin.branch(name)
            branch.fuse = nn.Sequential(*(m for m in branch.fuse if not isinstance(m, nn.Dropout)))
        return twin

    def parameter_count(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def branch_keys(self, name: str) -> tuple[str, ...]:
        """The :meth:`state_dict` keys of the layers that only branch ``name`` uses: with
        late fusion its modality's encoder and its own branch, with early fusion every
        learned layer (not the fitted temperatures and weights)."""
        prefixes = (f"branches.{name}.", f"encoders.{name}.") if self.late else ("",)
        fitted = ("branch_temperatures", "branch_weights")
        return tuple(k for k in self.state_dict() if k.startswith(prefixes) and k not in fitted)

    def initial_state(self, batch: int = 1) -> list[Tensor]:
        """Context state at the session start (zeros), the branches' levels in order."""
        return [
            level
            for name in self.branch_names
            for level in self.branch(name).context_stack.initial_state(batch)
        ]

    def embed(
        self,
        imu: Tensor | None,
        audio: Tensor | None,
        *,
        drop_imu: Tensor | None = None,
        drop_audio: Tensor | None = None,
    ) -> Tensor:
        """Frame embeddings of ``N`` frames.

        Parameters
        ----------
        imu : Tensor [shape=(N, C, 100), normalised] or None
            None for a modality of the network means "missing": with early fusion the
            learned missing vector stands in for its embedding; with late fusion its
            branch is left out of the output.
        audio : Tensor [shape=(N, 64, 40), normalised] or None
        drop_imu, drop_audio : Tensor [shape=(N,), bool] or None
            Frames whose modality is treated as missing (modality dropout).

        Returns
        -------
        Tensor [shape=(N, H)] (early) or [shape=(N, M * H + M)] (late: each branch's
        hidden vector, then whether each modality is present, 1.0 or 0.0)
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
        parts, present = [], []
        size = self.config.embedding_size
        for name in self.modalities:
            windows, drop = inputs[name]
            if windows is None:
                absent = torch.zeros(n, size) if self.late else self.missing[name].expand(n, -1)
                parts.append(absent)
                present.append(torch.zeros(n, dtype=torch.bool))
                continue
            embedding: Tensor = self.encoders[name](windows)
            if drop is not None and not self.late:
                embedding = torch.where(drop[:, None], self.missing[name][None, :], embedding)
            parts.append(embedding)
            present.append(torch.ones(n, dtype=torch.bool) if drop is None else ~drop)
        if not self.late:
            return self.branch("fused").fuse(torch.cat(parts, dim=1))  # type: ignore[no-any-return]
        hidden = [
            self.branch(name).fuse(part) * mask[:, None]
            for name, part, mask in zip(self.modalities, parts, present, strict=True)
        ]
        return torch.cat([*hidden, torch.stack(present, dim=1).to(hidden[0].dtype)], dim=1)

    def branch_logits(
        self, embeddings: Tensor, state: list[Tensor] | None = None
    ) -> tuple[list[Tensor], Tensor, list[Tensor]]:
        """Each branch's logits from frame embeddings ``(B, T, D)``.

        Returns
        -------
        logits : list of Tensor [shape=(B, T, n_classes)], one per :attr:`branch_names`
        present : Tensor [shape=(B, T, n_branches), float]
            Whether each branch's input was there (always 1 with early fusion).
        state : list of Tensor
            The new context state.
        """
        if state is None:
            state = self.initial_state(embeddings.shape[0])
        names = self.branch_names
        if self.late:
            hidden_size = self.config.hidden_size
            inputs = list(torch.split(embeddings[..., : hidden_size * len(names)], hidden_size, -1))
            present = embeddings[..., hidden_size * len(names) :]
        else:
            inputs = [embeddings]
            present = embeddings.new_ones((*embeddings.shape[:2], 1))
        logits, new_state, taken = [], [], 0
        for name, hidden in zip(names, inputs, strict=True):
            branch = self.branch(name)
            levels = len(branch.context_stack.dilations)
            out, own = branch(hidden, state[taken : taken + levels])
            logits.append(out)
            new_state += own
            taken += levels
        return logits, present, new_state

    def combine(self, logits: Sequence[Tensor], present: Tensor) -> Tensor:
        """The network's output from :meth:`branch_logits`: the one branch's logits, or
        (late fusion) the sum of the present branches' log probabilities at their
        temperatures, each times its :attr:`branch_weights` entry where all branches are
        present (a lone branch is calibrated as it is), ``(B, T, n_classes)``."""
        if not self.late:
            return logits[0]
        complete = (present > 0).all(dim=-1, keepdim=True)
        total = torch.zeros_like(logits[0])
        for index, branch in enumerate(logits):
            scaled = torch.log_softmax(branch / self.branch_temperatures[index], dim=-1)
            weight = torch.where(complete, self.branch_weights[index], 1.0)
            total = total + present[..., index : index + 1] * weight * scaled
        return total

    def context(
        self, embeddings: Tensor, state: list[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """Logits from frame embeddings ``(B, T, D)`` -> ``(B, T, n_classes)`` and new state.

        ``state`` (from :meth:`initial_state` or a previous call) carries the last frames
        of each context level, so calling this on consecutive pieces of a session gives
        the logits of one call on the whole session.
        """
        logits, present, new_state = self.branch_logits(embeddings, state)
        return self.combine(logits, present), new_state

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


def session_branch_logits(
    network: FusedActivityNet,
    imu: np.ndarray | None,
    audio: np.ndarray | None,
    *,
    block_frames: int = 1024,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each branch's logits over one whole session, without gradients.

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
    logits : list of np.ndarray [shape=(T, n_classes), float32], one per branch
    present : np.ndarray [shape=(T, n_branches), float32]
        Whether each branch's input was there.
    """
    source = imu if imu is not None else audio
    if source is None:
        raise SensingError("a session needs at least one of imu and audio windows")
    n_frames = source.shape[0]
    n_branches = len(network.branch_names)
    if n_frames == 0:
        empty = np.zeros((0, network.n_classes), dtype=np.float32)
        return [empty] * n_branches, np.zeros((0, n_branches), dtype=np.float32)
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
        logits, present, _ = network.branch_logits(torch.cat(blocks)[None])
    return [branch[0].numpy().astype(np.float32) for branch in logits], present[0].numpy()


def session_logits(
    network: FusedActivityNet,
    imu: np.ndarray | None,
    audio: np.ndarray | None,
    *,
    block_frames: int = 1024,
) -> np.ndarray:
    """The network's logits over one whole session (:func:`session_branch_logits`,
    combined by :func:`combine_session`), ``(T, n_classes)`` float32."""
    logits, present = session_branch_logits(network, imu, audio, block_frames=block_frames)
    return combine_session(network, logits, present)


def combine_session(
    network: FusedActivityNet, logits: Sequence[np.ndarray], present: np.ndarray
) -> np.ndarray:
    """:meth:`FusedActivityNet.combine` on the output of :func:`session_branch_logits`:
    the network's logits ``(T, n_classes)`` float32."""
    with torch.no_grad():
        combined = network.combine(
            [torch.from_numpy(branch)[None] for branch in logits], torch.from_numpy(present)[None]
        )
    return combined[0].numpy().astype(np.float32)


BranchOutputs = tuple[list[np.ndarray], np.ndarray]
"""One session's :func:`session_branch_logits`: each branch's logits and the presence flags."""


def concatenate_branch_outputs(
    outputs: Sequence[BranchOutputs],
) -> tuple[list[np.ndarray], np.ndarray]:
    """Several sessions' :func:`session_branch_logits` end to end: each branch's logits
    ``(T, n_classes)`` and whether its input was there ``(T, n_branches)`` bool, ``T`` the
    sessions' frames together."""
    present = np.concatenate([flags for _, flags in outputs]) > 0
    n_branches = present.shape[1]
    logits = [np.concatenate([branches[i] for branches, _ in outputs]) for i in range(n_branches)]
    return logits, present
