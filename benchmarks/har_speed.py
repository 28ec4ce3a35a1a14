"""HAR speed: streaming inference cost per 0.2 s frame on CPU (IMU + audio, one thread).

Usage::

    python benchmarks/har_speed.py [--json] [--seconds 60] [--task latte_making]

Uses the trained model in ``models/<task>/`` (``PRISM_MODELS_DIR``) if there is one;
otherwise trains a stand-in with the same architecture (one epoch on two short
semi-synthetic sessions, seconds): the cost per frame depends on the architecture, not
on the weights. Then streams one
seeded semi-synthetic session (:func:`prism.data.synth.synthesize_session`) of about
``--seconds`` through :class:`prism.sensing.StreamingClassifier` as a watch would: every
0.2 s a chunk of IMU rows (50 Hz) and audio samples (16 kHz) is pushed and the frames now
complete are popped. Each chunk's push + pop is timed and divided by the frames it
returned, which gives each of those frames its cost (one frame per chunk in steady
state; the first second returns none: the windows reach 1 s ahead, and a chunk whose
IMU ends just short of a window returns its frame with the next one). The mean charges
every chunk, empty ones included, to the frames. A 3 s warm-up stream runs first,
untimed.

Reports median and 99th-percentile milliseconds per frame, the offline
(``predict_proba`` on the whole session) cost per frame for comparison, the model's size
and parameter count, and which model was used. Torch runs with one thread (the
streaming default). Target: ``ms_per_frame_median <= 5``.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prism.data.recording import AUDIO_RATE_HZ, Recording
from prism.data.sampling import sample_session
from prism.data.synth import synthesize_session
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.sensing import ActivityClassifier, StreamingClassifier, TrainingConfig
from prism.settings import get_settings

CHUNK_S = 0.2
THREADS = 1
TARGET_MS = 5.0
WARM_UP_S = 3.0
UNTRAINED = "untrained, same architecture"


def _model(procedure: Procedure, models_dir: Path) -> tuple[ActivityClassifier, str, str]:
    """The saved model of the task, or a stand-in trained for one epoch on 2 short sessions."""
    directory = models_dir / procedure.id
    if (directory / "config.json").is_file():
        return ActivityClassifier.load(directory), str(directory), "trained model"
    sessions = [
        synthesize_session(procedure, seed=100 + i, session_id=f"bench-{i}", duration_scale=0.15)
        for i in range(2)
    ]
    config = TrainingConfig(seed=0, max_epochs=1, threads=THREADS, validation_fraction=0.5)
    model = ActivityClassifier.for_procedure(procedure, config=config).fit(sessions)
    note = f"no model in {directory}: 1 epoch on 2 short semi-synthetic sessions"
    return model, UNTRAINED, note


def _session(procedure: Procedure, seconds: float, seed: int) -> Recording:
    """A seeded semi-synthetic session cut to ``seconds`` (durations scaled to fit)."""
    natural = sample_session(procedure, np.random.default_rng(seed)).duration
    scale = float(np.clip(1.5 * seconds / natural, 0.05, 1.0))
    for _ in range(5):
        recording = synthesize_session(
            procedure, seed=seed, session_id="bench-stream", duration_scale=scale
        )
        if recording.duration >= seconds:
            break
        scale *= 1.5 * seconds / recording.duration
    if recording.imu is None or recording.audio is None:
        raise SystemExit("the generator made a session without IMU or audio")
    end = min(seconds, recording.duration)
    keep = recording.imu.times <= end
    imu = dataclasses.replace(
        recording.imu, times=recording.imu.times[keep], values=recording.imu.values[keep]
    )
    annotation = dataclasses.replace(recording.annotation, duration=end)
    audio = recording.audio[: round(end * AUDIO_RATE_HZ)]
    return dataclasses.replace(recording, annotation=annotation, imu=imu, audio=audio)


def _stream(
    model: ActivityClassifier, recording: Recording, seconds: float
) -> tuple[np.ndarray, float]:
    """Push 0.2 s chunks like a watch.

    Returns the ms of each frame popped while streaming (its chunk's cost shared by the
    frames it returned) and the total ms of all chunks.
    """
    if recording.imu is None or recording.audio is None:
        raise SystemExit(f"session {recording.session_id} lacks IMU or audio")
    stream = StreamingClassifier(model, threads=THREADS)
    times, values, audio = recording.imu.times, recording.imu.values, recording.audio
    per_chunk = round(CHUNK_S * AUDIO_RATE_HZ)
    costs: list[float] = []
    total = 0.0
    for k in range(int(np.ceil(seconds / CHUNK_S - 1e-9))):
        rows = (times >= k * CHUNK_S) & (times < (k + 1) * CHUNK_S)
        chunk_times, chunk_values = times[rows], values[rows]
        samples = audio[k * per_chunk : (k + 1) * per_chunk]
        start = time.perf_counter_ns()
        stream.push_imu(chunk_times, chunk_values)
        stream.push_audio(samples)
        frames = stream.pop_frames()
        elapsed = (time.perf_counter_ns() - start) / 1e6
        total += elapsed
        count = frames.shape[0]
        costs += [elapsed / count] * count if count else []
    stream.finish(duration_s=seconds)
    return np.asarray(costs), total


def _batch_ms_per_frame(model: ActivityClassifier, recording: Recording, repeats: int = 3) -> float:
    costs = []
    for _ in range(repeats):
        start = time.perf_counter()
        probabilities = model.predict_proba(recording)
        costs.append((time.perf_counter() - start) * 1e3 / probabilities.shape[0])
    return float(np.median(costs))


def _size_mb(model: ActivityClassifier, path: str) -> float:
    weights = Path(path) / "weights.pt"
    if weights.is_file():
        return weights.stat().st_size / 1e6
    buffer = io.BytesIO()
    torch.save(model.network_.state_dict(), buffer)
    return buffer.getbuffer().nbytes / 1e6


def run(task: str, seconds: float, seed: int) -> dict[str, Any]:
    """Measure and return the report (see the module docstring)."""
    torch.set_num_threads(THREADS)
    settings = get_settings()
    procedure = load_procedure(settings.tasks_dir / task / "procedure.yaml")
    model, model_name, note = _model(procedure, settings.models_dir)
    recording = _session(procedure, seconds, seed)
    duration = recording.duration
    _stream(model, _session(procedure, WARM_UP_S, seed + 1), WARM_UP_S)  # warm-up, untimed
    costs, total_ms = _stream(model, recording, duration)
    return {
        "task": task,
        "model": model_name,
        "model_note": note,
        "modalities": list(model.modalities),
        "parameters": model.network_.parameter_count(),
        "model_size_mb": round(_size_mb(model, model_name), 3),
        "threads": THREADS,
        "session_s": round(duration, 3),
        "chunk_s": CHUNK_S,
        "n_frames": int(costs.size),
        "ms_per_frame_median": float(np.median(costs)),
        "ms_per_frame_p99": float(np.percentile(costs, 99)),
        "ms_per_frame_max": float(costs.max()),
        "ms_per_frame_mean": total_ms / costs.size,
        "batch_ms_per_frame": _batch_ms_per_frame(model, recording),
        "target_ms_per_frame_median": TARGET_MS,
        "meets_target": bool(np.median(costs) <= TARGET_MS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--seconds", type=float, default=60.0, help="streamed session length")
    parser.add_argument("--task", default="latte_making", help="procedure folder under tasks/")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.seconds >= 2 * CHUNK_S:
        parser.error(f"--seconds must be >= {2 * CHUNK_S}, got {args.seconds}")
    report = run(args.task, args.seconds, args.seed)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{report['task']}: {report['n_frames']} frames streamed in {CHUNK_S} s chunks "
        f"(IMU + audio), torch threads {report['threads']}"
    )
    print(
        f"  model: {report['model']} ({report['model_note']}); {report['parameters']:,} "
        f"parameters, {report['model_size_mb']:.2f} MB"
    )
    print(
        f"  streaming  median {report['ms_per_frame_median']:.3f} ms  "
        f"p99 {report['ms_per_frame_p99']:.3f} ms  max {report['ms_per_frame_max']:.3f} ms  "
        f"mean {report['ms_per_frame_mean']:.3f} ms "
        f"per frame (target median <= {TARGET_MS} ms: "
        f"{'met' if report['meets_target'] else 'MISSED'})"
    )
    print(f"  offline    {report['batch_ms_per_frame']:.3f} ms per frame (predict_proba)")


if __name__ == "__main__":
    main()
