"""Reloading the tasks and models folders, and a guided session switched to sensing once
its task has a model: the state carries over, frames are classified from then on, and
both survive a restart."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import TASKS, service_settings
from prism.cli import app as cli
from prism.errors import PrismError
from prism.protocol import FrameKind, SensorFrame, encode_frame
from prism.sensing.streaming import StreamingClassifier
from prism.server.app import create_app
from prism.server.pipeline import LocalPipeline
from prism.server.shards import ShardedPipeline
from prism.server.threaded import serve_in_thread
from prism.settings import Settings

MODELS = TASKS.parent / "models"
ADMIN = {"Authorization": "Bearer admin"}
NEW = "latte_copy"
"""A new task: the latte procedure under another id, no model until a test adds one."""


def _add_task(tasks: Path, procedure_id: str, *, name: str = "Latte making") -> None:
    text = (TASKS / "latte_making" / "procedure.yaml").read_text()
    text = text.replace("id: latte_making", f"id: {procedure_id}", 1)
    text = text.replace("name: Latte making", f"name: {name}", 1)
    (tasks / procedure_id).mkdir(exist_ok=True)
    (tasks / procedure_id / "procedure.yaml").write_text(text)


def _add_model(models: Path, procedure_id: str) -> None:
    shutil.copytree(MODELS / "latte_making", models / procedure_id)


def _settings(tmp_path: Path, **server: Any) -> Settings:
    tasks, models = tmp_path / "tasks", tmp_path / "models"
    tasks.mkdir(exist_ok=True)
    models.mkdir(exist_ok=True)
    _add_task(tasks, NEW)
    base = service_settings(admin_token="admin", warm_up_sessions=0, **server)
    return base.model_copy(update={"tasks_dir": tasks, "models_dir": models})


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[tuple[Settings, TestClient]]:
    settings = _settings(tmp_path, database=":memory:")
    with TestClient(create_app(settings)) as client:
        yield settings, client


def _device(client: TestClient) -> dict[str, str]:
    token = client.post("/v1/devices", json={"name": "w"}, headers=ADMIN).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _open(client: TestClient, auth: dict[str, str], procedure: str = NEW) -> dict[str, Any]:
    reply = client.post("/v1/sessions", json={"procedure": procedure}, headers=auth)
    assert reply.status_code == 200, reply.text
    opened: dict[str, Any] = reply.json()
    return opened


def _second(seq: int, t0: float) -> list[bytes]:
    """One second of stillness and quiet: an IMU frame and an audio frame."""
    imu = np.zeros((50, 6), dtype=np.float32)
    imu[:, 2] = 9.81
    noise = np.random.default_rng(seq).normal(0, 0.01, 16_000).astype(np.float32)
    return [
        encode_frame(SensorFrame(FrameKind.IMU, seq, t0, 50.0, imu)),
        encode_frame(SensorFrame(FrameKind.AUDIO, seq + 1, t0, 16_000.0, noise)),
    ]


def _stream(
    client: TestClient, session_id: str, auth: dict[str, str], seconds: range, *, first_seq: int
) -> list[dict[str, Any]]:
    """Send ``seconds`` of frames (then a question, which waits for them); the
    messages received after the welcome, up to its answer."""
    token = auth["Authorization"].split()[1]
    sent = len(client.get(f"/v1/sessions/{session_id}/events", headers=auth).json())
    with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1, "resume_from": sent})
        assert ws.receive_json()["type"] == "welcome"
        seq = first_seq
        for second in seconds:
            for body in _second(seq, float(second)):
                ws.send_bytes(body)
            seq += 2
        ws.send_json({"type": "question", "seq": seq, "text": "where am I?", "t": 0.0})
        received = []
        while (message := ws.receive_json())["type"] != "answer":
            assert message["type"] != "error", message
            received.append(message)
    return received


def _welcome(client: TestClient, session_id: str, auth: dict[str, str]) -> list[dict[str, Any]]:
    """The welcome and every message of the session, as a watch resuming from 0 gets them."""
    token = auth["Authorization"].split()[1]
    with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1, "resume_from": 0})
        messages = [ws.receive_json()]
        events = client.get(f"/v1/sessions/{session_id}/events", headers=auth).json()
        messages += [ws.receive_json() for _ in events]
    return messages


# ---------------------------------------------------------------------------- reload
def test_reload_reports_what_changed_and_needs_the_admin_token(
    folders: tuple[Settings, TestClient],
) -> None:
    settings, client = folders
    assert client.post("/v1/admin/reload").status_code == 401
    assert client.post("/v1/admin/reload", headers=_device(client)).status_code == 401
    ids = [p["id"] for p in client.get("/v1/procedures").json()]
    assert ids == [NEW]
    _add_task(settings.tasks_dir, "second")
    (settings.tasks_dir / "broken").mkdir()
    (settings.tasks_dir / "broken" / "procedure.yaml").write_text("id: broken\nsteps: [\n")
    _add_task(settings.tasks_dir, NEW, name="Latte, new wording")
    _add_model(settings.models_dir, "second")
    summary = client.post("/v1/admin/reload", headers=ADMIN).json()
    assert summary["added"] == ["broken", "second"] and summary["changed"] == [NEW]
    assert summary["removed"] == [] and summary["models"] == ["second"]
    assert summary["privacy_models"] == ["second"]
    assert "broken/procedure.yaml" in summary["broken"]["broken"]
    listed = {p["id"]: p for p in client.get("/v1/procedures").json()}
    assert sorted(listed) == [NEW, "second"] and listed["second"]["model"]
    assert listed[NEW]["name"] == "Latte, new wording"
    # the broken file fixed, the new task gone: a reload says so
    shutil.rmtree(settings.tasks_dir / "second")
    _add_task(settings.tasks_dir, "broken")
    summary = client.post("/v1/admin/reload", headers=ADMIN).json()
    assert summary["removed"] == ["second"] and summary["changed"] == ["broken"]
    assert summary["broken"] == {}
    assert client.get("/v1/procedures/broken").status_code == 200


def test_a_changed_procedure_and_a_new_model_are_for_new_sessions_only(
    folders: tuple[Settings, TestClient],
) -> None:
    settings, client = folders
    auth = _device(client)
    before = _open(client, auth)
    assert before["mode"] == "guided"
    _add_task(settings.tasks_dir, NEW, name="Latte, new wording")
    _add_model(settings.models_dir, NEW)
    client.post("/v1/admin/reload", headers=ADMIN)
    after = _open(client, auth)
    assert after["mode"] == "sensing"
    pipeline = client.app.state.registry.pipeline  # type: ignore[attr-defined]
    assert isinstance(pipeline, LocalPipeline)
    assert pipeline.runtimes[before["session_id"]].procedure.name == "Latte making"
    assert pipeline.runtimes[after["session_id"]].procedure.name == "Latte, new wording"
    view = client.get(f"/v1/sessions/{before['session_id']}", headers=auth).json()
    assert view["mode"] == "guided"  # until it is switched


# ---------------------------------------------------------------------------- switch
def test_a_switch_is_refused_without_a_model_and_for_others(
    folders: tuple[Settings, TestClient],
) -> None:
    settings, client = folders
    auth = _device(client)
    session_id = _open(client, auth)["session_id"]
    url = f"/v1/sessions/{session_id}/mode"
    refused = client.post(url, json={"mode": "sensing"}, headers=auth)
    assert refused.status_code == 409 and "no model for task" in refused.json()["detail"]
    assert client.post(url, json={"mode": "guided"}, headers=auth).status_code == 422
    other = _device(client)
    assert client.post(url, json={"mode": "sensing"}, headers=other).status_code == 404
    unknown = client.post("/v1/sessions/ses-nope/mode", json={"mode": "sensing"}, headers=auth)
    assert unknown.status_code == 404
    _add_model(settings.models_dir, NEW)
    client.post("/v1/admin/reload", headers=ADMIN)
    sensing = _open(client, auth)["session_id"]
    again = client.post(f"/v1/sessions/{sensing}/mode", json={"mode": "sensing"}, headers=auth)
    assert again.status_code == 409 and "sensing already" in again.json()["detail"]


def test_a_switched_session_keeps_its_state_and_is_classified_from_then_on(
    folders: tuple[Settings, TestClient],
) -> None:
    settings, client = folders
    auth = _device(client)
    session_id = _open(client, auth)["session_id"]
    _stream(client, session_id, auth, range(20), first_seq=1)
    guided = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
    _add_model(settings.models_dir, NEW)
    client.post("/v1/admin/reload", headers=ADMIN)
    switched = client.post(
        f"/v1/sessions/{session_id}/mode", json={"mode": "sensing"}, headers=auth
    ).json()
    assert switched["mode"] == "sensing" and switched["time_s"] == guided["time_s"]
    now = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
    assert now["mode"] == "sensing"
    assert now["current"] == guided["current"] and now["history"] == guided["history"]
    runtimes = client.app.state.registry.pipeline.runtimes  # type: ignore[attr-defined]
    assert isinstance(runtimes[session_id].stream, StreamingClassifier)
    assert not runtimes[session_id].assistant.guided
    messages = _welcome(client, session_id, auth)
    assert messages[0]["mode"] == "sensing"
    modes = [m for m in messages if m["type"] == "mode"]
    assert [m["mode"] for m in modes] == ["sensing"] and modes[0]["t"] == guided["time_s"]
    _stream(client, session_id, auth, range(20, 30), first_seq=42)
    runtime = runtimes[session_id]
    assert runtime.stream.n_emitted >= 40  # 10 s classified (about 1 s of latency)
    later = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
    assert later["time_s"] >= guided["time_s"] + 8.0
    uniform = 1.0 / (runtime.procedure.n_steps + 1)
    assert not np.allclose(runtime.probability_history.last(5)[1], uniform)


@pytest.mark.parametrize("checkpoint_every_s", [None, 5.0])
def test_the_switch_and_the_opening_mode_survive_a_restart(
    tmp_path: Path, checkpoint_every_s: float | None
) -> None:
    settings = _settings(
        tmp_path, database=str(tmp_path / "db.sqlite3"), checkpoint_every_s=checkpoint_every_s
    )
    with TestClient(create_app(settings)) as client:
        auth = _device(client)
        switched = _open(client, auth)["session_id"]
        stays = _open(client, auth)["session_id"]
        _stream(client, switched, auth, range(12), first_seq=1)
        _stream(client, stays, auth, range(12), first_seq=1)
        _add_model(settings.models_dir, NEW)
        client.post("/v1/admin/reload", headers=ADMIN)
        url = f"/v1/sessions/{switched}/mode"
        assert client.post(url, json={"mode": "sensing"}, headers=auth).status_code == 200
        _stream(client, switched, auth, range(12, 20), first_seq=26)
        views = [client.get(f"/v1/sessions/{s}", headers=auth).json() for s in (switched, stays)]
        before = dict(zip((switched, stays), views, strict=True))
    with TestClient(create_app(settings)) as client:  # a new process would do the same
        for session_id, view in before.items():
            after = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
            assert after.pop("probability") == pytest.approx(view.pop("probability"), abs=1e-6)
            assert after == view
        assert before[switched]["mode"] == "sensing" and before[stays]["mode"] == "guided"


# ---------------------------------------------------------------------------- CLI
def test_prism_reload_prints_the_summary_and_fails_clearly(tmp_path: Path) -> None:
    settings = _settings(tmp_path, database=":memory:")
    server, port = serve_in_thread(settings)
    runner = CliRunner()
    url = f"http://127.0.0.1:{port}"
    try:
        _add_task(settings.tasks_dir, "second")
        done = runner.invoke(cli, ["reload", "--server", url, "--admin-token", "admin"])
        assert done.exit_code == 0, done.output
        assert "added: second" in done.output and "models: none" in done.output
        wrong = runner.invoke(cli, ["reload", "--server", url, "--admin-token", "nope"])
        assert wrong.exit_code == 1 and "401" in wrong.output
    finally:
        server.should_exit = True
    gone = runner.invoke(cli, ["reload", "--server", "http://127.0.0.1:9", "--admin-token", "a"])
    assert gone.exit_code == 1 and "cannot reach the service" in gone.output


def test_a_reload_drops_the_models_the_pipeline_workers_loaded(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _add_model(settings.models_dir, NEW)
    pipeline = ShardedPipeline(settings.tasks_dir, settings.models_dir, workers=1)
    try:
        assert pipeline.open("ses-a", NEW) == "sensing"
        # replaced by a model of another task: still the one loaded, until a reload
        shutil.rmtree(settings.models_dir / NEW)
        shutil.copytree(MODELS / "openpack_packing", settings.models_dir / NEW)
        assert pipeline.open("ses-b", NEW) == "sensing"
        pipeline.reload()
        with pytest.raises(PrismError, match="do not match the steps"):
            pipeline.open("ses-c", NEW)
        shutil.rmtree(settings.models_dir / NEW)
        pipeline.reload()
        assert pipeline.open("ses-d", NEW) == "guided"
        with pytest.raises(PrismError, match="no model for task"):
            pipeline.sense("ses-d")
        _add_model(settings.models_dir, NEW)
        pipeline.reload()
        assert [event.kind for event in pipeline.sense("ses-d")] == ["mode", "step"]
        assert pipeline.snapshot("ses-d")["mode"] == "sensing"
    finally:
        pipeline.close()
