"""The capacity model's pure functions (benchmarks/capacity.py): cost fits, the worker
and Redis simulations, and the sizing built on them."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity import (  # benchmarks/ is on the path (conftest)
    FrameCost,
    Memory,
    ReportError,
    capacity,
    fit_frame_cost,
    fit_memory,
    p99_wait_ms,
    sessions_at_utilization,
    sessions_per_core,
    sessions_per_redis,
    simulate_worker,
    units_needed,
)
from conftest import BENCHMARKS

COST = FrameCost(per_frame_ms=1.2, per_batch_ms=3.5)


def test_doubling_the_cost_of_a_session_halves_the_sessions_per_core() -> None:
    assert sessions_at_utilization(16.0, 0.8) == sessions_at_utilization(8.0, 0.8) / 2
    # the simulation, without noise or batch pauses: the same within the bisection's step
    quiet = {"noise": 0.0, "batch_interval_s": 0.0, "seconds": 10.0}
    once = sessions_per_core(COST, 100.0, upper=1000, **quiet)
    twice = sessions_per_core(FrameCost(2.4, 7.0), 200.0, upper=1000, **quiet)
    assert once == pytest.approx(2 * twice, rel=0.02)
    # a tighter budget (same cost): fewer sessions
    assert sessions_per_core(COST, 30.0, upper=1000, **quiet) < once


def test_fits_recover_known_costs() -> None:
    sizes = [2.0, 5.0, 13.0]
    per_frame = [COST.per_frame_ms + COST.per_batch_ms / s for s in sizes]
    assert fit_frame_cost(per_frame, sizes) == pytest.approx(COST)
    assert fit_frame_cost([2.0], [4.0]) == FrameCost(2.0, 0.0)  # one report: all per frame
    assert fit_memory([100, 200, 300], [1300.0, 1600.0, 1900.0]) == Memory(1000.0, 3.0)
    assert fit_memory([100], [1500.0]) == Memory(0.0, 15.0)


@pytest.mark.parametrize(
    ("costs", "sizes", "match"),
    [([], [], "as many positive"), ([1.0, 2.0], [1.0], "as many"), ([1.0], [0.0], "positive")],
    ids=["empty", "lengths-differ", "zero-batch"],
)
def test_fit_frame_cost_rejects_bad_input(
    costs: list[float], sizes: list[float], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        fit_frame_cost(costs, sizes)


def test_a_worker_below_saturation_answers_within_a_batch_and_one_above_queues() -> None:
    light = simulate_worker(20, COST, seconds=10.0, noise=0.0)
    assert light.utilization < 0.5 and light.p99_ms < 20.0
    assert light.latencies_ms.size == 20 * 50  # 5 frames a second for 10 s
    heavy = simulate_worker(400, COST, seconds=10.0, noise=0.0)  # 400 * 6 ms > 1 s per s
    assert heavy.utilization > 0.95 and heavy.p99_ms > 1000.0


def test_a_redis_instance_waits_longer_as_it_fills() -> None:
    assert p99_wait_ms(0, 0.1) == 0.0
    assert p99_wait_ms(100, 0.1) < p99_wait_ms(4000, 0.1)
    held = sessions_per_redis(0.5, wait_budget_ms=5.0, utilization=0.5)
    assert 0 < held <= sessions_at_utilization(0.5, 0.5)


@settings(max_examples=60, deadline=None)
@given(
    cost=st.floats(0.1, 100.0),
    more=st.floats(1.0, 10.0),
    utilization=st.floats(0.05, 1.0),
)
def test_sessions_per_core_fall_as_the_cost_rises(
    cost: float, more: float, utilization: float
) -> None:
    assert sessions_at_utilization(cost * more, utilization) <= sessions_at_utilization(
        cost, utilization
    )


@settings(max_examples=60, deadline=None)
@given(
    watches=st.integers(0, 10**7),
    extra=st.integers(0, 10**6),
    per_unit=st.floats(0.5, 1e5),
)
def test_units_needed_grow_with_the_watches_and_cover_them(
    watches: int, extra: int, per_unit: float
) -> None:
    needed = units_needed(watches, per_unit)
    assert needed <= units_needed(watches + extra, per_unit)
    assert needed * per_unit >= watches
    assert needed == 0 or (needed - 1) * per_unit < watches


def _report(sessions: int, batch: float, **fields: Any) -> dict[str, Any]:
    """A load.py report with the fields the model reads."""
    return {
        "store": "redis",
        "workers": 2,
        "pipeline_workers": 1,
        "sessions": sessions,
        "seconds": 30.0,
        "chunk_s": 0.2,
        "realtime": True,
        "p99_ms": 90.0,
        "cpu_ms_per_session_second": 8.0,
        "cpu_ms_per_frame_classified": COST.per_frame_ms + COST.per_batch_ms / batch,
        "batch_sessions_mean": batch,
        "memory_mb_idle": 1200.0,
        "memory_mb_per_session": 4.0,
        "redis_cpu_ms_per_session_second": 0.4,
        "redis_ops_per_session_second": 20.0,
        "redis_bytes_per_session_second": 40_000.0,
        "redis_memory_mb_per_session": 0.5,
        "redis_time_share": 0.05,
        "redis_ops_per_session_second_by_command": {"hmget": 5.0, "rpush": 5.0},
        **fields,
    }


def _arguments(**changes: Any) -> argparse.Namespace:
    defaults: dict[str, Any] = {
        "p99_budget_ms": 100.0,
        "redis_wait_budget_ms": 5.0,
        "redis_utilization": 0.5,
        "redis_memory_gb": 16.0,
        "network_gbit": 10.0,
        "ram_per_core_gb": 4.0,
        "machine_cores": 8,
        "noise": 0.25,
        "seconds": 10.0,
        "watches": [10_000, 100_000],
        "allow_behind": False,
    }
    return argparse.Namespace(**(defaults | changes))


def test_the_model_sizes_workers_and_redis_from_the_reports() -> None:
    model = capacity([_report(100, 4.5), _report(200, 13.0)], _arguments())
    assert model["frame_cost"] == pytest.approx({"per_frame_ms": 1.2, "per_batch_ms": 3.5})
    per_core = model["sessions_per_core"]
    assert 50 < per_core < 1000 / (5 * COST.per_frame_ms)  # below the per-frame-only bound
    assert model["simulated_at_sessions_per_core"]["p99_ms"] <= 100.0
    plan = model["plan"]
    assert plan["100000"]["worker_cores"] >= 10 * plan["10000"]["worker_cores"] - 10
    assert plan["10000"]["redis_instances"] >= 1
    assert model["cell"]["first_bottleneck"] in model["sessions_per_unit"]
    # a report of another set-up, or none that kept up, is refused with a reason
    with pytest.raises(ReportError, match="different set-ups"):
        capacity([_report(100, 4.5), _report(200, 13.0, store="sqlite")], _arguments())
    with pytest.raises(ReportError, match="allow-behind"):
        capacity([_report(100, 4.5, realtime=False)], _arguments())


def test_the_command_reads_reports_and_prints_json(tmp_path: Path) -> None:
    paths = []
    for sessions, batch in ((100, 4.5), (200, 13.0)):
        paths.append(tmp_path / f"load-{sessions}.json")
        paths[-1].write_text(json.dumps(_report(sessions, batch)))
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "capacity.py"), *map(str, paths), "--json",
         "--seconds", "5", "--watches", "10000"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    model = json.loads(result.stdout)
    assert set(model["plan"]) == {"10000"} and model["sessions_per_core"] > 0
    (tmp_path / "bad.json").write_text("{}")
    refused = subprocess.run(
        [sys.executable, str(BENCHMARKS / "capacity.py"), str(tmp_path / "bad.json")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "bad.json: not a load.py --json report" in refused.stderr
    assert np.isfinite(model["sessions_per_unit"]["redis_cpu"])
