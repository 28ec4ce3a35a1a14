"""Exact remaining-time distributions from the tracker's belief, without sampling.

The future of a session is the tracker's own semi-Markov model run forward: each step
lasts a random time (its duration statistics, discretised to bins of ``bin_seconds``),
may be followed by an "other" gap, and the next step is drawn from the same next-step
distribution the tracker uses (graph row, done steps excluded, soft precedence, frontier
mixing; :func:`~prism.tracker.beam.next_log_probabilities`).

Two pieces make this exact and fast:

- A *kernel* per (node, done set): the distribution of the time from "the next step is
  being chosen" until each step first starts (and until the procedure ends). It is
  computed once by dynamic programming over the future (node, done set) states, level by
  level (each level starts one more step), and cached. Time distributions live in the
  Fourier domain, where adding a duration is a product, so the recursion needs no
  convolution loops and no FFT at all.
- Per frame, each hypothesis of the beam contributes the *residual* time of its current
  step or gap (its duration conditioned on the time already spent in it), combined with
  the kernel of its (node, done set); one FFT and one inverse FFT per frame.

Two approximations keep wide graphs tractable, both reported as ``pruned`` (the
probability they moved): next-step choices below ``move_floor`` are dropped (the others
renormalised), and at most ``max_states_per_level`` future states are kept per level.
Nothing is sampled, so results are deterministic; on graphs where nothing is pruned the
result is exact for the discretised model.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from prism.errors import ObserverError
from prism.procedure.model import DurationStats
from prism.tracker.beam import Beam, next_log_probabilities, normalised_weights
from prism.tracker.durations import MIN_RELATIVE_STD, duration_pmf
from prism.tracker.model import TrackingModel, compile_procedure

__all__ = [
    "BIN_CHOICES_S",
    "FutureModel",
    "RemainingTime",
    "RemainingTimeConfig",
    "TimeDistribution",
    "residual_pmf",
]

BIN_CHOICES_S = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0)
"""Bin widths (seconds) tried in order when ``bin_seconds`` is automatic."""


@dataclass(frozen=True)
class RemainingTimeConfig:
    """Settings of the remaining-time computation.

    Parameters
    ----------
    bin_seconds : float or None
        Time resolution (s). ``None``: the smallest of :data:`BIN_CHOICES_S` that covers
        the procedure within ``max_bins``.
    max_bins : int
        Largest number of time bins ``N`` (a power of two); the horizon is
        ``N * bin_seconds``.
    move_floor : float
        Next-step choices with a conditional probability below this are dropped and the
        others renormalised (smoothed, learned graphs give every step a tiny probability).
    frontier_mixing : float
        The tracker's frontier mixing for predictions (default none: the graph's own
        rows, restricted to steps not done, renormalised; see
        :func:`~prism.tracker.model.compile_procedure`).
    end_penalty : float or None
        Factor on ending the procedure with steps not done, in (0, 1]; ``None``: the
        tracker's precedence penalty (a skipped step is a departure from the procedure).
    max_states_per_level : int
        At most this many future (node, done set) states are expanded per level (the most
        probable ones; the level is renormalised).
    extra_levels : int
        Steps beyond the procedure's step count that a future may start (repeats).
    cache_size : int
        Kernels kept (least recently used ones are dropped).
    """

    bin_seconds: float | None = None
    max_bins: int = 2048
    move_floor: float = 0.01
    frontier_mixing: float = 0.0
    end_penalty: float | None = None
    max_states_per_level: int = 256
    extra_levels: int = 4
    cache_size: int = 512

    def __post_init__(self) -> None:
        if self.bin_seconds is not None and not self.bin_seconds > 0:
            raise ObserverError(f"bin_seconds must be > 0 s, got {self.bin_seconds}")
        if self.max_bins < 16 or self.max_bins & (self.max_bins - 1):
            raise ObserverError(f"max_bins must be a power of two >= 16, got {self.max_bins}")
        if not 0.0 <= self.move_floor < 1.0:
            raise ObserverError(f"move_floor must be in [0, 1), got {self.move_floor}")
        if not 0.0 <= self.frontier_mixing < 1.0:
            raise ObserverError(f"frontier_mixing must be in [0, 1), got {self.frontier_mixing}")
        for name in ("max_states_per_level", "cache_size"):
            if getattr(self, name) < 1:
                raise ObserverError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.end_penalty is not None and not 0.0 < self.end_penalty <= 1.0:
            raise ObserverError(f"end_penalty must be in (0, 1], got {self.end_penalty}")
        if self.extra_levels < 0:
            raise ObserverError(f"extra_levels must be >= 0, got {self.extra_levels}")


@dataclass(frozen=True)
class TimeDistribution:
    """The distribution of a waiting time, on bins of ``bin_seconds``.

    ``pmf[k]`` is the probability that the event happens ``k`` bins from now (bin ``k``
    covers about ``[(k - 0.5), (k + 0.5)) * bin_seconds``). The pmf may sum to less than
    1: the rest is the probability that the event never happens (e.g. a step that will
    be skipped) or lies beyond the horizon.

    Attributes
    ----------
    pmf : np.ndarray [shape=(N,), non-negative, sum <= 1]
    bin_seconds : float
    """

    pmf: np.ndarray
    bin_seconds: float

    @property
    def probability(self) -> float:
        """Probability that the event happens at all (within the horizon)."""
        return float(self.pmf.sum())

    @property
    def mean(self) -> float:
        """Expected waiting time (s) given that the event happens; NaN if it cannot."""
        total = self.pmf.sum()
        if total <= 0:
            return math.nan
        return float(self.pmf @ np.arange(self.pmf.size) / total * self.bin_seconds)

    def quantile(self, q: float) -> float:
        """Waiting time (s) by which the event has happened with probability ``q``.

        Conditional on the event happening; NaN if it cannot. ``q`` in [0, 1].
        """
        if not 0.0 <= q <= 1.0:
            raise ObserverError(f"quantile level must be in [0, 1], got {q}")
        total = self.pmf.sum()
        if total <= 0:
            return math.nan
        cdf = np.cumsum(self.pmf) / total
        return float(np.searchsorted(cdf, q - 1e-12) * self.bin_seconds)

    @property
    def entropy(self) -> float:
        """Shannon entropy (bits) of the normalised waiting-time distribution; NaN if empty."""
        total = self.pmf.sum()
        if total <= 0:
            return math.nan
        p = self.pmf[self.pmf > 0] / total
        return float(-(p * np.log2(p)).sum())

    def probability_within(self, seconds: float) -> float:
        """Probability that the event happens within ``seconds`` from now."""
        bins = int(np.floor(seconds / self.bin_seconds + 0.5))
        return float(self.pmf[: max(bins, 0) + 1].sum())


@dataclass(frozen=True)
class RemainingTime:
    """Waiting times predicted from one tracker belief.

    Attributes
    ----------
    time : float
        Session time (s) of the belief.
    step_ids : tuple of str
        Steps in class order.
    start : np.ndarray [shape=(S + 1, N)]
        Row ``j < S``: pmf of the time until step ``j`` next starts (0 if it is not going
        to start again); row ``S``: time until the procedure ends.
    finish : np.ndarray [shape=(S, N)]
        Time until step ``j`` is next finished: the rest of it when it is going on now,
        else its start plus its duration.
    pruned : float
        Probability of the futures moved by pruning (0: exact for the discretised model).
    bin_seconds : float
    """

    time: float
    step_ids: tuple[str, ...]
    start: np.ndarray
    finish: np.ndarray
    pruned: float
    bin_seconds: float

    def _index(self, step: str) -> int:
        try:
            return self.step_ids.index(step)
        except ValueError:
            raise ObserverError(
                f"unknown step {step!r}; known steps: {', '.join(self.step_ids)}"
            ) from None

    def until_start(self, step: str) -> TimeDistribution:
        """Time until ``step`` next starts."""
        return TimeDistribution(self.start[self._index(step)], self.bin_seconds)

    def until_finish(self, step: str) -> TimeDistribution:
        """Time until ``step`` is next finished (the current step: its remaining time)."""
        return TimeDistribution(self.finish[self._index(step)], self.bin_seconds)

    @property
    def until_end(self) -> TimeDistribution:
        """Time until the procedure is over (the remaining time of the task)."""
        return TimeDistribution(self.start[-1], self.bin_seconds)


def residual_pmf(pmf: np.ndarray, elapsed_bins: int) -> np.ndarray:
    """Remaining time of a segment with duration pmf ``pmf`` that has lasted ``elapsed_bins``.

    ``residual[k] = pmf[elapsed + k] / P(D > elapsed)`` for ``k >= 1``; past the support
    the segment ends in the next bin.

    Parameters
    ----------
    pmf : np.ndarray [shape=(N,), sums to 1]
        Duration in bins (``pmf[0] == 0``).
    elapsed_bins : int
        Whole bins already spent, >= 0.

    Returns
    -------
    np.ndarray [shape=(N,), sums to 1, zero at 0]

    Examples
    --------
    >>> residual_pmf(np.array([0.0, 0.5, 0.25, 0.25]), 1).tolist()
    [0.0, 0.5, 0.5, 0.0]
    """
    out = np.zeros_like(pmf)
    tail = pmf[elapsed_bins + 1 :]
    total = tail.sum()
    if total > 1e-12:
        out[1 : 1 + tail.size] = tail / total
    else:
        out[1] = 1.0
    return out


def _group_sum(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` ``(K, F)`` by group index ``groups`` ``(K,)`` -> ``(G, F)``.

    (``np.add.at`` does the same but is slow on complex rows.)
    """
    out = np.zeros((n_groups, values.shape[1]), dtype=values.dtype)
    if groups.size == 0:
        return out
    order = np.argsort(groups, kind="stable")
    ordered = groups[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    out[ordered[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out


def _support_bins(duration: DurationStats, bin_seconds: float) -> int:
    spread = max(duration.std, MIN_RELATIVE_STD * duration.mean)
    return math.ceil((duration.mean + 8.0 * spread) / bin_seconds) + 1


def _horizon_seconds(model: TrackingModel) -> float:
    """A time beyond which a whole procedure ends with negligible probability."""
    procedure = model.procedure
    means = [s.duration.mean for s in procedure.steps]
    variances = [
        max(s.duration.std, MIN_RELATIVE_STD * s.duration.mean) ** 2 for s in procedure.steps
    ]
    gap = procedure.gap
    gap_mean = gap.probability * gap.duration.mean * (procedure.n_steps + 1)
    longest = max(s.duration.mean + 8 * s.duration.std for s in procedure.steps)
    return 1.5 * (sum(means) + gap_mean) + 6.0 * math.sqrt(sum(variances)) + longest


class FutureModel:
    """Compiled remaining-time predictor for one tracking model (holds the kernel cache).

    Parameters
    ----------
    model : TrackingModel
        The tracker's compiled procedure (``StepTracker.model``).
    config : RemainingTimeConfig

    Examples
    --------
    >>> from prism.procedure import DurationStats, Procedure, Step
    >>> from prism.tracker import StepTracker
    >>> from prism.procedure.model import GapModel
    >>> d = DurationStats(mean=10.0, std=2.0)
    >>> p = Procedure(id="tea", name="Tea", gap=GapModel(probability=0.0),
    ...     steps=(Step("boil", "Boil", "", d), Step("steep", "Steep", "", d)),
    ...     transitions={"start": {"boil": 1.0}, "boil": {"steep": 1.0}, "steep": {"end": 1.0}})
    >>> tracker = StepTracker(p)
    >>> future = FutureModel(tracker.model)
    >>> for _ in range(10):  # two seconds of boiling
    ...     state = tracker.update([0.9, 0.05, 0.05])
    >>> round(future.predict(state.beam).until_start("steep").mean)
    8
    """

    def __init__(self, model: TrackingModel, config: RemainingTimeConfig | None = None) -> None:
        self.model = model
        self.config = config or RemainingTimeConfig()
        horizon = _horizon_seconds(model)
        if self.config.bin_seconds is not None:
            self.bin_seconds = float(self.config.bin_seconds)
        else:
            fitting = [b for b in BIN_CHOICES_S if horizon / b <= self.config.max_bins]
            self.bin_seconds = fitting[0] if fitting else horizon / self.config.max_bins
        needed = max(16, math.ceil(horizon / self.bin_seconds))
        self.n_bins = min(self.config.max_bins, 1 << (needed - 1).bit_length())
        procedure = model.procedure
        self.durations = np.stack([self._binned(s.duration) for s in procedure.steps])
        self.gap_duration = self._binned(procedure.gap.duration)
        # Row i < S: step i; row S: a gap (or the start), for the residual times.
        self._segment_durations = np.vstack([self.durations, self.gap_duration])
        gap_mixture = procedure.gap.probability * self.gap_duration
        gap_mixture[0] += 1.0 - procedure.gap.probability
        self._gap_f = np.fft.rfft(gap_mixture)
        self._duration_f = np.fft.rfft(self.durations, axis=1)
        # Entering step m: its duration, then maybe a gap, until the next step is chosen.
        self._leave_f = self._duration_f * self._gap_f
        self._prediction_model = compile_procedure(
            procedure,
            frame_rate=model.frame_rate,
            precedence_penalty=model.precedence_penalty,
            frontier_mixing=self.config.frontier_mixing,
            end_penalty=(
                model.precedence_penalty
                if self.config.end_penalty is None
                else self.config.end_penalty
            ),
        )
        self._cache: OrderedDict[Hashable, tuple[np.ndarray, float]] = OrderedDict()

    def _binned(self, duration: DurationStats) -> np.ndarray:
        """Duration pmf over ``n_bins`` bins of ``bin_seconds``, shape ``(N,)``."""
        support = min(self.n_bins - 1, _support_bins(duration, self.bin_seconds))
        pmf = duration_pmf(duration, frame_rate=1.0 / self.bin_seconds, max_frames=support)
        return np.pad(pmf, (0, self.n_bins - pmf.size))

    @property
    def cached_kernels(self) -> int:
        """Kernels in the cache (at most ``config.cache_size``)."""
        return len(self._cache)

    @property
    def horizon_seconds(self) -> float:
        """Longest waiting time represented: ``n_bins * bin_seconds``."""
        return self.n_bins * self.bin_seconds

    def kernel(self, node: int, done: int) -> tuple[np.ndarray, float]:
        """Time from choosing the next step at ``(node, done set)`` to each first start.

        Parameters
        ----------
        node : int
            The step just finished (``S``: the start of the procedure).
        done : int
            Bit mask of the steps done so far.

        Returns
        -------
        kernel : np.ndarray [shape=(S + 1, N // 2 + 1), complex64]
            Fourier transform of the pmf of the time until each step first starts
            (sub-stochastic: a step may never start); row ``S`` is the end.
        pruned : float
            Probability of the choices dropped by pruning (an error bound).
        """
        key = (node, done)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        result = self._compute_kernel(node, done)
        self._cache[key] = result
        if len(self._cache) > self.config.cache_size:
            self._cache.popitem(last=False)
        return result

    def _compute_kernel(self, node: int, done: int) -> tuple[np.ndarray, float]:
        n = self.model.n_steps
        n_freq = self.n_bins // 2 + 1
        kernel = np.zeros((n + 1, n_freq), dtype=np.complex128)
        bits = np.uint64(1) << np.arange(n, dtype=np.uint64)
        # Choice points of one level: node just left, done set, steps started since the
        # root (for first starts of repeatable steps), and the Fourier transform of the
        # time at which the choice is made (its value at frequency 0 is the probability).
        nodes = np.array([node], dtype=np.int64)
        dones = np.array([done], dtype=np.uint64)
        since = np.array([0], dtype=np.uint64)
        times = np.ones((1, n_freq), dtype=np.complex128)
        pruned = 0.0
        for _ in range(n + self.config.extra_levels + 1):
            mass = times[:, 0].real
            choices = np.exp(next_log_probabilities(self._prediction_model, nodes, dones))
            kept = choices >= self.config.move_floor
            kept_total = (choices * kept).sum(axis=1)
            pruned += float(mass @ (1.0 - kept_total))
            row, column = np.nonzero(kept)
            probability = choices[row, column] / kept_total[row]
            entering = times[row] * probability[:, None]
            is_end = column == n
            first = is_end.copy()
            first[~is_end] = (since[row[~is_end]] & bits[column[~is_end]]) == 0
            kernel += _group_sum(entering[first], column[first], n + 1)
            go_on = ~is_end
            if not go_on.any():
                nodes = nodes[:0]
                break
            row, column, entering = row[go_on], column[go_on], entering[go_on]
            added = bits[column]
            keys = np.stack([column.astype(np.uint64), dones[row] | added, since[row] | added])
            unique, inverse = np.unique(keys, axis=1, return_inverse=True)
            times = _group_sum(entering, inverse.reshape(-1), unique.shape[1])
            if unique.shape[1] > self.config.max_states_per_level:
                level_mass = times[:, 0].real
                keep = np.argsort(-level_mass)[: self.config.max_states_per_level]
                dropped = level_mass.sum() - level_mass[keep].sum()
                pruned += float(dropped)
                unique, times = (
                    unique[:, keep],
                    times[keep] * (level_mass.sum() / level_mass[keep].sum()),
                )
            nodes = unique[0].astype(np.int64)
            dones, since = unique[1], unique[2]
            times *= self._leave_f[nodes]
        pruned += float(times[:, 0].real.sum()) if nodes.size else 0.0
        return kernel.astype(np.complex64), pruned

    def _residuals(self, beam: Beam, weights: np.ndarray, in_step: np.ndarray) -> np.ndarray:
        """Weighted remaining time of each hypothesis's current step or gap, ``(B, N)``."""
        n, size = self.model.n_steps, self.n_bins
        table = self._segment_durations
        elapsed_s = (beam.frame - beam.entry) / self.model.frame_rate
        elapsed = np.floor(elapsed_s / self.bin_seconds + 1e-9).astype(np.int64)
        index = elapsed[:, None] + np.arange(size)[None, :]
        source = np.where(in_step, beam.node, n)
        values = table[source[:, None], np.minimum(index, size - 1)] * (index < size)
        values[:, 0] = 0.0
        total = values.sum(axis=1)
        exhausted = total <= 1e-12
        values[exhausted, 1] = 1.0  # lasted beyond its support: ends in the next bin
        total[exhausted] = 1.0
        return np.asarray(values * (weights / total)[:, None])

    def predict(self, beam: Beam) -> RemainingTime:
        """Waiting-time distributions for the belief ``beam`` (``TrackerState.beam``).

        Cost: one residual per hypothesis, one FFT over the distinct (node, done set)
        pairs, cached kernels, one inverse FFT; independent of the session's length.
        """
        n, size = self.model.n_steps, self.n_bins
        weights = normalised_weights(beam)
        ended = beam.node == n + 1
        in_step = (beam.node < n) & ~beam.gap
        residual = self._residuals(beam, weights, in_step)
        current = _group_sum(residual[in_step], beam.node[in_step], n)
        # The time at which each hypothesis chooses its next step: after the rest of its
        # step and maybe a gap, or after the rest of its gap (or of the start).
        active = np.flatnonzero(~ended)
        keys = np.stack([beam.node[active].astype(np.uint64), beam.done[active]])
        unique, inverse = np.unique(keys, axis=1, return_inverse=True)
        residual_f = np.fft.rfft(residual[active], axis=1)
        residual_f[in_step[active]] *= self._gap_f
        choose_f = _group_sum(residual_f, inverse.reshape(-1), unique.shape[1])
        # Hypotheses in a step should not have it "next finished" by a repeat.
        running = np.zeros((unique.shape[1], n), dtype=bool)
        running[inverse.reshape(-1)[in_step[active]], beam.node[active][in_step[active]]] = True
        start_f = np.zeros((n + 1, size // 2 + 1), dtype=np.complex128)
        finish_f = np.zeros((n, size // 2 + 1), dtype=np.complex128)
        pruned = 0.0
        for g in range(unique.shape[1]):
            kernel, lost = self.kernel(int(unique[0, g]), int(unique[1, g]))
            contribution = kernel * choose_f[g]
            start_f += contribution
            finish_f += contribution[:n] * ~running[g][:, None]
            pruned += lost * float(choose_f[g, 0].real)
        finish_f *= self._duration_f
        times = np.fft.irfft(np.concatenate([start_f, finish_f]), n=size, axis=1)
        times = np.clip(times, 0.0, None)
        start, finish = times[: n + 1], times[n + 1 :] + current
        start[n, 0] += float(weights[ended].sum())
        return RemainingTime(
            time=beam.frame / self.model.frame_rate,
            step_ids=self.model.procedure.step_ids,
            start=start,
            finish=finish,
            pruned=pruned,
            bin_seconds=self.bin_seconds,
        )
