"""What the service keeps and for how long: recording devices, the retention of ended
sessions, deleting a device's data (REST and CLI), the checkpoint signing key."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from conftest import server_registry, service_settings
from prism.cli import app as cli
from prism.errors import CheckpointError
from prism.protocol import ErrorCode
from prism.server.app import create_app
from prism.server.signing import KEY_FILE, CheckpointSigner, checkpoint_key
from prism.settings import ServerSettings
from prism.storage import Record, SqliteStore

ADMIN = {"Authorization": "Bearer admin"}


def _client(database: str = ":memory:") -> TestClient:
    settings = service_settings(admin_token="admin", database=database, warm_up_sessions=0)
    return TestClient(create_app(settings))


def _register(client: TestClient, body: dict[str, object]) -> dict[str, str]:
    response = client.post("/v1/devices", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _open(client: TestClient, token: str) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    response = client.post("/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


@pytest.mark.parametrize("recording", [False, True], ids=["default", "recording"])
def test_welcome_says_whether_the_session_records(recording: bool) -> None:
    with _client() as client:
        body: dict[str, object] = {"name": "watch"}
        if recording:
            body["recording"] = True
        device = _register(client, body)
        assert device["recording"] is recording
        session_id = _open(client, device["token"])
        url = f"/v1/sessions/{session_id}/stream?token={device['token']}"
        with client.websocket_connect(url) as ws:
            ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
            welcome = ws.receive_json()
        assert welcome["type"] == "welcome" and welcome["recording"] is recording


@pytest.mark.parametrize("value", ["true", 1, None], ids=["string", "integer", "null"])
def test_the_recording_flag_must_be_a_json_boolean(value: object) -> None:
    with _client() as client:
        body = {"name": "watch", "recording": value}
        response = client.post("/v1/devices", json=body, headers=ADMIN)
        assert response.status_code == 422 and "recording" in response.text


def test_deleting_a_device_deletes_its_data_and_closes_its_connections(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    with _client(str(database)) as client:
        device, other = _register(client, {"name": "w"}), _register(client, {"name": "o"})
        kept = _open(client, other["token"])
        session_id = _open(client, device["token"])
        url = f"/v1/sessions/{session_id}/stream?token={device['token']}"
        device_path = f"/v1/devices/{device['device_id']}"
        with client.websocket_connect(url) as ws:
            ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
            ws.receive_json()
            assert client.delete(device_path).status_code == 401  # admin only
            response = client.delete(device_path, headers=ADMIN)
            assert response.json() == {"device_id": device["device_id"], "sessions_deleted": 1}
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == ErrorCode.UNKNOWN_SESSION
        auth = {"Authorization": f"Bearer {device['token']}"}
        assert client.get("/v1/sessions", headers=auth).status_code == 401
        missing = client.delete(device_path, headers=ADMIN)
        assert missing.status_code == 404 and missing.json() == {"detail": "unknown device"}
        long_id = client.delete("/v1/devices/" + "x" * 500, headers=ADMIN)
        assert long_id.status_code == 404 and "xxx" not in long_id.text
        assert (
            client.get(
                f"/v1/sessions/{kept}", headers={"Authorization": f"Bearer {other['token']}"}
            ).status_code
            == 200
        )
    store = SqliteStore(database)
    assert [row.session_id for row in store.sessions()] == [kept]
    assert list(store.devices()) == [other["device_id"]]
    store.close()


def test_the_cli_deletes_a_device_in_the_configured_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "db.sqlite3"
    store = SqliteStore(database)
    store.add_device("dev-1", "hash", "watch")
    store.add_session("s1", "dev-1", "latte_making")
    store.record_many([Record("s1", messages=[{"seq": 1}])])
    store.close()
    monkeypatch.setenv("PRISM_SERVER_DATABASE", str(database))  # read afresh per test
    result = CliRunner().invoke(cli, ["devices", "forget", "dev-1"])
    assert result.exit_code == 0, result.output
    assert "deleted device dev-1 and 1 sessions" in result.output
    again = CliRunner().invoke(cli, ["devices", "forget", "dev-1"])
    assert again.exit_code == 1 and "unknown device 'dev-1'" in again.output
    store = SqliteStore(database)
    assert (store.devices(), store.sessions(), store.outputs("s1")) == ({}, [], [])
    store.close()


def test_ended_sessions_are_purged_after_the_retention(tmp_path: Path) -> None:
    registry = server_registry(database=str(tmp_path / "db.sqlite3"), retention_days=2.0)
    ended, live = (registry.open_session("dev", "latte_making") for _ in range(2))
    registry.commit(ended, None, [], ended=True)
    now = time.time()
    assert asyncio.run(registry.purge_expired(now + 1.9 * 86400)) == []
    assert asyncio.run(registry.purge_expired(now + 2.1 * 86400)) == [ended.id]
    assert ended.id not in registry.sessions and registry.store.session(ended.id) is None
    assert live.id in registry.sessions and registry.store.session(live.id) is not None
    assert registry.counters["sessions_purged"] == 1
    keep_all = server_registry(database=str(tmp_path / "kept.sqlite3"), retention_days=None)
    session = keep_all.open_session("dev", "latte_making")
    keep_all.commit(session, None, [], ended=True)
    assert asyncio.run(keep_all.purge_expired(now + 1e9)) == []


def test_a_checkpoint_is_signed_and_any_change_refused() -> None:
    signer = CheckpointSigner(b"k" * 32)
    signed = signer.sign(b"checkpoint bytes")
    assert signer.verify(signed) == b"checkpoint bytes"
    flipped = bytes([signed[-1] ^ 1])
    for bad in (signed[:-1] + flipped, signed[:31], b"", CheckpointSigner(b"j" * 32).sign(b"x")):
        with pytest.raises(CheckpointError, match="signature does not match"):
            signer.verify(bad)
    with pytest.raises(ValueError, match="at least 16 bytes, got 3"):
        CheckpointSigner(b"abc")


def test_the_key_is_the_secret_or_a_file_beside_the_database(tmp_path: Path) -> None:
    secret = ServerSettings(checkpoint_secret="s" * 20)
    assert checkpoint_key(secret) == b"s" * 20
    database = str(tmp_path / "state" / "db.sqlite3")
    first = checkpoint_key(ServerSettings(database=database))
    path = tmp_path / "state" / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(first) == 64
    assert checkpoint_key(ServerSettings(database=database)) == first  # other processes too
    assert sorted(p.name for p in path.parent.iterdir()) == [KEY_FILE]
    memory = ServerSettings(database=":memory:")
    assert checkpoint_key(memory) != checkpoint_key(memory)
    path.write_text("short")
    with pytest.raises(CheckpointError, match="too short"):
        checkpoint_key(ServerSettings(database=database))
