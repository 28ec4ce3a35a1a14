"""Pairing a device by a one-time code: the REST exchange, its refusals, the CLI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import ADMIN_TOKEN, service_settings
from prism.cli import app as cli
from prism.errors import PairingNotFoundError
from prism.server.app import create_app
from prism.server.devices import Devices
from prism.server.pairing import CODE_LENGTH, PAIRING_LIFETIME_S, Pairings
from prism.storage import SqliteStore

ADMIN = {"Authorization": "Bearer admin"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = service_settings(admin_token="admin", database=":memory:", warm_up_sessions=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_code_becomes_a_device_once(client: TestClient) -> None:
    made = client.post("/v1/pairings", json={"task": "latte_making"}, headers=ADMIN)
    assert made.status_code == 200, made.text
    pairing = made.json()
    assert re.fullmatch(rf"[A-Z2-9]{{{CODE_LENGTH}}}", pairing["code"])
    assert pairing["url"].endswith(f"/watch?pair={pairing['code']}")
    assert pairing["qr_svg"].startswith("<svg") and "admin" not in pairing["url"]
    claimed = client.post("/v1/pairings/claim", json={"code": pairing["code"].lower()})
    assert claimed.status_code == 200, claimed.text
    device = claimed.json()
    assert device["task"] == "latte_making"
    assert f"token={device['token']}&task=latte_making" in device["sensor_logger_url"]
    auth = {"Authorization": f"Bearer {device['token']}"}
    opened = client.post("/v1/sessions", json={"procedure": device["task"]}, headers=auth)
    assert opened.status_code == 200
    again = client.post("/v1/pairings/claim", json={"code": pairing["code"]})
    unknown = client.post("/v1/pairings/claim", json={"code": "ABCDEFGHJK"})
    assert again.status_code == unknown.status_code == 404
    assert again.json() == unknown.json() == {"detail": "unknown, used or expired pairing code"}


def test_only_an_admin_makes_codes_and_only_for_known_tasks(client: TestClient) -> None:
    assert client.post("/v1/pairings", json={"task": "latte_making"}).status_code == 401
    wrong = {"Authorization": "Bearer not-admin"}
    assert (
        client.post("/v1/pairings", json={"task": "latte_making"}, headers=wrong).status_code == 401
    )
    unknown = client.post("/v1/pairings", json={"task": "../tasks/latte_making"}, headers=ADMIN)
    assert unknown.status_code == 404


def test_a_code_expires(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    now = [1_000_000.0]
    pairings = Pairings(store, Devices(store, shared=False), clock=lambda: now[0])
    made = pairings.create("latte_making")
    now[0] += PAIRING_LIFETIME_S + 1
    with pytest.raises(PairingNotFoundError):
        pairings.claim(made.code, "watch")
    fresh = pairings.create("wound_care")
    assert pairings.claim(fresh.code, "watch")[2] == "wound_care"
    assert store.devices()  # the claim registered a device
    store.close()


def test_prism_pair_prints_the_qr_code_and_link(live_server: str, tmp_path: Path) -> None:
    svg = tmp_path / "pair.svg"
    result = CliRunner().invoke(
        cli,
        [
            "pair",
            "--task",
            "latte_making",
            "--server",
            f"http://{live_server}",
            "--admin-token",
            ADMIN_TOKEN,
            "--svg",
            str(svg),
        ],
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"/watch\?pair=[A-Z2-9]{10}", result.output)
    assert "valid 10 minutes, once" in result.output
    assert svg.read_text().startswith("<svg")
    refused = CliRunner().invoke(
        cli,
        [
            "pair",
            "--task",
            "latte_making",
            "--server",
            f"http://{live_server}",
            "--admin-token",
            "wrong",
        ],
    )
    assert refused.exit_code != 0 and "making a pairing failed (401)" in refused.output
