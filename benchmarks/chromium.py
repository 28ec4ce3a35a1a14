"""A headless Chromium driven over the DevTools protocol, for the benchmarks and tests of
the web pages (``/watch``, ``/dashboard``).

:func:`open_chromium` starts the browser (its own profile folder, a free DevTools port)
and yields a :class:`DevTools` page; the browser process is stopped by its own id when
the block ends. The page collects what the browser reports as problems: console errors,
uncaught exceptions and failed loads (``DevTools.problems``).

Hand-written rather than a browser-automation package: the DevTools protocol is a JSON
exchange over one WebSocket, and the project already depends on ``websockets`` and
``httpx``; Chromium itself comes from the system (``apt-get install chromium``).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

__all__ = ["CHROMIUM", "DevTools", "chromium_available", "open_chromium"]

CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
"""The browser command and the options every run needs (containers, no display)."""


def chromium_available() -> bool:
    """Whether ``chromium`` is on the PATH."""
    return shutil.which("chromium") is not None


class DevTools:
    """One Chromium page driven over the DevTools protocol (a WebSocket).

    ``problems`` lists, in order, the console errors, uncaught exceptions and failed
    resource loads the page reported (as text), once :meth:`watch_problems` was called.
    """

    def __init__(self, socket: ClientConnection) -> None:
        self.socket, self.ids = socket, itertools.count(1)
        self.problems: list[str] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command; its result (events in between are read for problems)."""
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == number:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply["result"])
            self._event(reply)

    def _event(self, event: dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            texts = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            self.problems.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append(f"exception: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            self.problems.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())

    def watch_problems(self) -> None:
        """Start collecting the page's console errors, exceptions and failed loads."""
        self.call("Runtime.enable")
        self.call("Log.enable")

    def evaluate(self, expression: str, *, gesture: bool = False) -> Any:
        """The value of a JavaScript expression in the page (promises awaited);
        ``gesture``: as if the user had just tapped (what permissions and audio need)."""
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
            userGesture=gesture,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 30.0) -> Any:
        """Poll ``expression`` until it is truthy; its value. AssertionError on timeout."""
        deadline = time.monotonic() + timeout_s
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < deadline, f"never true: {expression}"
            time.sleep(0.1)
        return value

    def screenshot(self, path: Path) -> None:
        """The page as a PNG file."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))


@contextlib.contextmanager
def open_chromium(profile: Path, options: Sequence[str] = ()) -> Iterator[DevTools]:
    """A headless Chromium with a blank page; stopped (by its process id) on exit.

    Parameters
    ----------
    profile : Path
        A fresh folder for the browser's profile (also where it writes its port).
    options : sequence of str
        Extra command-line options (fake media devices, ...).
    """
    browser = subprocess.Popen(
        [
            *CHROMIUM,
            *options,
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or browser.poll() is not None:
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        page = httpx.put(f"http://127.0.0.1:{port}/json/new?about:blank", timeout=30).json()
        with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            yield DevTools(socket)
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=30)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait(timeout=30)
