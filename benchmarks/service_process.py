"""The PrISM service as a child process, for the benchmarks that drive it from outside.

``benchmarks/load.py`` and ``benchmarks/hostile.py`` both start the service this way:
``uvicorn --factory prism.server.app:create_app`` on a free port of 127.0.0.1, a given
SQLite file, an admin token, ``PRISM_SERVER_*`` settings from the caller; they wait for
``/v1/health`` and stop the service (its process and every process it started) by pid.
:class:`RedisServer` is a ``redis-server`` for services that share their sessions
(``PRISM_SERVER_REDIS_URL``), started and stopped the same way.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis

__all__ = [
    "ROOT",
    "RedisServer",
    "Service",
    "ServiceStartError",
    "free_port",
    "parse_metrics",
    "rss_mb_by_process",
    "tree",
]

ROOT = Path(__file__).resolve().parents[1]


class ServiceStartError(RuntimeError):
    """The service exited at start-up or did not answer in time (the message ends with
    the last lines of its log, when it has one)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def parse_metrics(text: str) -> dict[str, float]:
    """The ``prism_*`` samples (with their labels) -> value of a ``/metrics`` page."""
    values = {}
    for line in text.splitlines():
        found = re.match(r"^(prism_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", line)
        if found:
            values[found.group(1)] = float(found.group(2))
    return values


def tree(service: psutil.Process) -> list[psutil.Process]:
    """The service process and its pipeline workers (the front first)."""
    return [service, *service.children(recursive=True)]


def rss_mb_by_process(service: psutil.Process) -> list[float]:
    """Resident memory (MB) of each service process: the front, then its workers."""
    return [p.memory_info().rss / 2**20 for p in tree(service)]


@dataclass
class Service:
    """How to run the service: where, with which store and settings.

    Attributes
    ----------
    port : int
        On 127.0.0.1.
    database : Path
        The SQLite file (kept across restarts of the same :class:`Service`).
    admin_token : str
    settings : Mapping[str, str]
        ``PRISM_SERVER_<NAME>`` = value for each ``name: value``.
    log : Path or None
        The service's stderr is appended to this file (None: this process's stderr).
    """

    port: int
    database: Path
    admin_token: str
    settings: Mapping[str, str]
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def metrics(self) -> dict[str, float]:
        """The service's ``/metrics``: each ``prism_*`` sample (with its labels) -> value."""
        return parse_metrics(httpx.get(f"{self.base}/metrics", timeout=10.0).text)

    def start(self, *, timeout_s: float = 60.0) -> psutil.Process:
        """Start the service and wait until ``/v1/health`` answers; its process.

        Raises
        ------
        ServiceStartError
            If it exits or does not answer within ``timeout_s``.
        """
        env = {
            **os.environ,
            "PRISM_SERVER_ADMIN_TOKEN": self.admin_token,
            "PRISM_SERVER_DATABASE": str(self.database),
            "PRISM_TASKS_DIR": str(ROOT / "tasks"),
            "PRISM_MODELS_DIR": str(ROOT / "models"),
        }
        env |= {f"PRISM_SERVER_{name.upper()}": value for name, value in self.settings.items()}
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "prism.server.app:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--ws", "websockets-sansio",
            "--ws-max-size", str(1 << 20), "--log-level", "warning",
        ]  # fmt: skip
        with contextlib.ExitStack() as files:
            stderr = None if self.log is None else files.enter_context(self.log.open("ab"))
            self.process = subprocess.Popen(command, env=env, cwd=ROOT, stderr=stderr)
        self._wait_healthy(timeout_s)
        return psutil.Process(self.process.pid)

    def _wait_healthy(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                status, self.process = self.process.returncode, None
                raise ServiceStartError(f"the service exited with status {status}{self._tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/v1/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise ServiceStartError(
            f"the service did not answer on {self.base} within {timeout_s} s{self._tail()}"
        )

    def _tail(self, lines: int = 5) -> str:
        """The last ``lines`` of the log, after a colon (nothing without a log)."""
        if self.log is None or not self.log.is_file():
            return ""
        return ": " + " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, *, kill: bool = False) -> None:
        """Stop the service and its process tree, by pid: SIGTERM (then SIGKILL after
        10 s), or at once SIGKILL with ``kill`` (a crash). Nothing if not running."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        children: list[psutil.Process] = []
        with contextlib.suppress(psutil.NoSuchProcess):
            children = psutil.Process(process.pid).children(recursive=True)
        if kill:
            process.send_signal(signal.SIGKILL)
        else:
            process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for child in children:  # workers stop when the front's pipe closes; make sure
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(children, timeout=10)


@dataclass
class RedisServer:
    """A ``redis-server`` on a free port of 127.0.0.1 with its data in ``folder``.

    Persistence as ``docs/service.md`` recommends for the service's store: the
    append-only file, flushed every second (``appendonly yes``, ``appendfsync
    everysec``), no snapshots; Redis rewrites the file as it doubles (its default).

    Attributes
    ----------
    folder : Path
        Its working directory (the append-only files go in ``appendonlydir/``).
    port : int
    """

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout_s: float = 20.0) -> psutil.Process:
        """Start it and wait until it answers ``PING``; its process.

        Raises
        ------
        ServiceStartError
            If ``redis-server`` is not installed, exits or does not answer in time.
        """
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceStartError("redis-server is not installed (apt-get install redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                with contextlib.suppress(redis.ConnectionError):
                    client.ping()
                    return psutil.Process(self.process.pid)
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise ServiceStartError(f"redis-server did not answer on port {self.port}")
                time.sleep(0.05)
        finally:
            client.close()

    def info(self) -> dict[str, Any]:
        """``INFO all`` (every section, command statistics included) as redis-py parses it."""
        client = redis.Redis.from_url(self.url)
        try:
            return dict(client.info("all"))
        finally:
            client.close()

    def disk_mb(self) -> float:
        """The size (MB) of everything in its folder (the append-only files)."""
        return sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file()) / 2**20

    def stop(self) -> None:
        """Stop it by its pid: SIGTERM, then SIGKILL after 10 s. Nothing if not running."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
