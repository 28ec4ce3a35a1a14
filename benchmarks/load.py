"""Load: many simulated watches streaming IMU + audio in real time to one service process.

Usage::

    python benchmarks/load.py [--sessions 200] [--seconds 60] [--chunk-s 0.2] [--json]
                              [--profile DIR]

Starts the service (``uvicorn --factory prism.server.app:create_app``, one worker, a
fresh SQLite file) as a child process on 127.0.0.1, registers a device, opens
``--sessions`` latte-making sessions and streams the demo recordings into all of them
at once from this process (one asyncio loop), as watches would: every ``--chunk-s`` of
session time an IMU frame (50 Hz, 6 channels) and an audio frame (16 kHz), paced by the
wall clock, sessions staggered over one chunk, recordings looped with their time shifted.
Every watch acknowledges what it receives. After ``--seconds`` each sends ``end`` and
waits for its final step event.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import websockets

from service_process import ROOT, Service, free_port, parse_metrics, rss_mb_by_process, tree

RECORDINGS = ("latte_making-s000", "latte_making-s001")
ADMIN_TOKEN = "load-benchmark-admin"
WARMUP_S = 20.0
GROWTH_FROM_S = 30.0
"""Database growth is measured from this long after streaming started to its end (s)."""
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
    base: str, args: argparse.Namespace, scripts: list[Script], started: asyncio.Future[float]
) -> tuple[list[WatchStats], float]:
    """Open the sessions, then stream into all of them; ``started`` gets the
    ``perf_counter`` time at which streaming starts, as soon as it is known."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
        sessions = []  # (session id, device token): one device per watch, as in the field
        for i in range(args.sessions):
            device = await http.post("/v1/devices", json={"name": f"load-{i}"}, headers=admin)
            device.raise_for_status()
            token = device.json()["token"]
            reply = await http.post(
                "/v1/sessions",
                json={"procedure": "latte_making"},
                headers={"Authorization": f"Bearer {token}"},
            )
            reply.raise_for_status()
            sessions.append((reply.json()["session_id"], token))
    ws_base = base.replace("http", "ws", 1)
    start = time.perf_counter() + 2.0  # time for every watch to connect
    started.set_result(start)
    results = await asyncio.gather(
        *(
            _watch(
                f"{ws_base}/v1/sessions/{session}/stream",
                token,
                scripts,
                index=i,
                chunk_s=args.chunk_s,
                start=start,
                seconds=args.seconds,
                final_timeout=args.final_timeout,
            )
            for i, (session, token) in enumerate(sessions)
        )
    )
    return list(results), start


def _record(service: psutil.Process, seconds: float, folder: Path) -> list[subprocess.Popen[bytes]]:
    """Start ``py-spy record`` on every service process for ``seconds`` (100 samples/s,
    without pausing it): raw stacks in ``folder/process-<i>.txt``, the front first
    (``benchmarks/where_time_goes.py`` sums them up)."""
    folder.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    recorders = []
    for i, process in enumerate(tree(service)):
        command = [
            str(spy), "record", "--pid", str(process.pid), "--duration", str(round(seconds)),
            "--rate", "100", "--nonblocking", "--format", "raw",
            "--output", str(folder / f"process-{i}.txt"),
        ]  # fmt: skip
        recorders.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return recorders


def _cpu_s(service: psutil.Process) -> dict[int, float]:
    """CPU seconds (user + system) per process of the service."""
    return {p.pid: p.cpu_times().user + p.cpu_times().system for p in tree(service)}


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


async def _frames_classified(http: httpx.AsyncClient) -> float:
    metrics = parse_metrics((await http.get("/metrics")).text)
    return metrics.get("prism_frames_classified_total", 0.0)


async def _streaming_window(
    service: psutil.Process,
    base: str,
    started: asyncio.Future[float],
    seconds: float,
    profile: Path | None,
) -> Window:
    """The service over the streaming window (from ``started``); with ``profile``, each
    process recorded by py-spy meanwhile (:func:`_record`)."""
    start = await started
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        before, classified = _cpu_s(service), await _frames_classified(http)
        recorders = _record(service, seconds, profile) if profile is not None else []
        await asyncio.sleep(max(0.0, start + seconds - time.perf_counter()))
        after, rss_mb = _cpu_s(service), sum(rss_mb_by_process(service))
        classified = await _frames_classified(http) - classified
    for recorder in recorders:  # py-spy stops by itself after the window
        await asyncio.to_thread(recorder.wait)
    busy = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    return Window(busy, rss_mb, round(classified))


async def _sample_memory(
    service: psutil.Process, start: float, samples: list[tuple[float, list[float]]]
) -> None:
    """Every 10 s: the time since ``start`` and the RSS (MB) of each service process
    (the front first, then its pipeline workers)."""
    while True:
        await asyncio.sleep(max(0.0, start - time.perf_counter()) + 10.0)
        samples.append((time.perf_counter() - start, rss_mb_by_process(service)))


def _database_mb(database: Path) -> tuple[float, float]:
    """Sizes (MB) of the SQLite database file and of its write-ahead log."""
    wal = database.with_name(database.name + "-wal")
    file_mb, wal_mb = (f.stat().st_size / 2**20 if f.exists() else 0.0 for f in (database, wal))
    return file_mb, wal_mb


async def _sample_database(database: Path, samples: list[tuple[float, float, float]]) -> None:
    """Every second: the time (perf_counter s), the database file's and its log's sizes (MB)."""
    while True:
        samples.append((time.perf_counter(), *_database_mb(database)))
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


async def _measure(
    base: str,
    args: argparse.Namespace,
    scripts: list[Script],
    service: psutil.Process,
    database: Path,
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
    cpu_before = _cpu_s(service)
    own_before = time.process_time()
    wall_before = time.perf_counter()
    started: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    watches = asyncio.ensure_future(_run_watches(base, args, scripts, started))
    window = asyncio.ensure_future(
        _streaming_window(service, base, started, args.seconds, args.profile)
    )
    await asyncio.sleep(0)
    sampler = asyncio.ensure_future(_sample_memory(service, wall_before + 2.0, samples))
    sizer = asyncio.ensure_future(_sample_database(database, sizes))
    results, start = await watches
    streaming = await window
    global STREAM_START
    STREAM_START = start
    sampler.cancel()
    sizer.cancel()
    cpu_after = _cpu_s(service)
    busy = {pid: cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after}
    wall = time.perf_counter() - wall_before
    global LOAD_CPU_PERCENT
    LOAD_CPU_PERCENT = 100.0 * (time.process_time() - own_before) / wall
    since_start = [(t - start, mb, wal) for t, mb, wal in sizes if t >= start]
    return results, busy, wall, samples, since_start, streaming


def _idle_rss_mb(service: psutil.Process, *, settle_s: float = 30.0) -> float:
    """The service's resident memory (MB, all processes) once it is idle: sampled every
    0.5 s until it changes by less than 1 MB (the workers import their libraries after
    the front answers), at most ``settle_s``."""
    deadline = time.perf_counter() + settle_s
    last = sum(rss_mb_by_process(service))
    while time.perf_counter() < deadline:
        time.sleep(0.5)
        now = sum(rss_mb_by_process(service))
        if abs(now - last) < 1.0:
            return now
        last = now
    return last


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; the report as a JSON-ready dict."""
    scripts = [_script(ROOT / "datasets" / "demo" / name, args.chunk_s) for name in RECORDINGS]
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "load.sqlite3"
        server = Service(
            free_port(), database, ADMIN_TOKEN, {"pipeline_workers": str(args.pipeline_workers)}
        )
        base = server.base
        try:
            service = server.start()
            idle_mb = _idle_rss_mb(service)
            results, busy_s, wall_s, memory, sizes, streaming = asyncio.run(
                _measure(base, args, scripts, service, database)
            )
            rss_mb = sum(rss_mb_by_process(service))
            metrics = server.metrics()
        finally:
            server.stop()
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
    batches = {
        int(re.search(r'size="(\d+)"', key).group(1)): int(value)  # type: ignore[union-attr]
        for key, value in metrics.items()
        if key.startswith("prism_batch_sessions_count{")
    }
    return {
        "sessions": args.sessions,
        "seconds": args.seconds,
        "chunk_s": args.chunk_s,
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--chunk-s", type=float, default=0.2, help="watch frame length (s)")
    parser.add_argument("--final-timeout", type=float, default=10.0)
    parser.add_argument(
        "--pipeline-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="the service's pipeline worker processes (default: one per core)",
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
