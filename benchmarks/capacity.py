"""Capacity: how many cores and Redis instances 10,000 to 1,000,000 watches need.

Usage::

    python benchmarks/capacity.py LOAD.json [LOAD.json ...] [--p99-budget-ms 100]
                                  [--watches 10000 100000 1000000] [--json]

Reads reports of ``benchmarks/load.py --json`` (measured on this project's service, see
``docs/scaling.md``) and replays their per-session costs in simulations:

- **A worker core** is a batching server: each session sends one frame every
  ``chunk_s`` (0.2 s) at its own phase; whenever the core is free it takes every frame
  waiting (after the service's ``batch_interval_s`` pause) and spends
  ``per_batch_ms + per_frame_ms * frames`` of CPU on the batch, times a log-normal
  factor (``--noise``) for the spread of real batches. A frame's latency is from its
  arrival to the end of its batch. ``per_frame_ms`` and ``per_batch_ms`` are fitted to
  the reports' ``cpu_ms_per_frame_classified`` against their mean batch size
  (:func:`fit_frame_cost`): the service's CPU time of every process (front, pipeline
  workers) is charged to the core, so a core here is one core's worth of the whole
  service, not one process. ``sessions_per_core`` is the most sessions whose simulated
  p99 latency stays within ``--p99-budget-ms`` (bisection, :func:`sessions_per_core`).
- **A Redis instance** is a first-in first-out server on one core (Redis runs commands
  on one thread): each session's writes arrive as the frames do, each taking
  ``redis_cpu_ms_per_session_second * chunk_s`` of its CPU; ``sessions_per_redis`` is
  the most sessions whose p99 wait stays within ``--redis-wait-budget-ms`` and whose
  utilization stays under ``--redis-utilization`` (room for the append-only file's
  rewrites), and no more than its memory (``--redis-memory-gb`` over
  ``redis_memory_mb_per_session``) and network (``--network-gbit`` times the utilization
  over ``redis_bytes_per_session_second``) hold. A service that fell behind put several
  frames of a session in one transaction, so Redis's commands and CPU per session are
  taken from the report whose sessions were in the most transactions per second and
  scaled up to one transaction per frame (``per_batch_scale``): what a service that keeps
  up sends. Bytes and memory do not depend on the batching (the mean of the reports).

A ``load.py`` report is only used if it kept up (``realtime``), unless
``--allow-behind``: its CPU time per frame classified is still the cost of the work it
did (``load.py``'s docstring), but a service that fell behind batched more frames than
it would have at that load, so its cost is the cost of larger batches. Hand-written rather than
a simulation library: the two servers are a few lines of numpy each (no simpy here).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FrameCost",
    "Memory",
    "ReportError",
    "WorkerRun",
    "capacity",
    "fit_frame_cost",
    "fit_memory",
    "p99_wait_ms",
    "sessions_at_utilization",
    "sessions_per_core",
    "sessions_per_redis",
    "simulate_worker",
    "units_needed",
]

FRAME_S = 0.2
"""Session time per frame (s): a watch completes one frame every 0.2 s."""


class ReportError(ValueError):
    """A load report that cannot be used, naming the file and what is wrong."""


@dataclass(frozen=True)
class FrameCost:
    """The service's CPU cost of frames (ms): each batch costs ``per_batch_ms`` plus
    ``per_frame_ms`` per frame in it."""

    per_frame_ms: float
    per_batch_ms: float

    def per_session_second_ms(self, batch_frames: float, *, frame_s: float = FRAME_S) -> float:
        """CPU ms per session-second in batches of ``batch_frames`` frames.

        >>> FrameCost(1.0, 4.0).per_session_second_ms(4.0)
        10.0
        """
        return (self.per_frame_ms + self.per_batch_ms / batch_frames) / frame_s


def fit_frame_cost(per_frame_ms: Sequence[float], batch_frames: Sequence[float]) -> FrameCost:
    """Least-squares ``per_frame_ms[i] = f + b / batch_frames[i]`` (ms).

    With one report, or when the fit is not positive (noise between runs), the cost is
    all per frame: ``b = 0`` and ``f`` the mean, which overstates large batches' cost.

    >>> fit_frame_cost([2.0, 1.5], [4.0, 8.0])
    FrameCost(per_frame_ms=1.0, per_batch_ms=4.0)
    """
    costs, sizes = np.asarray(per_frame_ms, float), np.asarray(batch_frames, float)
    if costs.size == 0 or costs.shape != sizes.shape or np.any(sizes <= 0) or np.any(costs <= 0):
        raise ValueError(
            f"fit_frame_cost: needs as many positive costs as positive batch sizes "
            f"(got {costs.tolist()} and {sizes.tolist()})"
        )
    if np.unique(sizes).size > 1:
        design = np.column_stack([np.ones_like(sizes), 1.0 / sizes])
        f, b = np.linalg.lstsq(design, costs, rcond=None)[0]
        if f > 0 and b >= 0:
            return FrameCost(round(float(f), 6), round(float(b), 6))
    return FrameCost(float(costs.mean()), 0.0)


@dataclass(frozen=True)
class Memory:
    """Resident memory of the service (MB): ``fixed_mb`` (processes, models, caches)
    plus ``per_session_mb`` per open session."""

    fixed_mb: float
    per_session_mb: float


def fit_memory(sessions: Sequence[float], resident_mb: Sequence[float]) -> Memory:
    """Least-squares ``resident_mb[i] = fixed + per_session * sessions[i]``.

    With one session count, or a slope that is not positive (noise), the per-session
    memory is the mean of ``resident / sessions`` and nothing is fixed (an overstatement).

    >>> fit_memory([100, 200], [1500.0, 1700.0])
    Memory(fixed_mb=1300.0, per_session_mb=2.0)
    """
    n, rss = np.asarray(sessions, float), np.asarray(resident_mb, float)
    if n.size == 0 or n.shape != rss.shape or np.any(n <= 0) or np.any(rss <= 0):
        raise ValueError(
            f"fit_memory: needs as many positive session counts as positive sizes "
            f"(got {n.tolist()} and {rss.tolist()})"
        )
    if np.unique(n).size > 1:
        slope, intercept = np.polyfit(n, rss, 1)
        if slope > 0 and intercept >= 0:
            return Memory(round(float(intercept), 6), round(float(slope), 6))
    return Memory(0.0, float(np.mean(rss / n)))


def sessions_at_utilization(cost_ms_per_session_second: float, utilization: float) -> float:
    """Sessions one core carries at ``utilization`` (0-1] of its time, each costing
    ``cost_ms_per_session_second`` of CPU: the bound with no latency target.

    >>> sessions_at_utilization(8.0, 0.8)
    100.0
    """
    if cost_ms_per_session_second <= 0 or not 0 < utilization <= 1:
        raise ValueError(
            "sessions_at_utilization: needs a positive cost and a utilization in (0, 1] "
            f"(got {cost_ms_per_session_second}, {utilization})"
        )
    return 1e3 * utilization / cost_ms_per_session_second


@dataclass(frozen=True)
class WorkerRun:
    """What :func:`simulate_worker` saw.

    Attributes
    ----------
    latencies_ms : np.ndarray [shape=(n_frames,), non-negative]
        Each frame's arrival to the end of its batch (ms).
    batch_frames : float
        Mean frames per batch.
    utilization : float
        The core's busy share of the time, in [0, 1].
    """

    latencies_ms: np.ndarray
    batch_frames: float
    utilization: float

    @property
    def p99_ms(self) -> float:
        """The 99th percentile of the latencies (ms)."""
        return float(np.percentile(self.latencies_ms, 99)) if self.latencies_ms.size else 0.0


def simulate_worker(
    sessions: int,
    cost: FrameCost,
    *,
    seconds: float = 30.0,
    frame_s: float = FRAME_S,
    batch_interval_s: float = 0.005,
    noise: float = 0.25,
    seed: int = 0,
) -> WorkerRun:
    """``sessions`` on one core for ``seconds`` (module docstring), seeded."""
    rng = np.random.default_rng(seed)
    phases = (np.arange(sessions) + rng.uniform(0, 1, sessions)) * frame_s / sessions
    arrivals = np.sort(
        (phases[None, :] + frame_s * np.arange(int(seconds / frame_s))[:, None]).ravel()
    )
    latencies = np.empty(arrivals.size)
    free_at, taken, busy_s, batches = 0.0, 0, 0.0, 0
    while taken < arrivals.size:
        start = max(free_at, arrivals[taken]) + batch_interval_s
        end_index = int(np.searchsorted(arrivals, start, side="right"))
        frames = end_index - taken
        factor = rng.lognormal(-(noise**2) / 2, noise) if noise > 0 else 1.0
        spent = factor * (cost.per_batch_ms + cost.per_frame_ms * frames) / 1e3
        free_at, busy_s, batches = start + spent, busy_s + spent, batches + 1
        latencies[taken:end_index] = free_at - arrivals[taken:end_index]
        taken = end_index
    return WorkerRun(latencies * 1e3, arrivals.size / max(1, batches), float(busy_s / free_at))


def sessions_per_core(
    cost: FrameCost, p99_budget_ms: float, *, upper: int = 5000, **simulation: Any
) -> int:
    """The most sessions one core carries with the simulated p99 latency
    (:func:`simulate_worker`) within ``p99_budget_ms``; 0 if not even one.

    Bisection: the p99 grows with the sessions (more frames per batch, then a queue
    once the core is saturated).
    """

    def fits(n: int) -> bool:
        return n == 0 or simulate_worker(n, cost, **simulation).p99_ms <= p99_budget_ms

    low, high = 0, upper
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def p99_wait_ms(
    sessions: int,
    service_ms: float,
    *,
    seconds: float = 2.0,
    frame_s: float = FRAME_S,
    noise: float = 0.25,
    seed: int = 0,
) -> float:
    """p99 wait (ms) of requests at a first-in first-out server (one Redis instance):
    each of ``sessions`` sends one request every ``frame_s`` (random phase, Poisson
    jitter of its timing), each taking ``service_ms`` times a log-normal factor.
    Lindley's recursion ``w[i+1] = max(0, w[i] + s[i] - gap[i])``."""
    if sessions == 0:
        return 0.0
    rng = np.random.default_rng(seed)
    count = max(1, int(sessions * seconds / frame_s))
    gaps = rng.exponential(frame_s / sessions, count)
    service = service_ms / 1e3 * rng.lognormal(-(noise**2) / 2, noise, count)
    wait, waits = 0.0, np.empty(count)
    for i in range(count):
        waits[i] = wait
        wait = max(0.0, wait + service[i] - gaps[i])
    return float(np.percentile(waits, 99)) * 1e3


def sessions_per_redis(
    redis_cpu_ms_per_session_second: float,
    *,
    wait_budget_ms: float,
    utilization: float,
    frame_s: float = FRAME_S,
    **simulation: Any,
) -> int:
    """The most sessions one Redis instance's thread serves within ``utilization`` and
    with a p99 wait (:func:`p99_wait_ms`) within ``wait_budget_ms``."""
    bound = int(sessions_at_utilization(redis_cpu_ms_per_session_second, utilization))
    service_ms = redis_cpu_ms_per_session_second * frame_s
    low, high = 0, bound
    while low < high:
        middle = (low + high + 1) // 2
        if p99_wait_ms(middle, service_ms, frame_s=frame_s, **simulation) <= wait_budget_ms:
            low = middle
        else:
            high = middle - 1
    return low


def units_needed(watches: int, sessions_per_unit: float) -> int:
    """Units (cores, Redis instances) for ``watches`` at ``sessions_per_unit`` each.

    >>> units_needed(10_000, 150)
    67
    """
    if sessions_per_unit <= 0:
        raise ValueError(
            f"units_needed: sessions per unit must be positive (got {sessions_per_unit})"
        )
    return math.ceil(watches / sessions_per_unit)


def _read(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ReportError(f"{path}: not a readable load report ({error})") from None
    needed = ("sessions", "realtime", "cpu_ms_per_frame_classified", "batch_sessions_mean")
    missing = [key for key in needed if report.get(key) is None]
    if missing:
        raise ReportError(f"{path}: not a load.py --json report (missing {', '.join(missing)})")
    return dict(report)


_REPORTED = (
    "store",
    "workers",
    "sessions",
    "seconds",
    "realtime",
    "p99_ms",
    "batch_sessions_mean",
    "cpu_ms_per_frame_classified",
    "cpu_ms_per_session_second",
)
"""The fields of each load report repeated in the model's ``reports``."""


def _session_batches(report: dict[str, Any]) -> float:
    """How often a session was in a Redis transaction, per session-second: its
    ``HMGET`` rate (one per session per transaction attempt; a session in every batch
    is in ``1 / chunk_s`` a second)."""
    return float(report["redis_ops_per_session_second_by_command"].get("hmget", 0.0)) or (
        1.0 / FRAME_S
    )


def capacity(reports: Sequence[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The capacity model from load reports that kept up (module docstring)."""
    used = [r for r in reports if r["realtime"] or args.allow_behind]
    if not used:
        raise ReportError(
            "no load report kept up (realtime false in every one; --allow-behind uses them)"
        )
    setups = {(r.get("store", "sqlite"), r.get("workers", 1)) for r in used}
    if len(setups) > 1:
        raise ReportError(
            f"the reports measured different set-ups (store, workers: {sorted(setups)}): "
            "give the model the reports of one"
        )
    frame_s = float(used[0].get("chunk_s", FRAME_S))
    cost = fit_frame_cost(
        [r["cpu_ms_per_frame_classified"] for r in used],
        [r["batch_sessions_mean"] for r in used],
    )
    simulation = {"seconds": args.seconds, "noise": args.noise, "frame_s": frame_s}
    per_core = sessions_per_core(cost, args.p99_budget_ms, **simulation)
    at_budget = simulate_worker(max(1, per_core), cost, **simulation)
    largest = max(used, key=lambda r: r["sessions"])
    memory = fit_memory(
        [r["sessions"] for r in used],
        [r["memory_mb_idle"] + r["memory_mb_per_session"] * r["sessions"] for r in used],
    )
    memory_mb = memory.per_session_mb
    lanes = largest.get("workers", 1) * max(1, largest.get("pipeline_workers", 1))
    fixed_per_core_mb = memory.fixed_mb / lanes
    resources: dict[str, float] = {
        "worker_cpu": per_core,
        "worker_memory": max(0.0, args.ram_per_core_gb * 1024 - fixed_per_core_mb) / memory_mb,
    }
    redis_runs = [r for r in used if r.get("redis_cpu_ms_per_session_second")]
    redis: dict[str, Any] = {}
    if redis_runs:
        mean = {
            key: float(np.mean([r[key] for r in redis_runs]))
            for key in (
                "redis_bytes_per_session_second",
                "redis_memory_mb_per_session",
                "redis_time_share",
            )
        }
        busiest = max(redis_runs, key=_session_batches)
        scale = max(1.0, 1.0 / frame_s / _session_batches(busiest))
        mean |= {
            "session_batches_per_session_second": _session_batches(busiest),
            "per_batch_scale": scale,
            "redis_cpu_ms_per_session_second": busiest["redis_cpu_ms_per_session_second"] * scale,
            "redis_ops_per_session_second": busiest["redis_ops_per_session_second"] * scale,
        }
        redis_cpu = sessions_per_redis(
            mean["redis_cpu_ms_per_session_second"],
            wait_budget_ms=args.redis_wait_budget_ms,
            utilization=args.redis_utilization,
            frame_s=frame_s,
            noise=args.noise,
        )
        resources |= {
            "redis_cpu": redis_cpu,
            "redis_memory": args.redis_memory_gb * 1024 / mean["redis_memory_mb_per_session"],
            "redis_network": args.network_gbit
            * 1e9
            / 8
            * args.redis_utilization
            / mean["redis_bytes_per_session_second"],
        }
        redis = {"measured": {k: round(v, 4) for k, v in mean.items()}}
    per_worker_core = min(resources["worker_cpu"], resources["worker_memory"])
    per_redis = min((v for k, v in resources.items() if k.startswith("redis_")), default=None)
    cell = {
        name: value * (args.machine_cores - 1 if name.startswith("worker_") else 1)
        for name, value in resources.items()
    }
    plan = {
        str(watches): {
            "worker_cores": units_needed(watches, per_worker_core),
            "redis_instances": None if per_redis is None else units_needed(watches, per_redis),
            "worker_memory_gb": round(
                (watches * memory_mb + units_needed(watches, per_worker_core) * fixed_per_core_mb)
                / 1024,
                1,
            ),
            "redis_memory_gb": (
                round(watches * redis["measured"]["redis_memory_mb_per_session"] / 1024, 1)
                if redis
                else None
            ),
        }
        for watches in args.watches
    }
    return {
        "reports": [{k: r.get(k) for k in _REPORTED} for r in reports],
        "frame_cost": asdict(cost),
        "memory_mb_per_session": round(memory_mb, 3),
        "memory_mb_fixed_per_core": round(fixed_per_core_mb, 1),
        "p99_budget_ms": args.p99_budget_ms,
        "sessions_per_core": per_core,
        "simulated_at_sessions_per_core": {
            "p99_ms": round(at_budget.p99_ms, 1),
            "batch_frames": round(at_budget.batch_frames, 1),
            "utilization": round(float(at_budget.utilization), 3),
            "cpu_ms_per_session_second": round(
                cost.per_session_second_ms(at_budget.batch_frames, frame_s=frame_s), 3
            ),
        },
        **redis,
        "sessions_per_unit": {k: round(v, 1) for k, v in resources.items()},
        "sessions_per_redis": per_redis if per_redis is None else round(per_redis, 1),
        "worker_bottleneck": min(("worker_cpu", "worker_memory"), key=resources.__getitem__),
        "redis_bottleneck": (
            None
            if per_redis is None
            else min((k for k in resources if k.startswith("redis_")), key=resources.__getitem__)
        ),
        "cell": {
            "machine_cores": args.machine_cores,
            "sessions_by_resource": {k: round(v, 1) for k, v in cell.items()},
            "sessions": round(min(cell.values()), 1),
            "first_bottleneck": min(cell, key=cell.__getitem__),
        },
        "plan": plan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=Path, nargs="+", help="load.py --json reports")
    parser.add_argument("--p99-budget-ms", type=float, default=100.0)
    parser.add_argument("--redis-wait-budget-ms", type=float, default=5.0)
    parser.add_argument("--redis-utilization", type=float, default=0.5)
    parser.add_argument("--redis-memory-gb", type=float, default=16.0)
    parser.add_argument("--network-gbit", type=float, default=10.0)
    parser.add_argument("--ram-per-core-gb", type=float, default=4.0)
    parser.add_argument(
        "--machine-cores", type=int, default=8,
        help="a cell: one machine running the service on all cores but one and its Redis",
    )  # fmt: skip
    parser.add_argument("--noise", type=float, default=0.25, help="log-normal sigma of costs")
    parser.add_argument("--seconds", type=float, default=30.0, help="simulated time (s)")
    parser.add_argument("--watches", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--allow-behind",
        action="store_true",
        help="use reports of runs that did not keep up (their CPU per frame classified)",
    )
    parser.add_argument("--json", action="store_true", help="print the model as JSON only")
    args = parser.parse_args()
    try:
        model = capacity([_read(path) for path in args.reports], args)
    except ReportError as error:
        parser.error(str(error))
    if args.json:
        print(json.dumps(model))
        return
    for key, value in model.items():
        print(f"{key:>38}: {value}")


if __name__ == "__main__":
    main()
