"""Smoke tests: each benchmark runs on a small input and prints the JSON fields it promises."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_benchmark(script: str, *args: str) -> dict[str, Any]:
    """Run ``benchmarks/<script> --json ...`` with this interpreter; return its JSON."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)  # --json prints JSON only
    return report


def test_har_speed_reports_streaming_cost() -> None:
    report = run_benchmark("har_speed.py", "--seconds", "5")
    assert report["task"] == "latte_making"
    assert report["threads"] == 1
    assert report["model"] == "untrained, same architecture" or Path(report["model"]).is_dir()
    assert report["modalities"] == ["imu", "audio"]
    assert report["parameters"] > 100_000
    assert 0.1 < report["model_size_mb"] < 10
    # 25 chunks of 0.2 s; the first second gives no frame (windows reach 1 s ahead)
    assert 15 <= report["n_frames"] <= 25
    for key in ("ms_per_frame_median", "ms_per_frame_p99", "batch_ms_per_frame"):
        assert report[key] > 0, key
    assert report["ms_per_frame_median"] <= report["ms_per_frame_p99"] <= report["ms_per_frame_max"]
    assert report["meets_target"] == (report["ms_per_frame_median"] <= 5.0)


def test_tracker_speed_reports_our_tracker_and_baselines() -> None:
    report = run_benchmark("tracker_speed.py", "--minutes", "1")
    assert report["procedure"] == "latte_making"
    assert report["n_frames"] == 300
    assert report["beam_width"] >= 1
    for row in (report, *report["baselines"].values()):
        assert row["ms_per_frame_median"] > 0
        assert row["ms_per_frame_p99"] >= row["ms_per_frame_median"]
        assert row["flat_ratio"] > 0
    assert set(report["baselines"]) == {"history_beam", "hmm"}
    assert report["speedup_vs_history_beam_median"] == pytest.approx(
        report["baselines"]["history_beam"]["ms_per_frame_median"] / report["ms_per_frame_median"]
    )


def test_load_benchmark_reports_latency_cpu_and_memory() -> None:
    env = {**os.environ, "PRISM_SERVER_WARM_UP_SESSIONS": "0"}
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "load.py"), "--json", "--sessions", "3",
         "--seconds", "4", "--pipeline-workers", "0"],
        capture_output=True, text=True, timeout=180, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sessions"] == 3 and report["realtime"] is True
    assert report["frames_sent"] == 3 * 2 * 20  # IMU + audio every 0.2 s for 4 s
    assert 0 < report["p50_ms"] <= report["p99_ms"] < 1000
    assert report["latency_samples"] >= 3 and report["errors_received"] == 0
    assert report["sessions_without_final"] == 0
    assert report["cpu_percent"] > 0 and report["rss_mb"] > 50
    # the cost of one watch: CPU over the streaming window, memory over the idle service
    assert report["cpu_ms_per_session_second"] > 0
    assert sum(report["cpu_ms_per_session_second_by_process"]) == pytest.approx(
        report["cpu_ms_per_session_second"], abs=0.01
    )
    # 3 watches x 4 s complete up to 60 frames (the first second of each gives none)
    assert 0 < report["frames_classified_in_window"] <= 60
    assert report["cpu_ms_per_frame_classified"] > 0
    assert 50 < report["memory_mb_idle"] < report["rss_mb"]
    assert report["memory_mb_per_session"] > 0
    assert report["disk_mb_per_session_hour"] is None  # no growth rate before 30 s
    assert 1 <= report["batch_sessions_mean"] <= 3
    assert report["service_counters"]["frames"] == report["frames_sent"]
    # the store on disk: a size at both ends; no growth rate before 30 s of streaming
    assert 0 < report["database_mb_start"] <= report["database_mb_end"]
    assert report["database_growth_mb_per_min"] is None


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_load_benchmark_on_redis_with_two_service_processes() -> None:
    """Two service processes share a redis-server the benchmark starts; the watches are
    spread over them and Redis's costs per session are reported."""
    env = {**os.environ, "PRISM_SERVER_WARM_UP_SESSIONS": "0"}
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "load.py"), "--json", "--sessions", "4",
         "--seconds", "4", "--pipeline-workers", "0", "--store", "redis", "--workers", "2"],
        capture_output=True, text=True, timeout=180, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["store"], report["workers"], report["realtime"]) == ("redis", 2, True)
    assert len(report["cpu_ms_per_session_second_by_process"]) >= 2  # both processes
    assert report["service_counters"]["frames"] == report["frames_sent"] == 4 * 2 * 20
    assert report["sessions_without_final"] == 0 and report["errors_received"] == 0
    # every batch is one transaction: WATCH, reads, MULTI, writes, EXEC
    by_command = report["redis_ops_per_session_second_by_command"]
    assert {"watch", "multi", "exec", "rpush"} <= set(by_command) and "info" not in by_command
    assert report["redis_ops_per_session_second"] >= sum(by_command.values()) - 0.01
    assert report["redis_bytes_in_per_session_second"] > 10_000  # the audio, 32 kB/s
    assert 0 < report["redis_memory_mb_per_session"] < report["redis_memory_mb"]
    assert 0 < report["redis_time_share"] == report["store_cpu_share"] < 1
    assert report["redis_cpu_ms_per_session_second"] > 0 and report["store_wall_share"] > 0


def test_where_time_goes_gives_each_sample_to_its_innermost_known_part(tmp_path: Path) -> None:
    """numpy under the tracker counts for the tracker, torch anywhere for the network; a
    thread blocked in the event loop's select is left out."""
    (tmp_path / "process-0.txt").write_text(
        "run (asyncio/base_events.py:1);select (selectors.py:2);EpollSelector.select "
        "(selectors.py:468) 40\n"
        "step (prism/server/batches.py:3);record_many (prism/storage/sqlite.py:300) 10\n"
    )
    (tmp_path / "process-1.txt").write_text(
        "step (prism/server/pipeline.py:1);update (prism/tracker/tracker.py:2);"
        "where (numpy/_core/multiarray.py:3) 30\n"
        "step (prism/server/pipeline.py:1);embed (prism/sensing/network.py:9);"
        "forward (torch/nn/modules/conv.py:380) 60\n"
    )
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "where_time_goes.py"), str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert report["samples"] == 100 and report["samples_waiting"] == 40
    assert report["percent"] == {
        "network (torch)": 60.0,
        "tracker": 30.0,
        "storage (SQLite, Redis)": 10.0,
    }
    assert report["samples_by_process"] == {"process-0": 10, "process-1": 90}
