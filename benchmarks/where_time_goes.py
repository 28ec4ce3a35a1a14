"""Where the service's CPU time goes: py-spy samples of its processes, by part of PrISM.

Usage::

    python benchmarks/where_time_goes.py PROFILE_DIR [--json]

``benchmarks/load.py --profile PROFILE_DIR`` records each service process (the front,
then its pipeline workers) with ``py-spy record --format raw`` over the streaming window
into ``PROFILE_DIR/process-<i>.txt`` (one line per distinct stack, its frames from the
root to the leaf separated by ``;``, then the number of samples). This script gives each
sample to a part of PrISM: the first frame from the leaf up whose file matches a rule of
:data:`PARTS` (so numpy code called by the tracker counts for the tracker, torch called
from anywhere for the network), or ``other``. py-spy leaves idle threads out, so the
samples are time on a CPU.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PARTS", "breakdown", "part_of"]

PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("network (torch)", ("torch/", "prism/sensing/network.py", "prism/sensing/state_pool.py")),
    ("features (audio, IMU)", ("prism/sensing/frame_streams.py", "prism/sensing/features.py")),
    ("classifier glue", ("prism/sensing/streaming.py", "prism/sensing/calibration.py")),
    ("tracker", ("prism/tracker/",)),
    ("observer", ("prism/observer/",)),
    ("checkpoints (pickle)", ("prism/server/checkpoint.py", "prism/server/signing.py")),
    ("storage (SQLite, Redis)", ("prism/storage/", "sqlite3/", "redis/")),
    ("frame decoding", ("prism/protocol/",)),
    ("JSON", ("json/",)),
    ("WebSocket, HTTP", ("websockets/", "uvicorn/", "starlette/", "fastapi/")),
    ("worker pipes (pickle, IPC)", ("multiprocessing/", "prism/server/shards.py")),
    ("session runtime", ("prism/server/runtime.py", "prism/server/pipeline.py")),
    ("front (batches, sessions)", ("prism/server/",)),
    ("event loop, threads", ("asyncio/", "threading.py", "concurrent/", "selectors.py")),
)
"""Part name and the file-path fragments whose frames belong to it, most specific first
(a frame is matched against the parts in this order)."""

WAITS = ("EpollSelector.select", "Connection._recv", "Connection._send", "_worker")
"""Innermost functions of a thread blocked, not working (see the module docstring)."""

_FRAME = re.compile(r"\((?P<file>[^():]+)(?::\d+)?\)$")


def part_of(stack: str) -> str:
    """The part a raw py-spy stack (``frame;frame;...``, root first) belongs to
    (``waiting``: a blocked thread)."""
    frames = stack.split(";")
    if frames[-1].split(" (")[0].strip() in WAITS:
        return "waiting"
    for frame in reversed(frames):
        found = _FRAME.search(frame.strip())
        where = found.group("file") if found else frame
        for part, fragments in PARTS:
            if any(fragment in where for fragment in fragments):
                return part
    return "other"


def breakdown(lines: Iterable[str]) -> Counter[str]:
    """Samples per part of raw py-spy output (``stack count`` per line)."""
    samples: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if stack and count.isdigit():
            samples[part_of(stack)] += int(count)
    return samples


def report(folder: Path) -> dict[str, object]:
    """Per process file and in all: the share (%) of the samples of each part."""
    files = sorted(folder.glob("process-*.txt"), key=lambda f: int(f.stem.split("-")[1]))
    per_file = {f.stem: breakdown(f.read_text().splitlines()) for f in files}
    total: Counter[str] = sum(per_file.values(), Counter())

    def shares(counts: Counter[str]) -> dict[str, float]:
        busy = {part: c for part, c in counts.items() if part != "waiting"}
        n = sum(busy.values()) or 1
        return {part: round(100.0 * c / n, 1) for part, c in Counter(busy).most_common()}

    return {
        "samples": sum(total.values()) - total["waiting"],
        "samples_waiting": total["waiting"],
        "percent": shares(total),
        "samples_by_process": {
            name: sum(c.values()) - c["waiting"] for name, c in per_file.items()
        },
        "percent_by_process": {name: shares(c) for name, c in per_file.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the --profile folder of benchmarks/load.py")
    parser.add_argument("--json", action="store_true", help="print the report as JSON only")
    args = parser.parse_args()
    result = report(args.folder)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['samples']} samples ({result['samples_waiting']} waiting, left out)")
    for part, share in result["percent"].items():  # type: ignore[attr-defined]
        print(f"{share:6.1f} %  {part}")


if __name__ == "__main__":
    main()
