"""Observer speed: per-frame cost of exact remaining times + reminders over a 30-minute session.

Usage::

    python benchmarks/observer_speed.py [--json] [--minutes 30] [--mc-frames 30]

Streams a simulated classifier (raw accuracy 0.55) for a slow latte-making session
stretched to the requested length through the tracker, and times
:meth:`prism.observer.Observer.observe` (remaining-time prediction and the reminder
policy) on every frame; the tracker's own cost is not included (see
``tracker_speed.py``). In the same run, on ``--mc-frames`` evenly spaced frames, a Monte
Carlo estimate in the published style (``--mc-samples`` sampled futures of the belief)
is timed for comparison.

Reports median and 99th-percentile milliseconds per frame and ``flat_ratio`` (median of
the last 1,000 frames over the first 1,000).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from prism.observer import FutureModel, Observer  # noqa: E402
from prism.observer.remaining import residual_pmf  # noqa: E402
from prism.tracker import StepTracker, TrackerState  # noqa: E402
from prism.tracker.beam import next_log_probabilities, normalised_weights  # noqa: E402
from tracker_speed import _stream, _summary  # noqa: E402


def monte_carlo_end_times(
    future: FutureModel, state: TrackerState, n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """Sampled times (bins) until the procedure ends: hypotheses drawn by weight."""
    beam, model = state.beam, future.model
    n = model.n_steps
    weights = normalised_weights(beam)
    gap = model.procedure.gap.probability
    out = np.zeros(n_samples)
    for s, i in enumerate(rng.choice(weights.size, size=n_samples, p=weights)):
        node, done = int(beam.node[i]), int(beam.done[i])
        if node == n + 1:
            continue
        in_step = node < n and not bool(beam.gap[i])
        elapsed = int((beam.frame - beam.entry[i]) / model.frame_rate / future.bin_seconds)
        source = future.durations[node] if in_step else future.gap_duration
        residual = residual_pmf(source, elapsed)
        t = rng.choice(residual.size, p=residual)
        if in_step and rng.random() < gap:
            t += rng.choice(future.gap_duration.size, p=future.gap_duration)
        for _ in range(2 * n):
            row = np.exp(
                next_log_probabilities(model, np.array([node]), np.array([done], dtype=np.uint64))
            )[0]
            node = int(rng.choice(row.size, p=row / row.sum()))
            if node == n:
                break
            done |= 1 << node
            duration = future.durations[node]
            t += rng.choice(duration.size, p=duration)
            if rng.random() < gap:
                t += rng.choice(future.gap_duration.size, p=future.gap_duration)
        out[s] = t
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--minutes", type=float, default=30.0, help="session length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mc-frames", type=int, default=30, help="frames timed for Monte Carlo")
    parser.add_argument("--mc-samples", type=int, default=1000, help="Monte Carlo samples")
    args = parser.parse_args()
    procedure, frames = _stream(args.minutes, args.seed)

    warm_tracker = StepTracker(procedure)  # type: ignore[arg-type]
    warm_observer = Observer(warm_tracker)
    for frame in frames[:200]:
        warm_observer.observe(warm_tracker.update(frame))

    tracker = StepTracker(procedure)  # type: ignore[arg-type]
    observer = Observer(tracker)
    costs = np.empty(frames.shape[0])
    mc_at = set(np.linspace(0, frames.shape[0] - 1, args.mc_frames).astype(int).tolist())
    mc_costs, reminders = [], 0
    rng = np.random.default_rng(args.seed)
    for t, frame in enumerate(frames):
        state = tracker.update(frame)
        start = time.perf_counter_ns()
        update = observer.observe(state)
        costs[t] = (time.perf_counter_ns() - start) / 1e6
        reminders += len(update.reminders)
        if t in mc_at:
            start = time.perf_counter_ns()
            monte_carlo_end_times(observer.future, state, args.mc_samples, rng)
            mc_costs.append((time.perf_counter_ns() - start) / 1e6)
    ours = _summary(costs)
    mc_median = float(np.median(mc_costs))
    report = {
        "procedure": procedure.id,  # type: ignore[attr-defined]
        "n_steps": procedure.n_steps,  # type: ignore[attr-defined]
        "n_frames": int(frames.shape[0]),
        "bin_seconds": observer.future.bin_seconds,
        "n_bins": observer.future.n_bins,
        **ours,
        "reminders": reminders,
        "monte_carlo": {"samples": args.mc_samples, "ms_per_frame_median": mc_median},
        "speedup_vs_monte_carlo_median": mc_median / ours["ms_per_frame_median"],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['procedure']}, {report['n_frames']} frames ({args.minutes:g} min at 5 Hz)")
    print(
        f"  exact observer  median {ours['ms_per_frame_median']:.3f} ms  "
        f"p99 {ours['ms_per_frame_p99']:.3f} ms  flat_ratio {ours['flat_ratio']:.2f}"
    )
    print(f"  Monte Carlo ({args.mc_samples} samples)  median {mc_median:.1f} ms")


if __name__ == "__main__":
    main()
