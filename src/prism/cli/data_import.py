"""``prism data import ...``: recordings made with other apps, as PrISM recordings.

``prism data import sensor-logger FILE.zip --task TASK --out DIR`` reads a Sensor Logger
zip export (:mod:`prism.data.sensor_logger_export`: wrist or phone motion, step labels
from the app's annotations) and writes a recording folder (``meta.json``, ``imu.csv``,
``labels.csv``), ready for ``prism train`` and the evaluations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prism.cli._common import console, fail, task_procedure
from prism.cli.data import data_app
from prism.data.recording import write_recording
from prism.data.sensor_logger_export import read_sensor_logger_export
from prism.errors import PrismError

__all__ = ["import_app"]

import_app = typer.Typer(help="Import recordings made with other apps.", no_args_is_help=True)
data_app.add_typer(import_app, name="import")


@import_app.command("sensor-logger")
def sensor_logger(
    export: Annotated[Path, typer.Argument(help="Sensor Logger zip export.")],
    task: Annotated[str, typer.Option(help="The procedure the recording performs.")],
    out: Annotated[Path, typer.Option(help="Folder of the recording to write.")],
    session_id: Annotated[
        str | None, typer.Option(help="Session id (default: the file's name).")
    ] = None,
) -> None:
    """Write a Sensor Logger recording (zip export) as a PrISM recording folder."""
    procedure = task_procedure(task)
    try:
        recording = read_sensor_logger_export(export, procedure, session_id=session_id)
    except PrismError as error:
        fail(str(error))
    folder = write_recording(recording, out)
    steps = len(recording.annotation.segments)
    console.print(
        f"{folder}: {recording.duration:.1f} s of IMU at 50 Hz, {steps} labelled step(s) "
        f"of {procedure.id}"
    )
