"""Discretised duration distributions and their hazards, in frames.

A step's duration statistics (seconds) become a gamma distribution over frames; the
tracker only needs its *hazard* ``h[d]``: the probability of leaving a step at the end
of its ``d``-th frame, given that it lasted at least ``d`` frames. Hazards are computed
once per procedure, never per frame.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from prism.procedure.model import DurationStats

__all__ = ["MIN_RELATIVE_STD", "duration_pmf", "hazard_from_stats"]

MIN_RELATIVE_STD = 0.1
"""Lower bound on std / mean: no real step lasts exactly the same time twice."""


def _gamma_frames(duration: DurationStats, frame_rate: float) -> tuple[float, float]:
    """Gamma (shape, scale in frames) matching the mean and std of ``duration``."""
    mean = duration.mean * frame_rate
    std = max(duration.std * frame_rate, MIN_RELATIVE_STD * mean, 0.5)
    shape = (mean / std) ** 2
    return shape, std**2 / mean


def duration_pmf(duration: DurationStats, *, frame_rate: float, max_frames: int) -> np.ndarray:
    """Probability that a step lasts exactly ``d`` frames (gamma duration rounded to frames).

    Parameters
    ----------
    duration : DurationStats
        Duration statistics in seconds.
    frame_rate : float
        Frames per second (Hz).
    max_frames : int
        Length of the returned support; the tail beyond it is folded into the last bin.

    Returns
    -------
    np.ndarray [shape=(max_frames + 1,), float64, sums to 1]
        ``pmf[d]`` for ``d = 0 .. max_frames``; ``pmf[0] == 0`` (a step lasts >= 1 frame).

    Examples
    --------
    >>> pmf = duration_pmf(DurationStats(mean=2.0, std=0.4), frame_rate=5.0, max_frames=40)
    >>> round(float(pmf @ np.arange(41)), 1)
    10.0
    """
    shape, scale = _gamma_frames(duration, frame_rate)
    edges = np.arange(max_frames + 1, dtype=np.float64) + 0.5
    cdf = stats.gamma.cdf(edges, shape, scale=scale)
    pmf = np.zeros(max_frames + 1)
    pmf[1] = cdf[1]
    pmf[2:] = np.diff(cdf[1:])
    pmf[-1] += 1.0 - cdf[-1]
    return np.asarray(pmf / pmf.sum())


def hazard_from_stats(
    duration: DurationStats,
    *,
    frame_rate: float,
    max_frames: int,
    floor: float = 1e-4,
    pause_share: float = 0.0,
    pause_mean_s: float = 600.0,
) -> np.ndarray:
    """Per-frame leaving probability of a step after ``d`` frames in it.

    The duration is modelled as a gamma distribution with the given mean and std,
    rounded to whole frames (``D = d`` when the duration is in ``(d - 0.5, d + 0.5]``)
    (std at least ``MIN_RELATIVE_STD`` of the mean). ``h[d] = P(D = d) / P(D >= d)``,
    evaluated in log space for stability. Beyond the table the tracker reuses the last
    entry, which tends to the gamma's asymptotic hazard, so a step that lasts much longer
    than expected can still be left. ``floor`` keeps every hazard in
    ``[floor, 1 - floor]``: a step can always end (or go on) if the evidence insists.

    With ``pause_share > 0`` the duration is a mixture: with that probability a long
    pause, exponential with mean ``pause_mean_s``, instead of the gamma. Idle time needs
    it: people start a session and wait for the kettle, or stop for ten minutes in the
    middle. The mixture's hazard falls to ``1 / pause_mean_s`` per second once the gamma
    part is spent, so a long idle costs little per frame and ends as soon as the evidence
    says so, instead of growing ever more certain that nothing will follow.

    Parameters
    ----------
    duration : DurationStats
        Duration statistics in seconds.
    frame_rate : float
        Frames per second (Hz).
    max_frames : int
        Last tabulated duration in frames (>= 1).
    floor : float
        Bound on the hazard away from 0 and 1.
    pause_share : float
        Weight in [0, 1) of the long-pause component.
    pause_mean_s : float
        Mean of the long pause in seconds (> 0).

    Returns
    -------
    np.ndarray [shape=(max_frames + 1,), float64, values in [floor, 1 - floor]]
        ``h[d]`` for ``d = 0 .. max_frames``; ``h[0] = floor`` (unused by the tracker).
    """
    shape, scale = _gamma_frames(duration, frame_rate)
    d = np.arange(max_frames + 1, dtype=np.float64)
    # D = 1 covers (0, 1.5], so P(D >= 1) = P(X > 0) = 1, not P(X > 0.5).
    before = np.where(d > 1, d - 0.5, 0.0)
    after = d + 0.5
    log_survival_before = stats.gamma.logsf(before, shape, scale=scale)
    log_survival_after = stats.gamma.logsf(after, shape, scale=scale)
    if pause_share > 0.0:
        pause_frames = pause_mean_s * frame_rate
        log_share, log_rest = np.log(pause_share), np.log1p(-pause_share)
        log_survival_before = np.logaddexp(
            log_rest + log_survival_before, log_share - before / pause_frames
        )
        log_survival_after = np.logaddexp(
            log_rest + log_survival_after, log_share - after / pause_frames
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = -np.expm1(log_survival_after - log_survival_before)
    hazard = np.nan_to_num(hazard, nan=1.0 - floor)
    hazard[0] = floor
    return np.asarray(np.clip(hazard, floor, 1.0 - floor))
