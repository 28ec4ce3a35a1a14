"""Tests for prism.tracker.durations: discretised gamma durations and their hazards."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import prism.tracker.durations as durations_module
from prism.procedure.model import DurationStats
from prism.tracker.durations import MIN_RELATIVE_STD, duration_pmf, hazard_from_stats

FRAME_RATES = st.sampled_from([1.0, 2.0, 5.0, 10.0, 30.0])


@st.composite
def duration_stats(draw: st.DrawFn, *, max_relative_std: float = 1.5) -> DurationStats:
    mean = draw(st.floats(0.2, 60.0))
    relative_std = draw(st.floats(0.0, max_relative_std))
    return DurationStats(mean=mean, std=mean * relative_std)


def support_for(duration: DurationStats, frame_rate: float) -> int:
    """A table long enough that the folded tail is negligible."""
    std = max(duration.std, MIN_RELATIVE_STD * duration.mean)
    return math.ceil((duration.mean + 12 * std) * frame_rate) + 20


# --- duration_pmf -------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(duration=duration_stats(), frame_rate=FRAME_RATES, max_frames=st.integers(1, 400))
def test_pmf_is_a_distribution_over_at_least_one_frame(
    duration: DurationStats, frame_rate: float, max_frames: int
) -> None:
    pmf = duration_pmf(duration, frame_rate=frame_rate, max_frames=max_frames)
    assert pmf.shape == (max_frames + 1,)
    assert pmf.dtype == np.float64
    assert np.all(pmf >= 0)
    assert pmf[0] == 0
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(duration=duration_stats(), frame_rate=FRAME_RATES)
def test_pmf_mean_matches_the_stats_mean(duration: DurationStats, frame_rate: float) -> None:
    """Rounding to whole frames keeps the mean within half a frame (all below 1.5 -> 1)."""
    assume(duration.mean * frame_rate >= 2.0)
    max_frames = support_for(duration, frame_rate)
    pmf = duration_pmf(duration, frame_rate=frame_rate, max_frames=max_frames)
    pmf_mean = float(pmf @ np.arange(max_frames + 1))
    assert pmf_mean == pytest.approx(duration.mean * frame_rate, abs=0.5)


@pytest.mark.parametrize(
    ("duration", "frame_rate"),
    [
        (DurationStats(mean=2.0, std=0.4), 5.0),
        (DurationStats(mean=45.0, std=8.0), 5.0),
        (DurationStats(mean=10.0, std=5.0), 1.0),
    ],
    ids=["docstring", "steam-milk", "wide"],
)
def test_pmf_mean_of_a_smooth_distribution_is_the_mean(
    duration: DurationStats, frame_rate: float
) -> None:
    max_frames = support_for(duration, frame_rate)
    pmf = duration_pmf(duration, frame_rate=frame_rate, max_frames=max_frames)
    mean = float(pmf @ np.arange(max_frames + 1))
    assert mean == pytest.approx(duration.mean * frame_rate, abs=0.01)


def test_pmf_of_an_exponential_is_geometric() -> None:
    """mean == std makes the gamma an exponential (mean 10 frames), rounded to frames."""
    pmf = duration_pmf(DurationStats(mean=2.0, std=2.0), frame_rate=5.0, max_frames=200)
    assert pmf[1] == pytest.approx(1.0 - np.exp(-1.5 / 10), rel=1e-9)  # (0, 1.5]
    d = np.arange(2, 200)
    expected = np.exp(-(d - 0.5) / 10) - np.exp(-(d + 0.5) / 10)
    np.testing.assert_allclose(pmf[2:200], expected, rtol=1e-9, atol=1e-15)
    assert pmf[200] == pytest.approx(np.exp(-199.5 / 10), rel=1e-6)  # the folded tail


def test_pmf_folds_the_tail_into_the_last_bin() -> None:
    pmf = duration_pmf(DurationStats(mean=10.0, std=2.0), frame_rate=5.0, max_frames=20)
    assert pmf.sum() == pytest.approx(1.0)
    assert pmf[20] > 0.99  # the mean (50 frames) lies far beyond the table


def test_pmf_std_is_at_least_the_relative_floor() -> None:
    """A zero std is widened to MIN_RELATIVE_STD of the mean, not a single spike."""
    pmf = duration_pmf(DurationStats(mean=4.0, std=0.0), frame_rate=5.0, max_frames=60)
    support = np.arange(61)
    mean = pmf @ support
    std = math.sqrt(pmf @ (support - mean) ** 2)
    assert std == pytest.approx(MIN_RELATIVE_STD * 20, rel=0.05)
    assert np.count_nonzero(pmf > 1e-3) > 3


# --- hazard_from_stats --------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    duration=duration_stats(),
    frame_rate=FRAME_RATES,
    max_frames=st.integers(1, 400),
    floor=st.sampled_from([1e-8, 1e-4, 1e-2]),
)
def test_hazard_stays_within_the_floor(
    duration: DurationStats, frame_rate: float, max_frames: int, floor: float
) -> None:
    hazard = hazard_from_stats(duration, frame_rate=frame_rate, max_frames=max_frames, floor=floor)
    assert hazard.shape == (max_frames + 1,)
    assert np.all(np.isfinite(hazard))
    assert np.all(hazard >= floor)
    assert np.all(hazard <= 1.0 - floor)
    assert hazard[0] == floor


@settings(max_examples=60, deadline=None)
@given(duration=duration_stats(), frame_rate=FRAME_RATES)
def test_hazard_is_the_pmf_over_its_survival(duration: DurationStats, frame_rate: float) -> None:
    """``h[d] = P(D = d) / P(D >= d)`` wherever it is not clipped and not in the deep tail."""
    floor = 1e-4
    max_frames = support_for(duration, frame_rate)
    pmf = duration_pmf(duration, frame_rate=frame_rate, max_frames=max_frames)
    hazard = hazard_from_stats(duration, frame_rate=frame_rate, max_frames=max_frames, floor=floor)
    survival = np.cumsum(pmf[::-1])[::-1]  # P(D >= d)
    d = np.arange(1, max_frames)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = pmf[d] / survival[d]
    checked = (survival[d] > 1e-5) & (expected > floor) & (expected < 1 - floor)
    assert checked.any()
    np.testing.assert_allclose(hazard[d][checked], expected[checked], rtol=1e-5, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(duration=duration_stats(max_relative_std=0.9), frame_rate=FRAME_RATES)
def test_hazard_of_a_peaked_gamma_never_decreases(
    duration: DurationStats, frame_rate: float
) -> None:
    """Gamma shape > 1 has an increasing hazard: the longer a step lasts, the likelier it ends.

    (The std is at least half a frame, so a mean under a frame can give shape < 1.)
    """
    assume(duration.mean * frame_rate >= 1.0)
    hazard = hazard_from_stats(
        duration, frame_rate=frame_rate, max_frames=support_for(duration, frame_rate)
    )
    assert np.all(np.diff(hazard[2:]) >= -1e-9)  # (bin 1 is (0, 1.5]: wider than the rest)


def test_hazard_of_a_tight_distribution_is_low_before_and_high_after_the_mean() -> None:
    """4 s +- 0.4 s at 5 Hz: 20 +- 2 frames."""
    floor = 1e-4
    hazard = hazard_from_stats(
        DurationStats(mean=4.0, std=0.4), frame_rate=5.0, max_frames=60, floor=floor
    )
    np.testing.assert_allclose(hazard[1:11], floor)  # well before the mean: clipped to the floor
    assert np.all(hazard[1:15] < 0.01)
    assert 0.05 < hazard[20] < 0.5  # around the mean
    assert np.all(hazard[25:] > 0.5)  # well after it: leave now
    assert hazard[40] > 0.9


def test_hazard_of_an_exponential_is_constant_after_the_first_frame() -> None:
    """Memoryless: ``h[d] = 1 - exp(-1 / mean_frames)`` for ``d >= 2``; ``h[1] = P(D = 1)``."""
    hazard = hazard_from_stats(DurationStats(mean=2.0, std=2.0), frame_rate=5.0, max_frames=100)
    np.testing.assert_allclose(hazard[2:], 1.0 - math.exp(-0.1), rtol=1e-9)
    assert hazard[2] == pytest.approx(0.0951625819640405, rel=1e-12)
    # every duration below 1.5 frames counts as one frame, and P(D >= 1) = 1
    assert hazard[1] == pytest.approx(1.0 - math.exp(-0.15), rel=1e-9)


def test_hazard_far_beyond_the_mean_is_high_not_nan() -> None:
    """Where both survivals underflow the table must not hold NaN (nor drop to the floor)."""
    hazard = hazard_from_stats(DurationStats(mean=1.0, std=0.1), frame_rate=5.0, max_frames=500)
    assert np.all(np.isfinite(hazard))
    assert np.all(hazard[20:] > 0.99)


@pytest.mark.parametrize(
    ("duration", "frame_rate"),
    [
        (DurationStats(mean=1.0, std=0.2), 5.0),
        (DurationStats(mean=45.0, std=8.0), 5.0),
        (DurationStats(mean=0.1, std=0.0), 5.0),
        (DurationStats(mean=3.0, std=1.0), 30.0),
    ],
    ids=["short", "long", "sub-frame", "high-rate"],
)
def test_hazard_and_pmf_describe_the_same_distribution(
    duration: DurationStats, frame_rate: float
) -> None:
    """Rebuilding the pmf from the hazard, ``P(D = d) = h[d] prod_{k<d} (1 - h[k])``."""
    max_frames = support_for(duration, frame_rate)
    pmf = duration_pmf(duration, frame_rate=frame_rate, max_frames=max_frames)
    hazard = hazard_from_stats(duration, frame_rate=frame_rate, max_frames=max_frames, floor=1e-12)
    survival = np.concatenate([[1.0], np.cumprod(1.0 - hazard[1:])])
    rebuilt = hazard[1:] * survival[:-1]
    np.testing.assert_allclose(rebuilt[:-1], pmf[1:-1], atol=1e-9)


def test_docstring_examples() -> None:
    """The examples in the module's docstrings give what they print."""
    result = doctest.testmod(durations_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
