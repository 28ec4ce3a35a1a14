"""Tests for prism.sensing.network: shapes, causality, carried state, missing modalities, size."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch

from prism.sensing.features import SensingError
from prism.sensing.network import (
    FusedActivityNet,
    NetworkConfig,
    check_modalities,
    session_logits,
)

SMALL = NetworkConfig(
    imu_channels=6, embedding_size=8, hidden_size=12, context_levels=3, fusion="early"
)
LATE = replace(SMALL, fusion="late")


def test_late_fusion_needs_two_modalities() -> None:
    assert NetworkConfig().fusion == "late"
    assert not FusedActivityNet(3, config=SMALL).late
    assert FusedActivityNet(3, config=LATE).late
    assert not FusedActivityNet(3, modalities=("imu",), config=LATE).late  # one branch


@pytest.fixture(params=["early", "late"])
def net(request: pytest.FixtureRequest) -> FusedActivityNet:
    torch.manual_seed(0)
    return FusedActivityNet(5, config=replace(SMALL, fusion=request.param)).eval()


def inputs(batch: int, steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, steps, 6, 100, generator=generator),
        torch.randn(batch, steps, 64, 40, generator=generator),
    )


@pytest.mark.parametrize(
    "modalities", [("imu",), ("audio",), ("imu", "audio")], ids=["imu", "audio", "both"]
)
def test_forward_shape(modalities: tuple[str, ...]) -> None:
    network = FusedActivityNet(4, modalities=modalities, config=SMALL).eval()
    imu, audio = inputs(2, 7)
    logits = network(imu if "imu" in modalities else None, audio if "audio" in modalities else None)
    assert logits.shape == (2, 7, 4)


def test_receptive_field_of_the_default_network() -> None:
    assert NetworkConfig().receptive_field == 63
    assert SMALL.receptive_field == 1 + 2 * (1 + 2 + 4)


def test_context_is_causal_and_bounded(net: FusedActivityNet) -> None:
    imu, audio = inputs(1, 30)
    with torch.no_grad():
        base = net(imu, audio)
        changed_imu = imu.clone()
        changed_imu[0, 10] += 5.0
        changed = net(changed_imu, audio)
    difference = (changed - base).abs().amax(dim=2)[0]
    assert difference[:10].max() == 0.0  # the past does not see the future
    assert difference[10] > 0.0
    field = net.receptive_field
    assert difference[10 + field :].max() == 0.0  # nor frames beyond the receptive field
    assert difference[10 + field - 1] > 0.0


def test_context_in_pieces_with_carried_state_equals_one_pass(net: FusedActivityNet) -> None:
    imu, audio = inputs(1, 40, seed=1)
    with torch.no_grad():
        embeddings = net.embed(imu[0], audio[0])[None]
        whole, _ = net.context(embeddings)
        state = net.initial_state(1)
        pieces = []
        for start, stop in ((0, 1), (1, 9), (9, 10), (10, 33), (33, 40)):
            logits, state = net.context(embeddings[:, start:stop], state)
            pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-5, atol=1e-5)


def test_context_frame_by_frame_equals_one_pass(net: FusedActivityNet) -> None:
    """One frame per call (the streaming case, a matrix product per level instead of a
    convolution) for a batch of sessions, past every level's receptive field."""
    imu, audio = inputs(3, 40, seed=2)
    with torch.no_grad():
        embeddings = torch.stack([net.embed(imu[b], audio[b]) for b in range(3)])
        whole, _ = net.context(embeddings)
        state = net.initial_state(3)
        frames = []
        for t in range(40):
            logits, state = net.context(embeddings[:, t : t + 1], state)
            frames.append(logits)
    torch.testing.assert_close(torch.cat(frames, dim=1), whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("modalities", [("imu",), ("audio",), ("imu", "audio")])
def test_inference_copy_gives_the_same_logits(
    net: FusedActivityNet, modalities: tuple[str, ...]
) -> None:
    """The copy with batch norms folded into the convolutions (and no dropout layers)
    gives the network's eval-mode logits, with learned normalisation statistics."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator))
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.randn(size, generator=generator))
                module.bias.copy_(torch.randn(size, generator=generator))
    twin = net.for_inference()
    assert not any(p.requires_grad for p in twin.parameters())
    assert not any(
        isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d) for m in twin.modules()
    )
    imu, audio = inputs(2, 12, seed=4)
    given_imu = imu if "imu" in modalities else None
    given_audio = audio if "audio" in modalities else None
    with torch.no_grad():
        expected = net(given_imu, given_audio)
        got = twin(given_imu, given_audio)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert any(p.requires_grad for p in net.parameters())  # the original is left alone


def test_missing_modality_uses_the_learned_vector_with_early_fusion() -> None:
    torch.manual_seed(0)
    net = FusedActivityNet(5, config=replace(SMALL, fusion="early")).eval()
    imu, audio = inputs(1, 6)
    with torch.no_grad():
        net.missing["audio"].fill_(0.3)
        without = net.embed(imu[0], None)
        dropped = net.embed(imu[0], audio[0], drop_audio=torch.ones(6, dtype=torch.bool))
        full = net.embed(imu[0], audio[0])
    torch.testing.assert_close(without, dropped)
    assert not torch.allclose(without, full)


def test_embed_rejects_an_unknown_modality_and_nothing() -> None:
    network = FusedActivityNet(3, modalities=("imu",), config=SMALL)
    imu, audio = inputs(1, 2)
    with pytest.raises(SensingError, match="no audio encoder"):
        network.embed(imu[0], audio[0])
    with pytest.raises(SensingError, match="same frame count"):
        network.embed(None, None)


def test_session_logits_match_forward_for_any_block_size(net: FusedActivityNet) -> None:
    imu, audio = inputs(1, 25)
    with torch.no_grad():
        expected = net(imu, audio)[0].numpy()
    for block in (1, 7, 1024):
        got = session_logits(net, imu[0].numpy(), audio[0].numpy(), block_frames=block)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert session_logits(net, imu[0, :0].numpy(), None).shape == (0, 5)


def test_default_model_is_small() -> None:
    network = FusedActivityNet(20)
    assert network.parameter_count() < 500_000
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    assert buffer.tell() < 2_000_000  # bytes; the issue allows 20 MB


def test_config_round_trip_and_validation() -> None:
    assert NetworkConfig.from_dict(SMALL.to_dict()) == SMALL
    with pytest.raises(SensingError, match="unknown NetworkConfig keys"):
        NetworkConfig.from_dict({"layers": 3})
    with pytest.raises(SensingError, match="kernel_size must be an integer >= 2"):
        NetworkConfig(kernel_size=1)
    with pytest.raises(SensingError, match=r"dropout must be in \[0, 1\)"):
        NetworkConfig(dropout=1.0)
    with pytest.raises(SensingError, match="fusion must be one of"):
        NetworkConfig(fusion="middle")
    with pytest.raises(SensingError, match="n_classes must be an integer >= 2"):
        FusedActivityNet(1)


@pytest.mark.parametrize(
    "modalities", [(), ("imu", "imu"), ("video",)], ids=["empty", "repeat", "unknown"]
)
def test_bad_modalities_raise(modalities: tuple[str, ...]) -> None:
    with pytest.raises(SensingError, match="non-empty subset"):
        check_modalities(modalities)


def late_network() -> FusedActivityNet:
    torch.manual_seed(0)
    network = FusedActivityNet(5, config=LATE).eval()
    network.branch_temperatures.copy_(torch.tensor([2.0, 0.5]))
    network.branch_weights.copy_(torch.tensor([0.7, 1.3]))
    return network


def test_late_fusion_weighs_the_branches_log_probabilities_at_their_temperatures() -> None:
    network = late_network()
    assert network.branch_names == ("imu", "audio")
    imu, audio = inputs(1, 12)
    with torch.no_grad():
        branches, present, _ = network.branch_logits(network.embed(imu[0], audio[0])[None])
        expected = 0.7 * torch.log_softmax(branches[0] / 2.0, -1) + 1.3 * torch.log_softmax(
            branches[1] / 0.5, -1
        )
        got = network(imu, audio)
    assert present.shape == (1, 12, 2) and bool((present == 1).all())
    torch.testing.assert_close(got, expected)


def test_late_fusion_without_a_modality_is_the_other_branch_alone() -> None:
    """A lone branch is its calibrated self: the weights apply only to the product."""
    network = late_network()
    imu, audio = inputs(1, 12)
    with torch.no_grad():
        both, _, _ = network.branch_logits(network.embed(imu[0], audio[0])[None])
        imu_alone = torch.log_softmax(both[0] / 2.0, -1)
        without, _ = network.context(network.embed(imu[0], None)[None])
        dropped = network.embed(imu[0], audio[0], drop_audio=torch.arange(12) >= 6)
        half, _ = network.context(dropped[None])
        fused = network(imu, audio)
    torch.testing.assert_close(without, imu_alone)
    torch.testing.assert_close(half[:, 6:], imu_alone[:, 6:])  # the IMU branch is unchanged
    torch.testing.assert_close(half[:, :6], fused[:, :6])
