"""Load: many simulated watches streaming IMU + audio in real time to the service.

Usage::

    python benchmarks/load.py [--sessions 200] [--seconds 60] [--chunk-s 0.2] [--json]
                              [--profile DIR] [--store sqlite|redis] [--workers N]

Starts the service (``uvicorn --factory prism.server.app:create_app``, one worker, a
fresh SQLite file) as a child process on 127.0.0.1, registers a device, opens
``--sessions`` latte-making sessions and streams the demo recordings into all of them
at once from this process (one asyncio loop), as watches would: every ``--chunk-s`` of
session time an IMU frame (50 Hz, 6 channels) and an audio frame (16 kHz), paced by the
wall clock, sessions staggered over one chunk, recordings looped with their time shifted.
Every watch acknowledges what it receives. After ``--seconds`` each sends ``end`` and
waits for its final step event.

With ``--store redis`` the sessions live in a ``redis-server`` the benchmark starts on a
free port of 127.0.0.1 in a temporary folder (append-only file flushed every second, as
``docs/service.md`` recommends; stopped by its pid at the end), and ``--workers N``
service processes share it, each on its own port with ``--pipeline-workers`` pipeline
workers (default: the cores divided among the service processes). This is what
``prism serve --workers N`` runs behind one address (N uvicorn workers of the same app
on one Redis); separate ports let the benchmark read each process's ``/metrics`` and
route the watches itself, as a load balancer routing by session would: watch ``i`` opens
its session on process ``i mod N`` and streams there (round-robin).

Measured:

- ``p50_ms``, ``p99_ms``: frame in -> step update out, while the watches stream (not
  the final events after ``end``). A step event names in ``in_seq`` the oldest sensor
  frame it is the first to include; the latency is the time from sending that frame
  to receiving the event (same clock: one machine).
- ``sessions_dropped``: watches whose connection was lost (a keep-alive timeout when the
  machine is overloaded); they count as sessions without a final event.
- ``realtime``: the service kept up with every session: each session's final step event
  came back within ``--final-timeout`` s of its ``end``, p99 latency stayed under 1 s,
  and the watches themselves kept their schedule (``send_lag_ms_p99`` < 100 ms; else
  the load generator, not the service, was the bottleneck and the run is not valid).
- ``cpu_percent`` (of one core) and ``rss_mb`` of the service process over the run;
  ``rss_mb_samples`` every 10 s after the sessions started and ``rss_growth_mb`` from
  the first sample after warm-up (20 s) to the end: memory should stay flat;
  ``rss_mb_by_process_samples`` splits each sample by process (the front first, then
  the pipeline workers).
- ``database_mb_start``, ``database_mb_end``: the size (MB, 2**20 bytes) of the service's
  SQLite store on disk, the database file plus its write-ahead log (``-wal``), when the
  watches start streaming and when they stop (before ``end``); sampled every second
  (``database_mb_samples``: every 10th sample, as ``[s since streaming started, MB]``);
  ``wal_mb_max``: the largest the write-ahead log was.
- ``database_growth_mb_per_min``: how fast the database file itself grows, the
  least-squares slope of its per-second sizes from ``GROWTH_FROM_S`` (30 s, once every
  session stores checkpoints) to the end of streaming, in MB per minute. The file keeps
  its high-water mark (deleted rows leave pages that later rows reuse), so this is the
  growth of what is kept. The write-ahead log is left out of the slope: it is bounded
  (rewound every 2 s, trimmed to 64 MB) and rises and falls by tens of MB with the
  moment it is sampled.
- ``cpu_ms_per_session_second``: the service's CPU time (user + system, the front and
  its pipeline workers) over the streaming window only (from the moment the watches
  start streaming to ``--seconds`` later: not the start-up, the sessions' opening or
  the ends), in ms per session per second of streaming; the cost of one watch.
  ``cpu_ms_per_session_second_by_process`` splits it by process (the front first).
  It is the cost of a session only when the service kept up (``realtime``): one that
  falls behind leaves work for later. ``cpu_ms_per_frame_classified`` is the same CPU
  time over the frames the service classified in the window
  (``frames_classified_in_window``; a watch completes one frame every 0.2 s of audio
  and IMU), the cost of the work it did either way.
- ``memory_mb_per_session``: the growth of the service's resident memory (all its
  processes) from its idle baseline (``memory_mb_idle``: started, no session open, no
  model loaded) to the end of streaming, divided by the sessions. It includes what each
  pipeline worker loads once (the model, the procedure's tracking and remaining-time
  caches), so it falls with more sessions.
- ``disk_mb_per_session_hour``: ``database_growth_mb_per_min`` (below) per session,
  scaled to an hour (None before 30 s of streaming).
- ``profile`` (with ``--profile DIR``): the share of the service's CPU samples (py-spy,
  every process, the streaming window) by part of PrISM (``benchmarks/where_time_goes.py``);
  the raw stacks stay in ``DIR``.
- ``batches``: the service's histogram of sessions per classification batch (from
  ``/metrics``), and the service's error counters; ``batch_sessions_mean`` its mean.
  The CPU cost of a session depends on it: each batch has a fixed cost (the network
  call, the worker round trip, the database transaction), so a service that keeps up
  easily runs many small batches and spends more per session than a busier one.
- ``store_cpu_share``: the CPU time the service processes spent in store operations
  (the calling threads' CPU time, ``prism_store_cpu_seconds_total`` on ``/metrics``:
  client-side encoding and the system calls, lock waits excluded) over the streaming
  window, as a share of the service's CPU time (every process, pipeline workers
  included); ``store_wall_share``: their wall-clock time (waits for the server or the
  lock included, ``prism_store_seconds_total``) as a share of the window, per front
  process (above 1: several threads were in the store at once). With Redis
  ``redis_time_share`` is ``store_cpu_share``.
- With ``--store redis``, from the server's ``INFO`` at both ends of the streaming
  window: ``redis_ops_per_session_second`` (``total_commands_processed`` less the
  benchmark's own ``INFO``; by command in
  ``redis_ops_per_session_second_by_command``, from ``commandstats``),
  ``redis_bytes_per_session_second`` (``total_net_input_bytes`` +
  ``total_net_output_bytes``, also split as ``redis_bytes_in_per_session_second`` and
  ``..._out_...``), ``redis_memory_mb`` (``used_memory`` at the end) and
  ``redis_memory_mb_per_session`` (its growth from before the sessions were opened),
  ``redis_cpu_ms_per_session_second`` (the ``redis-server`` process's CPU time, not in
  ``cpu_ms_per_session_second``). The ``database_*`` fields are then the size of its
  folder (the append-only files, which Redis rewrites as they double, so the growth
  rate is not the size kept).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import websockets

from service_process import ROOT, RedisServer, Service, free_port, parse_metrics, tree

RECORDINGS = ("latte_making-s000", "latte_making-s001")
ADMIN_TOKEN = "load-benchmark-admin"
WARMUP_S = 20.0
GROWTH_FROM_S = 30.0
"""Database growth is measured from this long after streaming started to its end (s)."""
CHECKPOINT_SECRET = "load-benchmark-checkpoint-key"
"""Signs the checkpoints of every service process sharing a Redis store."""
LOAD_CPU_PERCENT = float("nan")
STREAM_START = 0.0


@dataclass
class Script:
    """One recording cut into paced chunks: per chunk the IMU rows and the audio PCM."""

    duration_s: float
    imu: list[np.ndarray]
    """Per chunk, IMU rows ``(n, 6)`` float32 at ``imu_rate``."""
    audio: list[bytes]
    """Per chunk, 16-bit little-endian PCM of ``chunk_s`` of audio."""
    imu_rate: float


def _script(folder: Path, chunk_s: float) -> Script:
    from prism.data.recording import AUDIO_RATE_HZ, read_recording

    recording = read_recording(folder)
    assert recording.imu is not None and recording.audio is not None
    times, values = recording.imu.times, recording.imu.values.astype("<f4")
    rate = float((len(times) - 1) / (times[-1] - times[0]))
    n_chunks = int(recording.annotation.duration // chunk_s)
    imu_step, audio_step = round(chunk_s * rate), round(chunk_s * AUDIO_RATE_HZ)
    pcm = np.clip(np.round(recording.audio * 32768.0), -32768, 32767).astype("<i2")
    return Script(
        duration_s=n_chunks * chunk_s,
        imu=[values[i * imu_step : (i + 1) * imu_step] for i in range(n_chunks)],
        audio=[pcm[i * audio_step : (i + 1) * audio_step].tobytes() for i in range(n_chunks)],
        imu_rate=rate,
    )


@dataclass
class WatchStats:
    """What one simulated watch saw."""

    latencies_ms: list[float] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    """When each latency sample arrived (perf_counter s)."""
    send_lags_ms: list[float] = field(default_factory=list)
    final_after_end_s: float | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    frames_sent: int = 0
    dropped: bool = False
    """The connection was lost before the final step event (e.g. a keep-alive timeout)."""


async def _watch(*args: Any, **kwargs: Any) -> WatchStats:
    """:func:`_stream_watch`; a lost connection ends that watch (``dropped``), not the run."""
    stats = WatchStats()
    try:
        await _stream_watch(stats, *args, **kwargs)
    except websockets.ConnectionClosed:
        stats.dropped = True
    return stats


async def _stream_watch(
    stats: WatchStats,
    url: str,
    token: str,
    scripts: list[Script],
    *,
    index: int,
    chunk_s: float,
    start: float,
    seconds: float,
    final_timeout: float,
) -> None:
    from prism.protocol import HEADER, MAGIC, PROTOCOL_VERSION, FrameKind

    sent_at: dict[int, float] = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with websockets.connect(
        url, additional_headers=headers, max_size=2**22, compression=None
    ) as ws:
        await ws.send(json.dumps({"type": "hello", "seq": 1, "protocol": 1}))
        welcome = json.loads(await ws.recv())
        seq = int(welcome["next_seq"])
        newest = [0]
        final, ending = asyncio.Event(), asyncio.Event()

        async def receive() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):  # seen by the sender
                await receive_all()

        async def receive_all() -> None:
            async for raw in ws:
                now = time.perf_counter()
                message = json.loads(raw)
                newest[0] = max(newest[0], int(message.get("seq") or 0))
                if message["type"] == "error":
                    stats.errors.append(message)
                elif message["type"] == "step":
                    origin = sent_at.pop(message.get("in_seq") or -1, None)
                    if origin is not None and not ending.is_set():  # streaming, not ending
                        stats.latencies_ms.append((now - origin) * 1e3)
                        stats.received_at.append(now)
                    if message.get("final"):
                        final.set()
                        return

        receiver = asyncio.create_task(receive())
        offset = (index % 10) / 10 * chunk_s  # stagger the sessions over one chunk
        script_index, shift = index % len(scripts), 0.0
        # each watch starts at another point of its recording (its session time still
        # starts at 0): the sessions are in different steps, as real ones would be
        chunk = (index * 37) % len(scripts[script_index].audio)
        first_chunk = chunk
        acked, n_chunks = 0, round(seconds / chunk_s)
        for k in range(n_chunks):
            due = start + offset + (k + 1) * chunk_s
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            script = scripts[script_index]
            if chunk >= len(script.audio):  # loop: the next recording, time shifted
                shift += (chunk - first_chunk) * chunk_s
                script_index, chunk, first_chunk = (script_index + 1) % len(scripts), 0, 0
                script = scripts[script_index]
            t0 = shift + (chunk - first_chunk) * chunk_s
            rows = script.imu[chunk]
            stats.send_lags_ms.append(max(0.0, time.perf_counter() - due) * 1e3)
            for kind, n, rate, payload in (
                (FrameKind.IMU, len(rows), script.imu_rate, rows.tobytes()),
                (FrameKind.AUDIO, len(script.audio[chunk]) // 2, 16000.0, script.audio[chunk]),
            ):
                header = HEADER.pack(MAGIC, PROTOCOL_VERSION, kind, seq, t0, n, rate)
                sent_at[seq] = time.perf_counter()
                await ws.send(header + payload)
                seq += 1
                stats.frames_sent += 1
            chunk += 1
            if newest[0] - acked >= 10:
                acked = newest[0]
                await ws.send(json.dumps({"type": "ack", "seq": seq, "up_to": acked}))
                seq += 1
        ended = time.perf_counter()
        ending.set()
        end_t = shift + (chunk - first_chunk) * chunk_s
        await ws.send(json.dumps({"type": "end", "seq": seq, "t": end_t}))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(final.wait(), final_timeout)
            stats.final_after_end_s = time.perf_counter() - ended
        receiver.cancel()


async def _run_watches(
    bases: list[str],
    args: argparse.Namespace,
    scripts: list[Script],
    started: asyncio.Future[float],
) -> tuple[list[WatchStats], float]:
    """Open the sessions, then stream into all of them; ``started`` gets the
    ``perf_counter`` time at which streaming starts, as soon as it is known. Watch ``i``
    opens its session on service process ``bases[i % len(bases)]`` and streams there."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    sessions = []  # (base, session id, device token): one device per watch, as in the field
    for i in range(args.sessions):
        base = bases[i % len(bases)]
        async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
            device = await http.post("/v1/devices", json={"name": f"load-{i}"}, headers=admin)
            device.raise_for_status()
            token = device.json()["token"]
            reply = await http.post(
                "/v1/sessions",
                json={"procedure": "latte_making"},
                headers={"Authorization": f"Bearer {token}"},
            )
            reply.raise_for_status()
            sessions.append((base, reply.json()["session_id"], token))
    start = time.perf_counter() + 2.0  # time for every watch to connect
    started.set_result(start)
    results = await asyncio.gather(
        *(
            _watch(
                f"{base.replace('http', 'ws', 1)}/v1/sessions/{session}/stream",
                token,
                scripts,
                index=i,
                chunk_s=args.chunk_s,
                start=start,
                seconds=args.seconds,
                final_timeout=args.final_timeout,
            )
            for i, (base, session, token) in enumerate(sessions)
        )
    )
    return list(results), start


def _processes(services: list[psutil.Process]) -> list[psutil.Process]:
    """Every process of the service: each service process, then its pipeline workers."""
    return [process for service in services for process in tree(service)]


def _rss_mb(services: list[psutil.Process]) -> list[float]:
    """Resident memory (MB) of each process of :func:`_processes`."""
    return [p.memory_info().rss / 2**20 for p in _processes(services)]


def _record(
    services: list[psutil.Process], seconds: float, folder: Path
) -> list[subprocess.Popen[bytes]]:
    """Start ``py-spy record`` on every service process for ``seconds`` (100 samples/s,
    without pausing it): raw stacks in ``folder/process-<i>.txt``, each front before its
    workers (``benchmarks/where_time_goes.py`` sums them up)."""
    folder.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    recorders = []
    for i, process in enumerate(_processes(services)):
        command = [
            str(spy), "record", "--pid", str(process.pid), "--duration", str(round(seconds)),
            "--rate", "100", "--nonblocking", "--format", "raw",
            "--output", str(folder / f"process-{i}.txt"),
        ]  # fmt: skip
        recorders.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return recorders


def _cpu_s(services: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds (user + system) per process of the service."""
    return {p.pid: p.cpu_times().user + p.cpu_times().system for p in _processes(services)}


@dataclass
class Window:
    """What the service did over the streaming window (``--seconds`` from the start of
    streaming)."""

    cpu_s: dict[int, float]
    """CPU seconds (user + system) per process, the front first."""
    rss_mb: float
    """Resident memory of all its processes at the end (MB)."""
    frames_classified: int
    """Frames classified (and delivered) meanwhile."""
    store_wall_s: float
    """Wall-clock seconds of the store operations of all service processes meanwhile."""
    store_cpu_s: float
    """The calling threads' CPU seconds in those operations."""
    redis: tuple[dict[str, Any], dict[str, Any]] | None = None
    """Redis's ``INFO`` at the start and at the end (None: SQLite)."""
    redis_cpu_s: float = 0.0
    """CPU seconds of the ``redis-server`` process meanwhile."""


_WINDOW_COUNTERS = (
    "prism_frames_classified_total",
    "prism_store_seconds_total",
    "prism_store_cpu_seconds_total",
)


async def _counters(bases: list[str]) -> np.ndarray:
    """:data:`_WINDOW_COUNTERS` summed over the service processes at ``bases``."""
    total = np.zeros(len(_WINDOW_COUNTERS))
    async with httpx.AsyncClient(timeout=30.0) as http:
        for base in bases:
            metrics = parse_metrics((await http.get(f"{base}/metrics")).text)
            total += [metrics.get(name, 0.0) for name in _WINDOW_COUNTERS]
    return total


def _process_cpu_s(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


async def _streaming_window(
    deployment: Deployment,
    started: asyncio.Future[float],
    seconds: float,
    profile: Path | None,
) -> Window:
    """The service over the streaming window (from ``started``); with ``profile``, each
    process recorded by py-spy meanwhile (:func:`_record`)."""
    start = await started
    services, redis_server = deployment.processes, deployment.redis
    info: Callable[[], dict[str, Any]] = redis_server.info if redis_server else dict
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    before, counted = _cpu_s(services), await _counters(deployment.bases)
    redis_before = await asyncio.to_thread(info)
    redis_cpu = _process_cpu_s(deployment.redis_process)
    recorders = _record(services, seconds, profile) if profile is not None else []
    await asyncio.sleep(max(0.0, start + seconds - time.perf_counter()))
    after, rss_mb = _cpu_s(services), sum(_rss_mb(services))
    redis_after = await asyncio.to_thread(info)
    redis_cpu = _process_cpu_s(deployment.redis_process) - redis_cpu
    classified, store_wall_s, store_cpu_s = await _counters(deployment.bases) - counted
    for recorder in recorders:  # py-spy stops by itself after the window
        await asyncio.to_thread(recorder.wait)
    busy = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    return Window(
        busy,
        rss_mb,
        round(classified),
        float(store_wall_s),
        float(store_cpu_s),
        (redis_before, redis_after) if redis_server else None,
        redis_cpu,
    )


async def _sample_memory(
    services: list[psutil.Process], start: float, samples: list[tuple[float, list[float]]]
) -> None:
    """Every 10 s: the time since ``start`` and the RSS (MB) of each service process
    (each front, then its pipeline workers)."""
    while True:
        await asyncio.sleep(max(0.0, start - time.perf_counter()) + 10.0)
        samples.append((time.perf_counter() - start, _rss_mb(services)))


def _database_mb(database: Path) -> tuple[float, float]:
    """Sizes (MB) of the SQLite database file and of its write-ahead log."""
    wal = database.with_name(database.name + "-wal")
    file_mb, wal_mb = (f.stat().st_size / 2**20 if f.exists() else 0.0 for f in (database, wal))
    return file_mb, wal_mb


async def _sample_database(
    sizes: Callable[[], tuple[float, float]], samples: list[tuple[float, float, float]]
) -> None:
    """Every second: the time (perf_counter s) and ``sizes()``, the store's data and log
    sizes on disk (MB)."""
    while True:
        samples.append((time.perf_counter(), *sizes()))
        await asyncio.sleep(1.0)


def _database_report(samples: list[tuple[float, float, float]], seconds: float) -> dict[str, Any]:
    """``database_*`` fields of the report from the per-second samples (module docstring)."""
    streaming = [(t, mb, wal) for t, mb, wal in samples if t <= seconds]
    steady = np.array([(t, mb) for t, mb, _ in streaming if t >= GROWTH_FROM_S])
    slope = float(np.polyfit(steady[:, 0], steady[:, 1], 1)[0]) * 60 if len(steady) > 2 else None
    return {
        "database_mb_start": round(sum(streaming[0][1:]), 1) if streaming else None,
        "database_mb_end": round(sum(streaming[-1][1:]), 1) if streaming else None,
        "database_growth_mb_per_min": None if slope is None else round(slope, 2),
        "wal_mb_max": round(max(wal for _, _, wal in streaming), 1) if streaming else None,
        "database_mb_samples": [
            [round(t, 1), round(mb + wal, 1)] for t, mb, wal in streaming[::10]
        ],
    }


@dataclass
class Deployment:
    """The running service: its processes, their addresses and the Redis they share."""

    bases: list[str]
    """``http://127.0.0.1:PORT`` of each service process."""
    processes: list[psutil.Process]
    """Each service process (its pipeline workers are its children)."""
    disk_mb: Callable[[], tuple[float, float]]
    """The store's size on disk (MB): its data and its log."""
    redis: RedisServer | None = None
    redis_process: psutil.Process | None = None


async def _measure(
    deployment: Deployment, args: argparse.Namespace, scripts: list[Script]
) -> tuple[
    list[WatchStats],
    dict[int, float],
    float,
    list[tuple[float, list[float]]],
    list[tuple[float, float, float]],
    Window,
]:
    samples: list[tuple[float, list[float]]] = []
    sizes: list[tuple[float, float, float]] = []
    services = deployment.processes
    cpu_before = _cpu_s(services)
    own_before = time.process_time()
    wall_before = time.perf_counter()
    started: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    watches = asyncio.ensure_future(_run_watches(deployment.bases, args, scripts, started))
    window = asyncio.ensure_future(
        _streaming_window(deployment, started, args.seconds, args.profile)
    )
    await asyncio.sleep(0)
    sampler = asyncio.ensure_future(_sample_memory(services, wall_before + 2.0, samples))
    sizer = asyncio.ensure_future(_sample_database(deployment.disk_mb, sizes))
    results, start = await watches
    streaming = await window
    global STREAM_START
    STREAM_START = start
    sampler.cancel()
    sizer.cancel()
    cpu_after = _cpu_s(services)
    busy = {pid: cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after}
    wall = time.perf_counter() - wall_before
    global LOAD_CPU_PERCENT
    LOAD_CPU_PERCENT = 100.0 * (time.process_time() - own_before) / wall
    since_start = [(t - start, mb, wal) for t, mb, wal in sizes if t >= start]
    return results, busy, wall, samples, since_start, streaming


def _idle_rss_mb(services: list[psutil.Process], *, settle_s: float = 30.0) -> float:
    """The service's resident memory (MB, all processes) once it is idle: sampled every
    0.5 s until it changes by less than 1 MB (the workers import their libraries after
    the front answers), at most ``settle_s``."""
    deadline = time.perf_counter() + settle_s
    last = sum(_rss_mb(services))
    while time.perf_counter() < deadline:
        time.sleep(0.5)
        now = sum(_rss_mb(services))
        if abs(now - last) < 1.0:
            return now
        last = now
    return last


@contextlib.contextmanager
def _deployment(
    args: argparse.Namespace, folder: Path
) -> Iterator[tuple[Deployment, list[Service]]]:
    """Start the store (``--store redis``: a ``redis-server``) and ``--workers`` service
    processes in ``folder``; stop them all by pid afterwards, Redis last."""
    settings = {"pipeline_workers": str(args.pipeline_workers)}
    redis_server, redis_process = None, None
    with contextlib.ExitStack() as stack:
        if args.store == "redis":
            redis_server = RedisServer(folder / "redis", free_port())
            stack.callback(redis_server.stop)
            redis_process = redis_server.start()
            # one signing key for every process, as docs/service.md asks of shared stores
            settings |= {"redis_url": redis_server.url, "checkpoint_secret": CHECKPOINT_SECRET}
        servers = []
        for i in range(args.workers):
            servers.append(
                Service(free_port(), folder / f"load-{i}.sqlite3", ADMIN_TOKEN, settings)
            )
            stack.callback(servers[-1].stop)
        processes = [server.start() for server in servers]

        def disk_mb() -> tuple[float, float]:
            if redis_server is not None:
                return redis_server.disk_mb(), 0.0
            return _database_mb(servers[0].database)

        bases = [server.base for server in servers]
        yield Deployment(bases, processes, disk_mb, redis_server, redis_process), servers


def _redis_report(
    window: Window, idle_memory: float, sessions: int, session_s: float
) -> dict[str, Any]:
    """The ``redis_*`` fields of the report (module docstring) from the window's ``INFO``
    and Redis's ``used_memory`` (bytes) before the sessions were opened."""
    assert window.redis is not None
    before, after = window.redis
    by_command = {
        name.removeprefix("cmdstat_"): (after[name]["calls"] - before.get(name, {}).get("calls", 0))
        / session_s
        for name in after
        if name.startswith("cmdstat_")
    }
    net_in, net_out = (
        after[key] - before[key] for key in ("total_net_input_bytes", "total_net_output_bytes")
    )
    ops = after["total_commands_processed"] - before["total_commands_processed"]
    ops -= by_command.pop("info", 0.0) * session_s  # the benchmark's own INFO
    return {
        "redis_ops_per_session_second": ops / session_s,
        "redis_ops_per_session_second_by_command": {
            name: round(rate, 3)
            for name, rate in sorted(by_command.items(), key=lambda kv: -kv[1])
            if rate > 0
        },
        "redis_bytes_per_session_second": (net_in + net_out) / session_s,
        "redis_bytes_in_per_session_second": net_in / session_s,
        "redis_bytes_out_per_session_second": net_out / session_s,
        "redis_memory_mb": after["used_memory"] / 2**20,
        "redis_memory_mb_per_session": (after["used_memory"] - idle_memory) / 2**20 / sessions,
        "redis_cpu_ms_per_session_second": 1e3 * window.redis_cpu_s / session_s,
        "redis_time_share": window.store_cpu_s / sum(window.cpu_s.values()),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; the report as a JSON-ready dict."""
    scripts = [_script(ROOT / "datasets" / "demo" / name, args.chunk_s) for name in RECORDINGS]
    with tempfile.TemporaryDirectory() as folder, _deployment(args, Path(folder)) as running:
        deployment, servers = running
        idle_mb = _idle_rss_mb(deployment.processes)
        redis_idle = deployment.redis.info()["used_memory"] if deployment.redis else 0
        results, busy_s, wall_s, memory, sizes, streaming = asyncio.run(
            _measure(deployment, args, scripts)
        )
        rss_mb = sum(_rss_mb(deployment.processes))
        metrics: dict[str, float] = {}
        for server in servers:
            for key, value in server.metrics().items():
                metrics[key] = metrics.get(key, 0.0) + value
    latencies = np.concatenate([r.latencies_ms for r in results if r.latencies_ms] or [[np.nan]])
    lags = np.concatenate([r.send_lags_ms for r in results if r.send_lags_ms] or [[np.nan]])
    finals = [r.final_after_end_s for r in results]
    arrived = np.concatenate([r.received_at for r in results if r.received_at] or [[np.nan]])
    since = arrived - STREAM_START
    by_10s = {}
    for window in range(0, int(args.seconds) + 10, 10):
        inside = latencies[(since >= window) & (since < window + 10)]
        if inside.size:
            by_10s[window] = [round(float(np.percentile(inside, q)), 1) for q in (50, 99)]
    p99 = float(np.percentile(latencies, 99))
    lag_p99 = float(np.percentile(lags, 99))
    kept_up = all(f is not None for f in finals)
    after_warmup = [sum(rss) for t, rss in memory if t >= WARMUP_S]
    disk = _database_report(sizes, args.seconds)
    growth = disk["database_growth_mb_per_min"]
    session_s = args.sessions * args.seconds
    service_cpu_s = sum(streaming.cpu_s.values())
    batches = {
        int(re.search(r'size="(\d+)"', key).group(1)): int(value)  # type: ignore[union-attr]
        for key, value in metrics.items()
        if key.startswith("prism_batch_sessions_count{")
    }
    return {
        "sessions": args.sessions,
        "seconds": args.seconds,
        "chunk_s": args.chunk_s,
        "store": args.store,
        "workers": args.workers,
        "pipeline_workers": args.pipeline_workers,
        "realtime": bool(kept_up and p99 < 1000.0 and lag_p99 < 100.0),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": p99,
        "max_ms": float(np.max(latencies)),
        "latency_samples": int(latencies.size),
        "p50_p99_ms_by_10s": by_10s,
        "send_lag_ms_p99": lag_p99,
        "final_after_end_s_max": max((f for f in finals if f is not None), default=None),
        "sessions_without_final": sum(f is None for f in finals),
        "sessions_dropped": sum(r.dropped for r in results),
        "cpu_percent": 100.0 * sum(busy_s.values()) / wall_s,
        "cpu_percent_by_process": [round(100.0 * b / wall_s, 1) for b in busy_s.values()],
        "cpu_ms_per_session_second": 1e3 * sum(streaming.cpu_s.values()) / session_s,
        "cpu_ms_per_session_second_by_process": [
            round(1e3 * b / session_s, 3) for b in streaming.cpu_s.values()
        ],
        "frames_classified_in_window": streaming.frames_classified,
        "cpu_ms_per_frame_classified": (
            1e3 * sum(streaming.cpu_s.values()) / streaming.frames_classified
            if streaming.frames_classified
            else None
        ),
        "memory_mb_idle": round(idle_mb, 1),
        "memory_mb_per_session": (streaming.rss_mb - idle_mb) / args.sessions,
        "disk_mb_per_session_hour": None if growth is None else growth * 60 / args.sessions,
        "load_generator_cpu_percent": LOAD_CPU_PERCENT,
        "rss_mb": rss_mb,
        "rss_mb_samples": [[round(t, 1), round(sum(rss), 1)] for t, rss in memory],
        "rss_mb_by_process_samples": [
            [round(t, 1), [round(r, 1) for r in rss]] for t, rss in memory
        ],
        "rss_growth_mb": (after_warmup[-1] - after_warmup[0]) if len(after_warmup) > 1 else 0.0,
        "frames_sent": sum(r.frames_sent for r in results),
        "errors_received": sum(len(r.errors) for r in results),
        **disk,
        "batches": dict(sorted(batches.items())),
        "batch_sessions_mean": (
            sum(size * count for size, count in batches.items()) / sum(batches.values())
            if batches
            else None
        ),
        "service_counters": {
            key.removeprefix("prism_").removesuffix("_total"): value
            for key, value in metrics.items()
            if key.endswith("_total")
        },
        "store_cpu_share": streaming.store_cpu_s / service_cpu_s if service_cpu_s else None,
        "store_wall_share": streaming.store_wall_s / (args.seconds * args.workers),
        **(
            _redis_report(streaming, redis_idle, args.sessions, session_s)
            if streaming.redis is not None
            else {}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--chunk-s", type=float, default=0.2, help="watch frame length (s)")
    parser.add_argument("--final-timeout", type=float, default=10.0)
    parser.add_argument(
        "--store",
        choices=("sqlite", "redis"),
        default="sqlite",
        help="where the sessions live: a fresh SQLite file, or a redis-server started for "
        "the run (temporary folder, append-only file)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="service processes sharing the store, each on its own port, the watches "
        "spread over them round-robin (above 1 needs --store redis)",
    )
    parser.add_argument(
        "--pipeline-workers",
        type=int,
        default=None,
        help="pipeline worker processes of each service process (default: the cores "
        "divided among the service processes, at least one)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="record the service with py-spy over the streaming window into DIR "
        "(summed up in the report's 'profile'; benchmarks/where_time_goes.py)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON only")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f"--workers must be at least 1 (got {args.workers})")
    if args.workers > 1 and args.store != "redis":
        parser.error("--workers above 1 needs --store redis: the processes share the sessions")
    if args.pipeline_workers is None:
        args.pipeline_workers = max(1, (os.cpu_count() or 1) // args.workers)
    report = run(args)
    if args.profile is not None:
        from where_time_goes import report as profile_report

        report["profile"] = profile_report(args.profile)
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
