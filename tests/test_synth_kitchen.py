"""Tests for procedural kitchen noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prism.data.synth.audio_textures import rms, spectral_centroid
from prism.data.synth.kitchen import KITCHEN_RATE_HZ, KITCHEN_SOURCES, kitchen_noise
from prism.errors import DataError

RATE = KITCHEN_RATE_HZ


@pytest.mark.parametrize("source", KITCHEN_SOURCES)
def test_each_source_alone_is_audible_at_the_level(source: str, rng: np.random.Generator) -> None:
    x = kitchen_noise(1.5, rng, sources=(source,), level_db=-25.0)
    assert x.shape == (24_000,)
    assert x.dtype == np.float32
    assert 20 * math.log10(rms(x)) == pytest.approx(-25.0, abs=1e-3)


def test_sources_sound_different(rng: np.random.Generator) -> None:
    centroids = {
        s: spectral_centroid(kitchen_noise(1.0, rng, sources=(s,)), rate=RATE)
        for s in ("water", "sizzle", "fridge")
    }
    assert centroids["fridge"] < centroids["water"] < centroids["sizzle"]


def test_noise_is_deterministic_for_a_seed() -> None:
    a = kitchen_noise(1.0, np.random.default_rng(3))
    b = kitchen_noise(1.0, np.random.default_rng(3))
    c = kitchen_noise(1.0, np.random.default_rng(4))
    d = kitchen_noise(1.0, np.random.default_rng(3), sources=KITCHEN_SOURCES[::-1])
    assert np.array_equal(a, b)
    assert np.array_equal(a, d)  # the order of sources does not matter
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("duration", "options", "match"),
    [
        (0.0, {}, "duration_s must be a finite number > 0"),
        (float("nan"), {}, "duration_s must be"),
        (1.0, {"sources": ()}, "sources must be a non-empty sequence"),
        (1.0, {"sources": "water"}, "sources must be a non-empty sequence"),
        (1.0, {"sources": ("water", "blender")}, r"distinct names.*got \['water', 'blender'\]"),
        (1.0, {"sources": ("water", "water")}, "distinct names"),
        (1.0, {"level_db": 3.0}, "level_db must be a finite number <= 0"),
    ],
    ids=["zero", "nan", "no-sources", "a-string", "unknown", "repeated", "too-loud"],
)
def test_bad_noise_requests_are_rejected(
    duration: float, options: dict[str, object], match: str, rng: np.random.Generator
) -> None:
    with pytest.raises(DataError, match=match):
        kitchen_noise(duration, rng, **options)  # type: ignore[arg-type]
