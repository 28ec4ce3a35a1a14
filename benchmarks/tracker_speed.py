"""Tracker speed: per-frame cost over a 30-minute latte-making session, flat over time.

Usage::

    python benchmarks/tracker_speed.py [--json] [--minutes 30]

Streams a simulated classifier (raw accuracy 0.55) for a slow latte-making session
stretched to the requested length through :class:`prism.tracker.StepTracker` as the
service runs it (with the latte model's classifier profile: the run model of
:mod:`prism.tracker.evidence`) and, in the same run, without a profile
(``without_profile``) and through two baselines on the same frames:

- ``history_beam``: the published PrISM-Tracker design, a beam of up to 50 hypotheses
  each carrying its whole step history (a list that grows by one entry per frame);
- ``hmm``: the duration-free HMM forward filter (one matrix-vector product per frame).

Reports median and 99th-percentile milliseconds per frame and ``flat_ratio``: the median
of the last 1,000 frames over the median of the first 1,000 (1.0 = flat).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from history_beam import HistoryBeamTracker  # noqa: E402
from prism.data.annotations import frame_labels  # noqa: E402
from prism.data.sampling import sample_session  # noqa: E402
from prism.data.simulated import simulate_classifier  # noqa: E402
from prism.procedure.io import load_procedure  # noqa: E402
from prism.tracker import StepTracker, TrackerConfig  # noqa: E402
from prism.tracker.evidence import ClassifierProfile  # noqa: E402
from prism.tracker.hmm import duration_free_hmm  # noqa: E402

FRAME_RATE = 5.0


def _stream(minutes: float, seed: int) -> tuple[object, np.ndarray]:
    procedure = load_procedure(ROOT / "tasks" / "latte_making" / "procedure.yaml")
    rng = np.random.default_rng(seed)
    natural = sample_session(procedure, rng)
    session = sample_session(
        procedure, np.random.default_rng(seed), duration_scale=minutes * 60.0 / natural.duration
    )
    labels = frame_labels(session, procedure.step_ids, frame_rate=FRAME_RATE)
    n_frames = int(minutes * 60 * FRAME_RATE)
    labels = np.pad(labels, (0, max(0, n_frames - labels.size)), constant_values=procedure.n_steps)
    names = [step.name for step in procedure.steps]
    probabilities = simulate_classifier(
        labels[:n_frames], n_classes=procedure.n_steps + 1, names=names, seed=seed
    )
    return procedure, probabilities


def _time_per_frame(update: Callable[[np.ndarray], object], frames: np.ndarray) -> np.ndarray:
    costs = np.empty(frames.shape[0])
    for t, frame in enumerate(frames):
        start = time.perf_counter_ns()
        update(frame)
        costs[t] = (time.perf_counter_ns() - start) / 1e6
    return costs


def _summary(costs: np.ndarray) -> dict[str, float]:
    window = min(1000, costs.size // 3)
    return {
        "ms_per_frame_median": float(np.median(costs)),
        "ms_per_frame_p99": float(np.percentile(costs, 99)),
        "flat_ratio": float(np.median(costs[-window:]) / np.median(costs[:window])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--minutes", type=float, default=30.0, help="session length")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    procedure, frames = _stream(args.minutes, args.seed)

    confusion = json.loads((ROOT / "models" / "latte_making" / "confusion_matrix.json").read_text())
    config = TrackerConfig(classifier_profile=ClassifierProfile.from_confusion(confusion["counts"]))
    warm_up = StepTracker(procedure, config)  # type: ignore[arg-type]
    for frame in frames[:200]:
        warm_up.update(frame)
    tracker = StepTracker(procedure, config)  # type: ignore[arg-type]
    ours = _summary(_time_per_frame(tracker.update, frames))
    plain = StepTracker(procedure)  # type: ignore[arg-type]
    without_profile = _summary(_time_per_frame(plain.update, frames))

    history_beam = HistoryBeamTracker(procedure, beam_width=50)  # type: ignore[arg-type]
    published = _summary(_time_per_frame(history_beam.update, frames))

    transition, initial = duration_free_hmm(procedure, frame_rate=FRAME_RATE)  # type: ignore[arg-type]
    belief = [initial]

    def hmm_update(frame: np.ndarray) -> None:
        posterior = (belief[0] @ transition) * frame
        belief[0] = posterior / posterior.sum()

    hmm = _summary(_time_per_frame(hmm_update, frames))
    report = {
        "procedure": "latte_making",
        "n_steps": procedure.n_steps,  # type: ignore[attr-defined]
        "n_frames": int(frames.shape[0]),
        "beam_width": tracker.config.beam_width,
        **ours,
        "without_profile": without_profile,
        "baselines": {"history_beam": published, "hmm": hmm},
        "speedup_vs_history_beam_median": published["ms_per_frame_median"]
        / ours["ms_per_frame_median"],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"latte_making, {report['n_frames']} frames ({args.minutes:g} min at 5 Hz)")
    for name, row in (
        ("StepTracker (classifier profile)", ours),
        ("StepTracker (no profile)", without_profile),
        ("history beam (published design)", published),
        ("duration-free HMM", hmm),
    ):
        print(
            f"  {name:34s} median {row['ms_per_frame_median']:.3f} ms  "
            f"p99 {row['ms_per_frame_p99']:.3f} ms  flat_ratio {row['flat_ratio']:.2f}"
        )


if __name__ == "__main__":
    main()
