"""The ``prism`` command line: one sub-app per area, one module per command."""

from __future__ import annotations

import typer

# Importing a command module registers its commands on its sub-app.
from prism.cli import (  # noqa: F401
    data_import,
    data_recordings,
    data_synth,
    procedure_from_text,
    procedure_learn,
    procedure_show,
    procedure_validate,
)
from prism.cli._common import fail
from prism.cli.data import data_app
from prism.cli.devices import devices_app
from prism.cli.procedure import procedure_app
from prism.cli.watch import watch_app
from prism.errors import SettingsError
from prism.settings import get_settings

app = typer.Typer(help="PrISM: a smartwatch assistant for procedural tasks.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate PrISM components on data sets.", no_args_is_help=True)
app.add_typer(procedure_app, name="procedure")
app.add_typer(eval_app, name="eval")
app.add_typer(data_app, name="data")
app.add_typer(watch_app, name="watch")
app.add_typer(devices_app, name="devices")


@app.callback()
def _read_settings() -> None:
    """PrISM: a smartwatch assistant for procedural tasks."""
    try:  # read once, before any command: a bad PRISM_* variable stops here, by name
        get_settings()
    except SettingsError as error:
        fail(str(error))


# Command modules that register on `app` or `eval_app` import them from here.
from prism.cli import (  # noqa: E402, F401
    demo,
    eval_asr,
    eval_har,
    eval_qa,
    eval_reminders,
    eval_tracker,
    pair,
    reload,
    serve,
    train,
    train_asr,
)

__all__ = ["app", "eval_app"]
