"""``prism serve``: the addresses it prints for a wildcard host (found without a network
library), and HTTPS with ``--ssl-certfile`` (a real service process on 0.0.0.0)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from conftest import free_port
from prism.cli import app
from prism.cli import serve as serve_command
from prism.cli._addresses import local_addresses, url_host


class FakeUdpSocket:
    """A UDP socket whose "connection" picks ``source`` (or fails: ``None``)."""

    def __init__(self, source: str | None, opened: list[tuple[int, int]]) -> None:
        self.source = source
        self.opened = opened

    def __call__(self, family: int, kind: int) -> FakeUdpSocket:
        self.opened.append((family, kind))
        return self

    def __enter__(self) -> FakeUdpSocket:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def connect(self, address: tuple[str, int]) -> None:
        if self.source is None:
            raise OSError(101, "Network is unreachable")

    def getsockname(self) -> tuple[str, int]:
        assert self.source is not None
        return (self.source, 40000)


def _resolving(*addresses: str) -> Any:
    def getaddrinfo(host: str, port: None, family: int, kind: int) -> list[Any]:
        assert host == "lab-laptop"
        return [(family, kind, 17, "", (address, 0)) for address in addresses]

    return getaddrinfo


def _unresolvable(*_: object) -> Any:
    raise socket.gaierror(-2, "Name or service not known")


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set what the socket module says about this machine: the default route's source
    address (``None``: no route) and what its host name resolves to."""
    opened: list[tuple[int, int]] = []
    monkeypatch.setattr(socket, "gethostname", lambda: "lab-laptop")

    def configure(route: str | None, resolver: Any) -> list[tuple[int, int]]:
        monkeypatch.setattr(socket, "socket", FakeUdpSocket(route, opened))
        monkeypatch.setattr(socket, "getaddrinfo", resolver)
        return opened

    return configure


def test_the_routes_address_comes_first_then_the_host_names_without_repeats(machine: Any) -> None:
    opened = machine("192.168.1.20", _resolving("127.0.1.1", "10.0.0.5", "192.168.1.20"))
    assert local_addresses() == ["192.168.1.20", "10.0.0.5"]  # 127.0.1.1: Debian's loopback
    assert opened == [(socket.AF_INET, socket.SOCK_DGRAM)]  # a UDP socket: nothing is sent


def test_a_machine_without_a_route_or_a_resolvable_name_has_no_address(machine: Any) -> None:
    machine(None, _unresolvable)
    assert local_addresses() == []
    machine(None, _resolving("172.17.0.1"))
    assert local_addresses() == ["172.17.0.1"]
    machine("0.0.0.0", _resolving("169.254.3.4", "224.0.0.1", "not-an-address"))
    assert local_addresses() == []  # unspecified, link-local, multicast, unparsable


def test_ipv6_addresses_leave_out_link_local_ones_and_go_in_brackets(machine: Any) -> None:
    opened = machine("fd00::2", _resolving("fe80::1%eth0", "::1", "2001:db8:5::7"))
    assert local_addresses(socket.AF_INET6) == ["fd00::2", "2001:db8:5::7"]
    assert opened == [(socket.AF_INET6, socket.SOCK_DGRAM)]
    assert [url_host(a) for a in ("fd00::2", "192.168.1.20")] == ["[fd00::2]", "192.168.1.20"]


def _printed(capsys: pytest.CaptureFixture[str], host: str, *, tls: bool) -> tuple[str, list[str]]:
    base, network = serve_command._addresses(host, 8000, tls=tls)
    shown = serve_command._announce(base, network, tls=tls, note="notes")
    return shown, capsys.readouterr().out.splitlines()


def test_a_wildcard_host_prints_each_network_address_and_what_phones_need(
    machine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    machine("192.168.1.20", _resolving("10.0.0.5"))
    shown, lines = _printed(capsys, "0.0.0.0", tls=False)
    assert shown == "http://192.168.1.20:8000"  # the login link's address: a phone reaches it
    assert lines == [
        "PrISM service on every address of this machine, here http://127.0.0.1:8000 (notes)",
        "on the local network: web client http://192.168.1.20:8000/watch, "
        "dashboard http://192.168.1.20:8000/dashboard",
        "on the local network: web client http://10.0.0.5:8000/watch, "
        "dashboard http://10.0.0.5:8000/dashboard",
        "phones give motion sensors and the microphone only to HTTPS pages (or pages opened "
        "on localhost): serve with --ssl-certfile and --ssl-keyfile (watch_bridge/README.md)",
    ]
    machine("fd00::2", _resolving())
    shown, lines = _printed(capsys, "::", tls=True)
    assert shown == "https://[fd00::2]:8000" and "here https://[::1]:8000" in lines[0]
    assert "web client https://[fd00::2]:8000/watch" in lines[1]
    assert "accept it" in lines[2]


def test_a_specific_host_prints_its_own_address_only(
    machine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    machine("192.168.1.20", _resolving())
    assert _printed(capsys, "192.168.1.20", tls=True) == (
        "https://192.168.1.20:8000",
        ["PrISM service on https://192.168.1.20:8000 (notes)"],
    )
    machine(None, _unresolvable)
    shown, lines = _printed(capsys, "0.0.0.0", tls=False)
    assert shown == "http://127.0.0.1:8000"
    assert lines[1] == "on the local network: no address found (is this machine on a network?)"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--ssl-keyfile", "{key}"], "--ssl-keyfile needs --ssl-certfile"),
        (["--demo", "--ssl-certfile", "{key}"], "leave out --ssl-certfile"),
    ],
    ids=["key-without-certificate", "demo-over-https"],
)
def test_tls_options_that_cannot_work_are_refused(
    tmp_path: Path, options: list[str], message: str
) -> None:
    key = tmp_path / "tls.key"
    key.write_text("not used", encoding="utf-8")
    result = CliRunner().invoke(app, ["serve", *(o.format(key=key) for o in options)])
    assert result.exit_code == 1 and message in " ".join(result.stderr.split())


def _certificate(folder: Path, *addresses: str) -> tuple[Path, Path]:
    """A self-made certificate (and its key) for ``addresses``, made by openssl."""
    names = ",".join(f"IP:{address}" for address in addresses)
    key, certificate = folder / "tls.key", folder / "tls.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={addresses[0]}", "-addext", f"subjectAltName={names}",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return certificate, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_serving_on_every_address_over_https_prints_the_addresses_to_open(tmp_path: Path) -> None:
    network = local_addresses()
    certificate, key = _certificate(tmp_path, "127.0.0.1", *network)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from prism.cli import app; app()", "serve", "--host", "0.0.0.0",
         "--port", str(port), "--database", ":memory:",
         "--ssl-certfile", str(certificate), "--ssl-keyfile", str(key)],
        cwd=tmp_path,
        env={**os.environ, "PRISM_SERVER_ADMIN_TOKEN": "admin", "COLUMNS": "80"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not (lines and lines[-1].startswith("  (a one-time link")):
            line = process.stdout.readline()
            assert line, "prism serve ended:\n" + "".join(lines)
            lines.append(line)
        printed = "".join(lines)
        assert (
            f"PrISM service on every address of this machine, here https://127.0.0.1:{port}"
            in printed
        )
        for address in network:
            assert (f"web client https://{address}:{port}/watch, "
                    f"dashboard https://{address}:{port}/dashboard") in printed  # fmt: skip
        assert "phones give motion sensors and the microphone only to HTTPS pages" in printed
        login = re.search(r"dashboard: (https://\S+)/dashboard/login\?link=\S+", printed)
        assert login is not None
        assert login.group(1) == f"https://{(network or ['127.0.0.1'])[0]}:{port}"
        trusted = ssl.create_default_context(cafile=str(certificate))
        for address in ["127.0.0.1", *network]:  # the certificate is served on each address
            health = httpx.get(f"https://{address}:{port}/v1/health", verify=trusted, timeout=10)
            assert health.json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGINT)  # as Ctrl+C: the service stops
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0
