"""Synthesized sound textures of kitchen and workshop activities, and background noise.

Pure numpy/scipy functions: no sound files, nothing downloaded. Each texture is a simple
physical caricature of the activity (a motor hum with harmonics, filtered noise with
random modulation, decaying resonant impulses), randomised by a generator and shaped by
:class:`TextureParams` (per-step and per-user timbre, tempo and gain), then scaled to
the kind's nominal level (:data:`TEXTURE_LEVELS_DB`, RMS in dB full scale).

=============  ==========================================================================
kind           what it sounds like
=============  ==========================================================================
grinder        motor hum (150-230 Hz, 8 harmonics) + broadband grinding noise, on/off bursts
blender        higher, louder motor (280-380 Hz) + chopping modulation (8-15 Hz)
pump           espresso pump: 50 Hz vibratory buzz + soft drips
steam          high-pass hiss (> 2.5 kHz) with slow fluctuation + a drifting whistle
water          running water: band noise (0.4-4 kHz), fast random modulation + bubbles
pouring        gurgling glugs (5-9 per s) whose resonance rises as the vessel fills
tapping        irregular knocks / clicks: resonant decaying impulses (1.5-4 kHz)
chopping       knife on a board: regular thuds (2-4 per s) + clicks, in bursts
stirring       spoon in a bowl: circular swishes (1-2 per s) + occasional clinks
sizzle         frying crackle: high-pass hiss + dense random pops
microwave      mains hum (60 Hz harmonics) + fan noise; three beeps at the end
fridge         door thump and seal at the start, compressor hum, clinks, door thump at the end
rustle         paper / cardboard / tape crinkle bursts and tape screech
beep           short tones (1.8-3 kHz, scanner or keypad) between quiet handling
handling       quiet soft touches on a step-specific resonance (the default)
silence        near silence (-70 dBFS white noise)
=============  ==========================================================================

Examples
--------
>>> rng = np.random.default_rng(0)
>>> x = texture("steam", 0.5, rng)
>>> x.shape, x.dtype, bool(np.abs(x).max() <= 1.0)
((8000,), dtype('float32'), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import signal

from prism.errors import DataError

__all__ = [
    "TEXTURE_KINDS",
    "TEXTURE_LEVELS_DB",
    "TextureParams",
    "background_noise",
    "rms",
    "spectral_centroid",
    "texture",
]

_RATE = 16_000
_FADE_S = 0.02


@dataclass(frozen=True)
class TextureParams:
    """How one performance of a texture varies.

    Parameters
    ----------
    timbre : float
        Factor (> 0) on every filter cut-off, resonance and pitch (1 = nominal); per-step
        values spread steps of the same kind apart, per-user values shift them by +-20 %.
    tempo : float
        Factor (> 0) on event rates and modulation frequencies.
    gain : float
        Linear amplitude factor (>= 0) on the nominal level.
    """

    timbre: float = 1.0
    tempo: float = 1.0
    gain: float = 1.0

    def problems(self) -> list[str]:
        """What is wrong with these parameters (empty if valid)."""
        found = []
        for name in ("timbre", "tempo"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                found.append(f"{name} must be a finite number > 0, got {value}")
        if not (math.isfinite(self.gain) and self.gain >= 0):
            found.append(f"gain must be a finite number >= 0, got {self.gain}")
        return found


# ---------------------------------------------------------------- small signal helpers


def rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` (0 for an empty array)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _band(
    x: np.ndarray, low: float | None, high: float | None, rate: int, order: int = 2
) -> np.ndarray:
    """Butterworth band/low/high-pass; cut-offs are clamped to (20 Hz, 0.45 * rate)."""
    nyquist_safe = 0.45 * rate
    lo = None if low is None else min(max(low, 20.0), nyquist_safe * 0.9)
    hi = None if high is None else min(max(high, 40.0), nyquist_safe)
    if lo is not None and hi is not None:
        if hi <= lo * 1.05:
            hi = min(lo * 1.2, nyquist_safe)
            lo = hi / 1.2
        sos = signal.butter(order, [lo, hi], btype="bandpass", fs=rate, output="sos")
    elif lo is not None:
        sos = signal.butter(order, lo, btype="highpass", fs=rate, output="sos")
    elif hi is not None:
        sos = signal.butter(order, hi, btype="lowpass", fs=rate, output="sos")
    else:
        return x
    return np.asarray(signal.sosfilt(sos, x))


def _smooth_random(n: int, rate: int, changes_per_s: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random curve with values in [0, 1], about ``changes_per_s`` bumps a second."""
    knots = max(int(n / rate * changes_per_s) + 2, 2)
    values = rng.random(knots)
    # Evaluate at most 8 points per knot interval (smoothstep), then interpolate linearly.
    coarse = np.linspace(0.0, knots - 1.0, min(n, 8 * knots))
    left = np.minimum(coarse.astype(np.int64), knots - 2)
    frac = coarse - left
    curve = values[left] + (values[left + 1] - values[left]) * frac * frac * (3.0 - 2.0 * frac)
    return np.asarray(np.interp(np.linspace(0.0, knots - 1.0, n), coarse, curve))


def _on_off(
    n: int,
    rate: int,
    on_s: tuple[float, float],
    off_s: tuple[float, float],
    rng: np.random.Generator,
    *,
    ramp_s: float = 0.05,
) -> np.ndarray:
    """A gate that alternates on and off periods (starting on), with linear ramps."""
    gate = np.zeros(n)
    position, on = 0, True
    while position < n:
        low, high = on_s if on else off_s
        length = max(int(rng.uniform(low, high) * rate), 1)
        if on:
            gate[position : position + length] = 1.0
        position += length
        on = not on
    return _moving_average(gate, max(int(ramp_s * rate), 1))


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over ``width`` samples (edges padded with the end values)."""
    if width <= 1:
        return x
    padded = np.concatenate([np.full(width // 2, x[0]), x, np.full(width - width // 2, x[-1])])
    sums = np.cumsum(np.concatenate([[0.0], padded]))
    return np.asarray((sums[width : width + x.size] - sums[: x.size]) / width)


def _event_times(
    n: int, rate: int, per_s: float, rng: np.random.Generator, *, regularity: float = 0.0
) -> np.ndarray:
    """Sample indices of events: Poisson (``regularity`` 0) to nearly periodic (close to 1)."""
    if per_s <= 0:
        return np.zeros(0, dtype=np.int64)
    mean_gap = rate / per_s
    count = int(n / mean_gap * 1.5) + 4
    exponential = rng.exponential(mean_gap, count)
    jittered = mean_gap * (1.0 + 0.15 * rng.standard_normal(count))
    gaps = np.maximum(regularity * jittered + (1.0 - regularity) * exponential, 1.0)
    times = np.cumsum(gaps) - gaps[0] * rng.random()
    times = times[(times >= 0) & (times < n)]
    return np.asarray(times.astype(np.int64))


def _impulses(n: int, positions: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    train = np.zeros(n)
    np.add.at(train, positions, amplitudes)
    return train


def _resonance(
    freq: float, decay_s: float, rate: int, *, length_s: float | None = None
) -> np.ndarray:
    """A decaying sinusoid: the sound of a struck object."""
    length = int((length_s if length_s is not None else 5.0 * decay_s) * rate) + 1
    t = np.arange(length) / rate
    freq = min(freq, 0.45 * rate)
    return np.sin(2.0 * np.pi * freq * t) * np.exp(-t / decay_s)


def _struck(
    n: int, rate: int, positions: np.ndarray, amplitudes: np.ndarray, template: np.ndarray
) -> np.ndarray:
    if positions.size == 0:
        return np.zeros(n)
    out = signal.oaconvolve(_impulses(n, positions, amplitudes), template)[:n]
    return np.asarray(out)


def _harmonic_hum(
    t: np.ndarray, f0: np.ndarray | float, n_harmonics: int, tilt: float, rng: np.random.Generator
) -> np.ndarray:
    """Sum of harmonics of ``f0`` (Hz, may vary in time) with amplitudes ``k ** -tilt``."""
    dt = t[1] - t[0] if t.size > 1 else 1.0 / _RATE
    phase = 2.0 * np.pi * np.cumsum(np.broadcast_to(f0, t.shape)) * dt
    out = np.zeros_like(t)
    for k in range(1, n_harmonics + 1):
        out += k**-tilt * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return out


# ---------------------------------------------------------------- the textures
# Each private generator returns an un-normalised float64 signal of n samples.

Generator = Callable[[int, int, np.random.Generator, TextureParams], np.ndarray]


def _grinder(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    t = np.arange(n) / rate
    f0 = rng.uniform(150.0, 230.0) * p.timbre
    wobble = 1.0 + 0.015 * (_smooth_random(n, rate, 3.0, rng) - 0.5)
    hum = _harmonic_hum(t, f0 * wobble, 8, 0.8, rng)
    grit = _band(rng.standard_normal(n), 800.0 * p.timbre, 6000.0 * p.timbre, rate)
    roughness = 0.4 + _band(np.abs(rng.standard_normal(n)), None, 40.0 * p.tempo, rate) * 2.0
    gate = _on_off(n, rate, (3.0 / p.tempo, 8.0 / p.tempo), (0.4, 1.5), rng)
    return gate * (0.35 * hum + grit * roughness)


def _blender(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    t = np.arange(n) / rate
    f0 = rng.uniform(280.0, 380.0) * p.timbre
    hum = _harmonic_hum(t, f0 * (1.0 + 0.03 * _smooth_random(n, rate, 1.0, rng)), 12, 0.6, rng)
    chop_rate = rng.uniform(8.0, 15.0) * p.tempo
    chops = 0.6 + 0.4 * np.abs(np.sin(np.pi * chop_rate * t))
    noise = _band(rng.standard_normal(n), 300.0 * p.timbre, 5000.0 * p.timbre, rate)
    gate = _on_off(n, rate, (5.0 / p.tempo, 15.0 / p.tempo), (0.3, 1.0), rng)
    return np.asarray(gate * chops * (1.5 * hum + 0.6 * noise))


def _pump(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    t = np.arange(n) / rate
    mains = rng.choice([50.0, 60.0])
    buzz = np.abs(np.sin(np.pi * mains * t + rng.uniform(0, np.pi))) ** 6
    buzz = _band(buzz - buzz.mean(), 80.0 * p.timbre, 1500.0 * p.timbre, rate)
    flow = _band(rng.standard_normal(n), 1500.0 * p.timbre, 4000.0 * p.timbre, rate) * 0.15
    drips = np.zeros(n)
    positions = _event_times(n, rate, 4.0 * p.tempo, rng)
    if positions.size:
        template = _resonance(rng.uniform(1800.0, 3200.0) * p.timbre, 0.008, rate)
        drips = _struck(n, rate, positions, rng.uniform(0.2, 1.0, positions.size), template)
    return 2.0 * buzz + flow + 0.3 * drips


def _steam(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    hiss = _band(rng.standard_normal(n), 2500.0 * p.timbre, None, rate, order=4)
    swell = 0.6 + 0.4 * _smooth_random(n, rate, 0.6 * p.tempo, rng)
    centre = rng.uniform(4000.0, 6000.0) * min(p.timbre, 1.15)
    drift = centre * (1.0 + 0.05 * (_smooth_random(n, rate, 0.3, rng) - 0.5))
    whistle = np.sin(2.0 * np.pi * np.cumsum(drift) / rate) * _smooth_random(n, rate, 0.5, rng)
    return np.asarray(swell * hiss + 0.25 * whistle * rms(hiss))


def _water(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    stream = _band(rng.standard_normal(n), 400.0 * p.timbre, 4000.0 * p.timbre, rate)
    flutter = 0.5 + _band(np.abs(rng.standard_normal(n)), None, 30.0 * p.tempo, rate)
    positions = _event_times(n, rate, 30.0 * p.tempo, rng)
    bubbles = np.zeros(n)
    length = int(0.04 * rate)
    tb = np.arange(length) / rate
    for position in positions:
        f = rng.uniform(600.0, 2500.0) * p.timbre
        chirp = np.sin(2.0 * np.pi * f * (tb + 2.5 * tb * tb)) * np.exp(
            -tb / rng.uniform(0.005, 0.015)
        )
        stop = min(position + length, n)
        bubbles[position:stop] += rng.uniform(0.5, 2.0) * chirp[: stop - position]
    return stream * flutter + 0.5 * bubbles * rms(stream)


def _pouring(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    stream = _band(rng.standard_normal(n), 1000.0 * p.timbre, 5000.0 * p.timbre, rate) * 0.2
    positions = _event_times(n, rate, rng.uniform(5.0, 9.0) * p.tempo, rng, regularity=0.5)
    glugs = np.zeros(n)
    length = int(0.08 * rate)
    tg = np.arange(length) / rate
    low, high = 300.0 * p.timbre, 1200.0 * p.timbre
    for position in positions:
        f = low + (high - low) * position / max(n, 1)  # the resonance rises as it fills
        burst = np.sin(2.0 * np.pi * f * rng.uniform(0.9, 1.1) * tg) * np.exp(-tg / 0.02)
        stop = min(position + length, n)
        glugs[position:stop] += rng.uniform(0.4, 1.0) * burst[: stop - position]
    return stream + glugs


def _tapping(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    positions = _event_times(n, rate, rng.uniform(1.5, 3.5) * p.tempo, rng)
    freq = rng.uniform(1500.0, 4000.0) * p.timbre
    template = _resonance(freq, rng.uniform(0.01, 0.03), rate)
    template[: int(0.001 * rate) + 1] += rng.standard_normal(int(0.001 * rate) + 1)
    knocks = _struck(n, rate, positions, rng.uniform(0.3, 1.0, positions.size), template)
    return knocks + 0.01 * rng.standard_normal(n)


def _chopping(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    positions = _event_times(n, rate, rng.uniform(2.0, 4.0) * p.tempo, rng, regularity=0.85)
    gate = _on_off(n, rate, (3.0, 8.0), (1.0, 3.0), rng, ramp_s=0.001)
    positions = positions[gate[positions] > 0.5]
    thud = _resonance(rng.uniform(120.0, 250.0) * p.timbre, 0.04, rate)
    click = _resonance(rng.uniform(2000.0, 5000.0) * p.timbre, 0.005, rate, length_s=0.2)
    thud[: click.size] += 0.6 * click[: thud.size]
    return _struck(n, rate, positions, rng.uniform(0.6, 1.0, positions.size), thud)


def _stirring(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    t = np.arange(n) / rate
    circle = rng.uniform(1.0, 2.0) * p.tempo
    swish = _band(rng.standard_normal(n), 1500.0 * p.timbre, 5000.0 * p.timbre, rate)
    swish *= np.abs(np.sin(np.pi * circle * t + rng.uniform(0, np.pi))) ** 2
    positions = _event_times(n, rate, 0.7 * p.tempo, rng)
    clink = _resonance(rng.uniform(3000.0, 6000.0) * p.timbre, 0.08, rate)
    clinks = _struck(n, rate, positions, rng.uniform(0.5, 1.0, positions.size), clink)
    return swish + 0.5 * clinks * max(rms(swish), 1e-6) * 4.0


def _sizzle(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    hiss = _band(rng.standard_normal(n), 2000.0 * p.timbre, 8000.0, rate)
    hiss *= 0.7 + 0.3 * _smooth_random(n, rate, 0.3, rng)
    positions = _event_times(n, rate, rng.uniform(30.0, 80.0) * p.tempo, rng)
    pop = rng.standard_normal(int(0.003 * rate)) * np.exp(
        -np.arange(int(0.003 * rate)) / (0.0008 * rate)
    )
    pops = _struck(n, rate, positions, rng.exponential(1.0, positions.size), pop)
    pops = _band(pops, 1500.0 * p.timbre, None, rate)
    return hiss + 1.5 * pops * rms(hiss) / max(rms(pops), 1e-9)


def _microwave(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    t = np.arange(n) / rate
    mains = rng.choice([50.0, 60.0])
    hum = _harmonic_hum(t, 2.0 * mains * min(p.timbre, 1.2), 6, 1.0, rng)
    fan = _band(rng.standard_normal(n), 100.0 * p.timbre, 1200.0 * p.timbre, rate)
    rattle = 0.8 + 0.2 * np.sin(2.0 * np.pi * 0.1 * t)
    out = (0.6 * hum + fan) * rattle
    if n > 3 * rate:  # three beeps in the last second and a half
        tone = rng.uniform(2000.0, 3000.0) * p.timbre
        beep_len = int(0.15 * rate)
        beep = np.sin(2.0 * np.pi * tone * np.arange(beep_len) / rate) * 3.0 * rms(out)
        for k in range(3):
            start = n - int(1.4 * rate) + k * int(0.35 * rate)
            out[start : start + beep_len] += beep
    return np.asarray(out)


def _fridge(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    t = np.arange(n) / rate
    hum = 0.3 * _harmonic_hum(t, 100.0 * p.timbre, 4, 1.2, rng)
    positions = _event_times(n, rate, 0.5 * p.tempo, rng)
    clink = _resonance(rng.uniform(2000.0, 4000.0) * p.timbre, 0.15, rate)
    out = hum + _struck(n, rate, positions, rng.uniform(0.3, 1.0, positions.size), clink)
    thump = _resonance(80.0 * p.timbre, 0.05, rate) * 3.0
    seal_len = min(int(0.2 * rate), n)
    seal = _band(rng.standard_normal(seal_len), 500.0, 3000.0, rate) * np.hanning(seal_len)
    out[:seal_len] += 2.0 * seal
    for start in (0, max(n - thump.size, 0)):
        stop = min(start + thump.size, n)
        out[start:stop] += thump[: stop - start]
    return np.asarray(out)


def _rustle(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    crinkle = _band(rng.standard_normal(n), 1000.0 * p.timbre, 8000.0, rate)
    crackle = _band(np.abs(rng.standard_normal(n)), None, 30.0 * p.tempo, rate)
    crackle = np.clip(crackle, 0.0, None) ** 3
    gate = _on_off(n, rate, (0.5 / p.tempo, 2.0 / p.tempo), (0.2, 1.0), rng)
    out = gate * crinkle * crackle / max(rms(crackle), 1e-9)
    if n > rate and rng.random() < 0.6:  # a strip of tape
        length = int(rng.uniform(0.5, min(1.2, n / rate - 0.1)) * rate)
        start = int(rng.integers(0, n - length))
        screech = _band(rng.standard_normal(length), 1500.0 * p.timbre, 3000.0 * p.timbre, rate)
        out[start : start + length] += (
            1.5 * screech * np.hanning(length) * rms(out) / max(rms(screech), 1e-9)
        )
    return np.asarray(out)


def _beep(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    out = 0.02 * _handling(n, rate, rng, p)
    tone = rng.uniform(1800.0, 3000.0) * p.timbre
    length = int(rng.uniform(0.1, 0.2) * rate)
    beep = np.sin(2.0 * np.pi * tone * np.arange(length) / rate) * np.hanning(length)
    positions = _event_times(n, rate, 0.5 * p.tempo, rng, regularity=0.6)
    if positions.size == 0:
        positions = np.array([n // 3])
    return np.asarray(out + _struck(n, rate, positions, np.ones(positions.size), beep))


def _handling(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    positions = _event_times(n, rate, 1.0 * p.tempo, rng)
    touch = _resonance(rng.uniform(300.0, 1500.0) * p.timbre, rng.uniform(0.02, 0.05), rate)
    touches = _struck(n, rate, positions, rng.uniform(0.2, 1.0, positions.size), touch)
    floor = _band(rng.standard_normal(n), 200.0 * p.timbre, 2000.0 * p.timbre, rate)
    return touches + 0.1 * floor


def _silence(n: int, rate: int, rng: np.random.Generator, p: TextureParams) -> np.ndarray:
    return rng.standard_normal(n)


_GENERATORS: dict[str, Generator] = {
    "grinder": _grinder,
    "blender": _blender,
    "pump": _pump,
    "steam": _steam,
    "water": _water,
    "pouring": _pouring,
    "tapping": _tapping,
    "chopping": _chopping,
    "stirring": _stirring,
    "sizzle": _sizzle,
    "microwave": _microwave,
    "fridge": _fridge,
    "rustle": _rustle,
    "beep": _beep,
    "handling": _handling,
    "silence": _silence,
}

TEXTURE_KINDS: tuple[str, ...] = tuple(_GENERATORS)
"""Every texture kind, in the order of the module docstring's table."""

TEXTURE_LEVELS_DB: dict[str, float] = {
    "grinder": -14.0,
    "blender": -12.0,
    "pump": -20.0,
    "steam": -16.0,
    "water": -20.0,
    "pouring": -24.0,
    "tapping": -26.0,
    "chopping": -22.0,
    "stirring": -26.0,
    "sizzle": -24.0,
    "microwave": -26.0,
    "fridge": -28.0,
    "rustle": -26.0,
    "beep": -24.0,
    "handling": -38.0,
    "silence": -70.0,
}
"""Nominal RMS level of each kind (dB re full scale) before ``TextureParams.gain``."""


def texture(
    kind: str,
    duration_s: float,
    rng: np.random.Generator,
    *,
    rate: int = _RATE,
    params: TextureParams | None = None,
) -> np.ndarray:
    """Synthesize ``duration_s`` seconds of one sound texture.

    Parameters
    ----------
    kind : str
        One of :data:`TEXTURE_KINDS`.
    duration_s : float
        Length in seconds (>= 0).
    rng : np.random.Generator
        Source of randomness (same state -> same samples).
    rate : int
        Sample rate (Hz, >= 4000).
    params : TextureParams or None
        Timbre, tempo and gain (default: nominal).

    Returns
    -------
    np.ndarray [shape=(round(duration_s * rate),), float32, in [-1, 1]]
        RMS ``10 ** (TEXTURE_LEVELS_DB[kind] / 20) * params.gain`` (before clipping), with
        20 ms fades at both ends.

    Raises
    ------
    DataError
        On an unknown kind, a negative or non-finite duration, a rate below 4000 Hz or
        invalid parameters.
    """
    params = params or TextureParams()
    if kind not in _GENERATORS:
        raise DataError(f"unknown texture kind {kind!r}; known kinds: {', '.join(TEXTURE_KINDS)}")
    if not (math.isfinite(duration_s) and duration_s >= 0):
        raise DataError(f"duration_s must be a finite number >= 0, got {duration_s}")
    if rate < 4000:
        raise DataError(f"rate must be >= 4000 Hz, got {rate}")
    problems = params.problems()
    if problems:
        raise DataError("invalid texture parameters: " + "; ".join(problems))
    n = round(duration_s * rate)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    raw = _GENERATORS[kind](n, rate, rng, params)
    level = rms(raw)
    target = 10.0 ** (TEXTURE_LEVELS_DB[kind] / 20.0) * params.gain
    out = raw * (target / level) if level > 0 else raw
    fade = min(int(_FADE_S * rate), n // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
        out[:fade] *= ramp
        out[n - fade :] *= ramp[::-1]
    return np.clip(out, -1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------- background and mixing


def _pink_sos(rate: int) -> np.ndarray:
    """IIR pink-noise filter: poles every two octaves from 10 Hz, a zero an octave above each.

    Alternating poles and zeros evenly spaced in log frequency give an average slope of
    -10 dB per decade (power ~ 1/f) between about 20 Hz and 5 kHz.
    """
    poles = [10.0 * 4.0**k for k in range(8) if 10.0 * 4.0**k < 0.45 * rate]
    zeros = [2.0 * p for p in poles]
    z, p, k = signal.bilinear_zpk(
        [-2.0 * np.pi * f for f in zeros], [-2.0 * np.pi * f for f in poles], 1.0, rate
    )
    return np.asarray(signal.zpk2sos(z, p, k))


def _coloured_noise(n: int, rate: int, brown_share: float, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f) plus brown (1/f^2) noise, brown holding ``brown_share`` of the RMS."""
    white = rng.standard_normal(n)
    pink = signal.sosfilt(_pink_sos(rate), white)
    brown = signal.lfilter([1.0], [1.0, -0.995], white[::-1])  # leaky integrator
    return np.asarray(
        ((1.0 - brown_share) / max(rms(pink), 1e-12)) * pink
        + (brown_share / max(rms(brown), 1e-12)) * brown
    )


def background_noise(
    duration_s: float,
    rng: np.random.Generator,
    *,
    rate: int = _RATE,
    chatter: bool | None = None,
) -> np.ndarray:
    """Room background: pink and brown noise, sometimes distant chatter; unit RMS.

    The pink/brown balance is random; "chatter" is band-passed noise (300-3000 Hz) with
    a syllable-rate (3-6 Hz) envelope in talk spurts of 1-4 s separated by 2-10 s.

    Parameters
    ----------
    duration_s : float
        Length (s, >= 0).
    rng : np.random.Generator
        Source of randomness.
    rate : int
        Sample rate (Hz).
    chatter : bool or None
        Add chatter; None draws it with probability 0.5.

    Returns
    -------
    np.ndarray [shape=(round(duration_s * rate),), float64, RMS 1]
    """
    if not (math.isfinite(duration_s) and duration_s >= 0):
        raise DataError(f"duration_s must be a finite number >= 0, got {duration_s}")
    n = round(duration_s * rate)
    if n < 2:
        return np.zeros(n)
    noise = _coloured_noise(n, rate, rng.uniform(0.1, 0.5), rng)
    if chatter if chatter is not None else rng.random() < 0.5:
        # Envelopes at a 500 Hz control rate, interpolated once to the audio rate.
        control = 500
        m = max(round(n * control / rate), 2)
        t = np.arange(m) / control
        syllables = np.clip(
            _smooth_random(m, control, rng.uniform(6.0, 12.0), rng) - 0.3, 0.0, None
        )
        spurts = _on_off(m, control, (1.0, 4.0), (2.0, 10.0), rng, ramp_s=0.2)
        if rng.random() < 0.5:  # start in a pause half of the time
            spurts = np.roll(spurts, int(rng.uniform(1.0, 5.0) * control))
        pitch = 0.7 + 0.3 * np.sin(2.0 * np.pi * rng.uniform(0.2, 0.5) * t)
        envelope = np.interp(np.linspace(0.0, m - 1.0, n), np.arange(m), syllables * spurts * pitch)
        chat = _band(rng.standard_normal(n), 300.0, 3000.0, rate) * envelope
        noise += (0.5 / max(rms(chat), 1e-9)) * chat
    level = rms(noise)
    return noise / level if level > 0 else noise


def spectral_centroid(x: np.ndarray, *, rate: int = _RATE) -> float:
    """Power-weighted mean frequency of ``x`` (Hz); 0 for silence.

    >>> t = np.arange(16000) / 16000
    >>> round(spectral_centroid(np.sin(2 * np.pi * 1000 * t)))
    1000
    """
    power = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64))) ** 2
    total = power.sum()
    if total == 0:
        return 0.0
    return float((np.fft.rfftfreq(x.size, 1.0 / rate) * power).sum() / total)
