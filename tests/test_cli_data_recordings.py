"""``prism data export-session`` (from a running service) and ``prism data
import-recording`` (a zip or a folder, checked; what is wrong is named)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner
from websockets.sync.client import connect

from conftest import ADMIN_TOKEN
from prism.cli import app as cli
from prism.data.recording import read_recording
from prism.data.recording_archive import recording_archive
from prism.protocol import SensorFrame, encode_frame
from prism.watch.replay import sensor_frames

DEMO = Path("datasets/demo/latte_making-s000")


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["data", *args])
    return result.exit_code, result.output


def _zip(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    path = tmp_path / "rec.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return path


def test_a_zip_is_imported_as_the_recording_it_holds(tmp_path: Path) -> None:
    recording = read_recording(DEMO)
    path = tmp_path / "demo.zip"
    path.write_bytes(recording_archive(recording))
    code, output = _invoke("import-recording", str(path), "--out", str(tmp_path / "out"), "--json")
    assert code == 0, output
    assert json.loads(output)["labelled_steps"] == len(recording.annotation.segments)
    imported = read_recording(tmp_path / "out")
    assert imported.annotation.segments == pytest.approx(recording.annotation.segments)
    assert imported.audio is not None and recording.audio is not None
    assert imported.audio.size == recording.audio.size


META = json.dumps({"session_id": "s", "task": "latte_making", "synthetic": False})
IMU_HEADER = "t,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z\n"
BAD_ROW = IMU_HEADER + "0,0,0,9.8,0,0,0\n0.02,a,0,0,0,0,0\n"


@pytest.mark.parametrize(
    ("files", "named"),
    [
        (None, "not a zip file"),
        ({"imu.csv": IMU_HEADER + "0,0,0,9.8,0,0,0\n"}, "no meta.json"),
        ({"meta.json": META}, "needs imu.csv or audio.wav"),
        ({"meta.json": "{", "imu.csv": IMU_HEADER}, "meta.json"),
        ({"meta.json": META, "imu.csv": "t,x\n0,1\n"}, "imu.csv:1: header must be"),
        (
            {"meta.json": META, "imu.csv": BAD_ROW},
            "imu.csv",
        ),
        ({"a/meta.json": META, "b/imu.csv": IMU_HEADER}, "more than one recording"),
    ],
    ids=["bad-zip", "no-meta", "no-sensor-file", "bad-json", "bad-header", "bad-row", "two"],
)
def test_import_names_what_is_wrong(
    tmp_path: Path, files: dict[str, str] | None, named: str
) -> None:
    if files is None:
        path = tmp_path / "rec.zip"
        path.write_bytes(b"PK not really")
    else:
        path = _zip(tmp_path, files)
    code, output = _invoke("import-recording", str(path), "--out", str(tmp_path / "out"))
    assert code == 1 and named in output and "rec.zip" in output, output
    assert not (tmp_path / "out").exists()


def test_import_of_a_missing_path_fails(tmp_path: Path) -> None:
    code, output = _invoke("import-recording", str(tmp_path / "nope.zip"), "--out", "x")
    assert code == 1 and "no such file" in output


def test_export_session_downloads_a_recording_session(live_server: str, tmp_path: Path) -> None:
    base = f"http://{live_server}"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    sessions = {}
    for recording in (True, False):
        device = httpx.post(
            f"{base}/v1/devices", json={"name": "w", "recording": recording}, headers=admin
        ).json()
        auth = {"Authorization": f"Bearer {device['token']}"}
        opened = httpx.post(f"{base}/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
        sessions[recording] = (opened.json()["session_id"], device["token"])
    session_id, token = sessions[True]
    frames = [f for f in sensor_frames(read_recording(DEMO), chunk_s=0.5) if f.t0 < 8.0]
    with connect(f"ws://{live_server}/v1/sessions/{session_id}/stream?token={token}") as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1}))
        seq = 0
        for frame in frames:
            seq += 1
            ws.send(encode_frame(SensorFrame(frame.kind, seq, frame.t0, frame.rate, frame.samples)))
        ws.send(json.dumps({"type": "mark", "seq": seq + 1, "step": "attach_filter", "t": 2.0}))
        while json.loads(ws.recv()).get("type") != "marked":
            pass
    out = tmp_path / "exported"
    args = ["--server", base, "--admin-token", ADMIN_TOKEN, "--out", str(out)]
    code, output = _invoke("export-session", "--session", session_id, *args)
    assert code == 0, output
    exported = read_recording(out)
    assert [(s.step, s.start) for s in exported.annotation.segments] == [("attach_filter", 2.0)]
    assert exported.annotation.segments[0].end == pytest.approx(exported.duration)
    refused, why = _invoke("export-session", "--session", sessions[False][0], *args)
    assert refused == 1 and "(409)" in why and "not recorded" in why
    unknown, why = _invoke("export-session", "--session", "ses-nope", *args)
    assert unknown == 1 and "(404)" in why
