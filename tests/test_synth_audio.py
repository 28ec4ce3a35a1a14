"""Tests for the synthesized sound textures, background noise, SNR mixing and keyword table."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from prism.data.synth.audio_textures import (
    TEXTURE_KINDS,
    TEXTURE_LEVELS_DB,
    TextureParams,
    background_noise,
    rms,
    spectral_centroid,
    texture,
)
from prism.data.synth.keywords import DEFAULT_SOUND, SOUND_KEYWORDS, sound_kind, sound_kinds
from prism.errors import DataError
from prism.procedure.model import DurationStats, Procedure, Step

RATE = 16_000


def _profile(x: np.ndarray) -> np.ndarray:
    """Log share of power in 24 log-spaced bands (40 Hz - 8 kHz)."""
    power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / RATE)
    edges = np.geomspace(40.0, 8000.0, 25)
    bands = np.array(
        [power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in itertools.pairwise(edges)]
    )
    return np.log10(bands / bands.sum() + 1e-12)


@pytest.mark.parametrize("kind", TEXTURE_KINDS)
def test_texture_is_finite_bounded_and_at_its_level(kind: str) -> None:
    x = texture(kind, 2.5, np.random.default_rng(0))
    assert x.shape == (40_000,)
    assert x.dtype == np.float32
    assert np.isfinite(x).all()
    assert np.abs(x).max() <= 1.0
    level = 20.0 * math.log10(rms(x))
    assert level == pytest.approx(TEXTURE_LEVELS_DB[kind], abs=1.0)


@pytest.mark.parametrize("kind", TEXTURE_KINDS)
def test_texture_is_deterministic_for_a_seed(kind: str) -> None:
    a = texture(kind, 1.0, np.random.default_rng(5))
    b = texture(kind, 1.0, np.random.default_rng(5))
    c = texture(kind, 1.0, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(("duration", "samples"), [(0.0, 0), (0.01, 160), (1.23456, 19_753)])
def test_texture_length(duration: float, samples: int) -> None:
    assert texture("water", duration, np.random.default_rng(0)).shape == (samples,)
    assert texture("beep", duration, np.random.default_rng(0), rate=8000).shape == (
        round(duration * 8000),
    )


def test_kinds_differ_in_spectrum() -> None:
    centroid = {
        k: spectral_centroid(texture(k, 3.0, np.random.default_rng(1))) for k in TEXTURE_KINDS
    }
    assert centroid["steam"] > centroid["grinder"] > centroid["microwave"]
    assert centroid["steam"] > 4000.0 > 1000.0 > centroid["pump"]
    assert centroid["sizzle"] > centroid["pouring"] > centroid["chopping"]
    assert centroid["rustle"] > centroid["handling"] > centroid["fridge"]
    # A second performance of each kind is closest (band profile) to its own kind.
    kinds = [k for k in TEXTURE_KINDS if k != "silence"]
    first = {k: _profile(texture(k, 3.0, np.random.default_rng(0))) for k in kinds}
    second = {k: _profile(texture(k, 3.0, np.random.default_rng(100))) for k in kinds}
    nearest = {
        k: min(kinds, key=lambda j: float(np.linalg.norm(second[k] - first[j]))) for k in kinds
    }
    matched = [k for k in kinds if nearest[k] == k]
    assert len(matched) == len(kinds), {k: v for k, v in nearest.items() if k != v}


def test_timbre_gain_and_tempo() -> None:
    low = texture("water", 2.0, np.random.default_rng(0), params=TextureParams(timbre=0.8))
    high = texture("water", 2.0, np.random.default_rng(0), params=TextureParams(timbre=1.2))
    assert spectral_centroid(high) > 1.2 * spectral_centroid(low)
    quiet = texture("steam", 2.0, np.random.default_rng(0), params=TextureParams(gain=0.5))
    loud = texture("steam", 2.0, np.random.default_rng(0))
    assert rms(quiet) == pytest.approx(0.5 * rms(loud), rel=1e-3)

    def knocks(tempo: float) -> int:
        x = texture("chopping", 30.0, np.random.default_rng(2), params=TextureParams(tempo=tempo))
        envelope = np.abs(x) > 0.5 * np.abs(x).max()
        return int(np.count_nonzero(np.diff(envelope.astype(np.int8)) == 1))

    assert knocks(1.5) > knocks(0.7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "vacuum"}, r"unknown texture kind 'vacuum'; known kinds: grinder, blender"),
        ({"duration_s": -1.0}, r"duration_s must be a finite number >= 0, got -1\.0"),
        ({"duration_s": math.nan}, r"duration_s must be a finite number >= 0, got nan"),
        ({"rate": 1000}, r"rate must be >= 4000 Hz, got 1000"),
        ({"params": TextureParams(timbre=0.0)}, r"timbre must be a finite number > 0, got 0\.0"),
        ({"params": TextureParams(gain=-1.0)}, r"gain must be a finite number >= 0, got -1\.0"),
    ],
    ids=[
        "unknown-kind",
        "negative-duration",
        "nan-duration",
        "low-rate",
        "zero-timbre",
        "negative-gain",
    ],
)
def test_texture_bad_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"kind": "water", "duration_s": 1.0} | kwargs
    with pytest.raises(DataError, match=message):
        texture(args.pop("kind"), args.pop("duration_s"), np.random.default_rng(0), **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("chatter", [False, True], ids=["plain", "chatter"])
def test_background_noise_is_unit_rms_and_low_heavy(chatter: bool) -> None:
    noise = background_noise(10.0, np.random.default_rng(0), chatter=chatter)
    assert noise.shape == (160_000,)
    assert np.isfinite(noise).all()
    assert rms(noise) == pytest.approx(1.0)
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(noise.size, 1.0 / RATE)
    per_hz_low = power[(freqs > 50) & (freqs < 200)].mean()
    per_hz_high = power[(freqs > 4000) & (freqs < 6000)].mean()
    assert per_hz_low > 30.0 * per_hz_high  # pink/brown: power falls with frequency
    speech_band = power[(freqs > 300) & (freqs < 3000)].sum() / power.sum()
    plain = background_noise(10.0, np.random.default_rng(0), chatter=False)
    plain_power = np.abs(np.fft.rfft(plain)) ** 2
    plain_band = plain_power[(freqs > 300) & (freqs < 3000)].sum() / plain_power.sum()
    assert (speech_band > plain_band + 0.05) == chatter


def test_spectral_centroid_known_answer() -> None:
    t = np.arange(RATE) / RATE
    assert spectral_centroid(np.sin(2 * np.pi * 1000 * t)) == pytest.approx(1000.0, abs=1.0)
    assert spectral_centroid(np.zeros(10)) == 0.0


# ---------------------------------------------------------------- keyword table


def _step(name: str, description: str = "", step_id: str = "s") -> Step:
    return Step(step_id, name, description, DurationStats(mean=5.0, std=1.0))


def test_keyword_table_covers_known_kinds() -> None:
    kinds = [kind for kind, _ in SOUND_KEYWORDS]
    assert set(kinds) <= set(TEXTURE_KINDS)
    assert len(kinds) == len(set(kinds))
    assert DEFAULT_SOUND in TEXTURE_KINDS


def test_latte_steps_map_to_their_sounds(latte: Procedure) -> None:
    assert sound_kinds(latte) == {
        "attach_filter": "tapping",
        "adjust_grind": "tapping",
        "grind_beans": "grinder",
        "move_filter": "tapping",
        "place_cup": "tapping",
        "brew_coffee": "pump",
        "use_fridge": "fridge",
        "pour_milk_jug": "pouring",
        "steam_milk": "steam",
        "purge_wand": "steam",
        "remove_cup": "tapping",
        "pour_milk_cup": "pouring",
        "wash_jug": "water",
        "get_towel": "rustle",
        "clean_wand": "rustle",
        "throw_towel": "rustle",
        "remove_filter": "tapping",
        "dump_grinds": "tapping",
        "wash_filter": "water",
    }


@pytest.mark.parametrize(
    ("step", "kind"),
    [
        (_step("Move filter", "Take the portafilter off the grinder and lock it."), "tapping"),
        (_step("Wait", "Wait until the grinder stops."), "grinder"),
        (_step("Slowly pour the eggs"), "pouring"),
        (_step("Keep mixing with a spatula"), "stirring"),
        (_step("Add the corn into a microwave-safe bowl"), "handling"),
        (_step("Microwave the corn for 2 minutes"), "microwave"),
        (_step("Fill out Order"), "rustle"),
        (_step("Fill a mug with milk"), "pouring"),
        (_step("Chopped onions go in"), "chopping"),
        (_step("Relax", "Nothing to hear.", step_id="relax"), "handling"),
        (_step("Step 7", "", step_id="steam_it"), "steam"),
    ],
    ids=[
        "verb-beats-description",
        "description-fallback",
        "earliest-keyword-in-name",
        "suffix-match",
        "microwave-safe-container",
        "microwave-running",
        "fill-out-a-form",
        "fill-a-mug",
        "past-tense",
        "default",
        "id-keyword",
    ],
)
def test_sound_kind_rules(step: Step, kind: str) -> None:
    assert sound_kind(step) == kind
