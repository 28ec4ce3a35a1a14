"""The sharded pipeline: the same events as the local one, errors across the pipe."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from conftest import assert_same_events, numbered_frames
from prism.data.recording import read_recording
from prism.errors import PrismError, WorkerLostError
from prism.protocol import Question
from prism.server.pipeline import LocalPipeline, UnknownSessionError
from prism.server.shards import ShardedPipeline
from prism.watch.replay import sensor_frames

RECORDINGS = [read_recording(Path(f"datasets/demo/latte_making-s00{i}")) for i in (0, 1)]


def test_sharded_pipeline_equals_the_local_one() -> None:
    local = LocalPipeline(Path("tasks"), Path("models"))
    sharded = ShardedPipeline(Path("tasks"), Path("models"), workers=2)
    try:
        assert len(set(sharded.pids)) == 2
        names = [f"ses-{i}" for i in range(4)] + ["ses-private"]
        for pipeline in (local, sharded):
            for name in names:
                pipeline.open(name, "latte_making", name == "ses-private")
        frames = [numbered_frames(sensor_frames(r, chunk_s=0.5)[:60]) for r in RECORDINGS * 2]
        private = sensor_frames(RECORDINGS[0], chunk_s=0.5, audio_rate=1000)  # privacy model
        frames.append(numbered_frames(private[:60]))
        got: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        want: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for start in range(0, 60, 6):
            batch = {
                n: [b for _, b in f[start : start + 6]] for n, f in zip(names, frames, strict=True)
            }
            for pipeline, out in ((local, want), (sharded, got)):
                for name, result in pipeline.step(batch).items():
                    out[name].extend(e.message(0) for e in result.events)
        for name in names:
            assert_same_events(got[name], want[name])
        question = Question(type="question", seq=1, text="what's next?", t=0.0)
        assert sharded.control(names[0], question)[0].kind == "answer"
        assert sharded.snapshot(names[1])["procedure"] == "latte_making"
        with pytest.raises(UnknownSessionError, match="ses-nope"):
            sharded.snapshot("ses-nope")
        with pytest.raises(PrismError):
            sharded.open("ses-x", "no_such_procedure")
        assert sharded.snapshot(names[2])["time_s"] > 0  # the worker went on after errors
    finally:
        sharded.close()


def test_a_killed_worker_is_restarted_and_refuses_calls_until_its_sessions_are_back() -> None:
    sharded = ShardedPipeline(Path("tasks"), Path("models"), workers=1)
    try:
        sharded.open("ses-a", "latte_making")
        frames = [b for _, b in numbered_frames(sensor_frames(RECORDINGS[0], chunk_s=0.5)[:20])]
        sharded.step({"ses-a": frames[:10]})
        (killed,) = sharded.pids
        os.kill(killed, signal.SIGKILL)
        with pytest.raises(WorkerLostError, match=rf"pid {killed}\) died") as lost:
            sharded.step({"ses-a": frames[10:]})
        assert lost.value.lane == 0 and sharded.pids != [killed]
        with pytest.raises(WorkerLostError, match="not rebuilt yet"):
            sharded.snapshot("ses-a")
        sharded.replay("ses-a", "latte_making", [])  # rebuilding goes through
        sharded.restored(0)
        sharded.step({"ses-a": frames[:10]})
        assert sharded.snapshot("ses-a")["time_s"] > 0
    finally:
        sharded.close()
