"""The service on a background thread: it listens, or says clearly that it did not start."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from conftest import service_settings
from prism.errors import PrismError
from prism.server.errors import ServerStartError
from prism.server.threaded import serve_in_thread

SETTINGS = service_settings(database=":memory:", warm_up_sessions=0)


def test_the_service_listens_on_a_free_port_and_stops() -> None:
    server, port = serve_in_thread(SETTINGS)
    try:
        assert port > 0
        assert httpx.get(f"http://127.0.0.1:{port}/v1/health").json()["status"] == "ok"
    finally:
        server.should_exit = True


# uvicorn ends its thread with SystemExit when it cannot bind: that is what is tested
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_port_in_use_is_a_start_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerStartError, match=f"did not start on 127.0.0.1:{port}") as caught:
            serve_in_thread(SETTINGS, port=port, timeout_s=20.0)
    assert isinstance(caught.value, PrismError)


def test_an_unusable_certificate_is_a_start_error(tmp_path: Path) -> None:
    certificate = tmp_path / "tls.crt"
    certificate.write_text("-----BEGIN CERTIFICATE-----\nnot one\n", encoding="utf-8")
    with pytest.raises(ServerStartError, match=f"cannot serve HTTPS with {certificate}"):
        serve_in_thread(SETTINGS, ssl_certfile=certificate)
    with pytest.raises(ServerStartError, match="needs its certificate"):
        serve_in_thread(SETTINGS, ssl_keyfile=certificate)
