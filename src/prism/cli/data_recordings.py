"""``prism data export-session`` and ``prism data import-recording``: recordings of the
service's recording sessions, as files.

``export-session`` downloads a recording session's zip (``GET
/v1/sessions/{id}/recording``: IMU, audio and the step labels between its marks) and
unpacks it as a recording folder; ``import-recording`` checks a zip (or a folder) with
:func:`~prism.data.recording.read_recording` and writes it under ``datasets/``, ready for
``prism procedure learn`` and ``prism train``. Both name what is wrong and exit non-zero.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from prism.cli._common import console, fail, print_json
from prism.cli.data import data_app
from prism.data.recording import Recording, write_recording
from prism.data.recording_archive import read_recording_archive
from prism.errors import PrismError
from prism.watch.session import download_recording

__all__ = ["export_session", "import_recording"]


def _written(recording: Recording, out: Path, *, json_output: bool) -> None:
    """Write ``recording`` to ``out`` and say what it holds."""
    folder = write_recording(recording, out)
    summary = {
        "folder": str(folder),
        "session_id": recording.session_id,
        "task": recording.task,
        "duration_s": round(recording.duration, 3),
        "imu": recording.imu is not None,
        "audio": recording.audio is not None,
        "labelled_steps": len(recording.annotation.segments),
    }
    if json_output:
        print_json(summary)
        return
    kinds = " and ".join(k for k in ("imu", "audio") if summary[k]) or "no sensor data"
    console.print(
        f"{folder}: {recording.duration:.1f} s of {kinds}, "
        f"{summary['labelled_steps']} labelled step(s) of {recording.task}",
        highlight=False,
        soft_wrap=True,
    )


@data_app.command("export-session")
def export_session(
    session: Annotated[str, typer.Option(help="The recording session's id.")],
    out: Annotated[Path, typer.Option(help="Folder of the recording to write.")],
    server: Annotated[str, typer.Option(help="The service's base URL.")] = "http://127.0.0.1:8000",
    admin_token: Annotated[
        str, typer.Option(envvar="PRISM_SERVER_ADMIN_TOKEN", help="The service's admin token.")
    ] = "",
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Download a recording session of the service as a recording folder (meta.json,
    imu.csv, audio.wav, labels.csv: the steps between the marks made while recording).
    Only sessions of devices registered with "recording": true keep their inputs."""
    if not admin_token:
        fail("--admin-token (or PRISM_SERVER_ADMIN_TOKEN) is required")
    try:
        archive = download_recording(server, admin_token, session)
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "recording.zip"
            path.write_bytes(archive)
            recording = read_recording_archive(path)
    except PrismError as error:
        fail(str(error))
    _written(recording, out, json_output=json_output)


@data_app.command("import-recording")
def import_recording(
    source: Annotated[Path, typer.Argument(help="A recording zip, or a recording folder.")],
    out: Annotated[Path, typer.Option(help="Where to write it, e.g. datasets/NAME.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Check a recording (zip or folder: meta.json, imu.csv and/or audio.wav, labels.csv)
    and write it to OUT; what is wrong is named (not a zip, a missing file, a bad CSV
    line) and the command exits with 1."""
    try:
        recording = read_recording_archive(source)
    except PrismError as error:
        fail(str(error))
    _written(recording, out, json_output=json_output)
