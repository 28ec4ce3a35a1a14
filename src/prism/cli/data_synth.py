"""``prism data synth``: write semi-synthetic recordings of a procedure.

Step order and timing are sampled from ``tasks/<task>/procedure.yaml`` or copied from
real CaptainCook4D recordings (``--from-captaincook``); wrist motion comes from real
OpenPack segments when the data is present (``--motion auto``) or from per-step motion
models; audio is synthesized. See ``datasets/README.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prism.cli._common import console, error_console, fail, print_json, task_procedure
from prism.cli.data import data_app
from prism.data.annotations import AnnotatedSession
from prism.data.captaincook4d import learn_from_captaincook, load_captaincook4d
from prism.errors import PrismError

if TYPE_CHECKING:  # the generator (librosa) loads when the command runs, not with the CLI
    from prism.data.synth.motion import MotionBank
from prism.procedure.model import Procedure

__all__ = ["MotionSource", "synth"]


class MotionSource(StrEnum):
    """Where the wrist motion of generated sessions comes from."""

    auto = "auto"
    openpack = "openpack"
    parametric = "parametric"


def _captaincook(
    data_dir: Path, recipe: str | None, task: str | None
) -> tuple[Procedure, Sequence[AnnotatedSession]]:
    wanted = recipe or task
    if not wanted:
        fail("--from-captaincook needs --recipe SLUG (e.g. scrambledeggs) or --task")
    recipes = load_captaincook4d(data_dir, recipes=[wanted])
    item = next(iter(recipes.values()))
    if not item.sessions:
        fail(f"{data_dir}: recipe {item.slug!r} has no annotated recordings")
    return learn_from_captaincook(item), item.sessions


def _motion_bank(source: MotionSource, openpack: Path | None) -> MotionBank | None:
    from prism.data.synth.motion import build_openpack_bank, default_openpack_root

    if source is MotionSource.parametric:
        return None
    root = openpack or default_openpack_root()
    if root is None or not root.is_dir():
        if source is MotionSource.openpack:
            fail(
                f"--motion openpack: OpenPack data not found at {root or '../shared/data/openpack'}"
                "; pass --openpack DIR or use --motion parametric"
            )
        return None
    return build_openpack_bank(root)


def _sizes(paths: Sequence[Path]) -> int:
    return sum(f.stat().st_size for p in paths for f in p.iterdir() if f.is_file())


@data_app.command("synth")
def synth(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (one sub-folder per session).")
    ],
    task: Annotated[
        str | None, typer.Option(help="Procedure folder under the tasks dir, e.g. latte_making.")
    ] = None,
    sessions: Annotated[int, typer.Option(help="Number of sessions to generate.")] = 10,
    seed: Annotated[
        int, typer.Option(help="Seed (>= 0): the same seed writes the same files.")
    ] = 0,
    users: Annotated[
        int, typer.Option(help="Number of simulated users (sessions cycle over them).")
    ] = 4,
    snr_min: Annotated[
        float, typer.Option(help="Lowest per-session SNR of sounds over background (dB).")
    ] = 0.0,
    snr_max: Annotated[float, typer.Option(help="Highest per-session SNR (dB).")] = 20.0,
    motion: Annotated[
        MotionSource,
        typer.Option(
            help="IMU source: OpenPack segments, per-step models, or auto (OpenPack if present)."
        ),
    ] = MotionSource.auto,
    openpack: Annotated[
        Path | None, typer.Option(help="OpenPack directory (default ../shared/data/openpack).")
    ] = None,
    from_captaincook: Annotated[
        Path | None,
        typer.Option(
            "--from-captaincook",
            help="CaptainCook4D directory: copy the step timing of a recipe's recordings.",
        ),
    ] = None,
    recipe: Annotated[
        str | None, typer.Option(help="CaptainCook4D recipe (task-graph name; default --task).")
    ] = None,
    duration_scale: Annotated[
        float,
        typer.Option(help="Factor on sampled step and gap durations (e.g. 0.3 for short demos)."),
    ] = 1.0,
    tasks_dir: Annotated[
        Path | None, typer.Option(help="Where procedures live (default: PRISM_TASKS_DIR).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary instead of a table.")
    ] = False,
) -> None:
    """Generate semi-synthetic recordings (wrist IMU, audio, step labels) of a procedure."""
    if sessions < 1:
        fail(f"--sessions must be >= 1, got {sessions}")
    if users < 1:
        fail(f"--users must be >= 1, got {users}")
    if seed < 0:
        fail(f"--seed must be >= 0, got {seed}")
    if not snr_min <= snr_max:
        fail(f"--snr-min ({snr_min}) must not exceed --snr-max ({snr_max})")
    if duration_scale <= 0:
        fail(f"--duration-scale must be > 0, got {duration_scale}")
    started = time.perf_counter()
    from prism.data.synth.generator import synthesize_dataset

    try:
        sources: Sequence[AnnotatedSession] | None = None
        if from_captaincook is not None:
            procedure, sources = _captaincook(from_captaincook, recipe, task)
        elif not task:
            fail("give --task NAME (a folder of tasks/) or --from-captaincook DIR --recipe SLUG")
        else:
            procedure = task_procedure(task, tasks_dir)
        bank = _motion_bank(motion, openpack)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=error_console, transient=True, disable=as_json) as bar:
            job = bar.add_task(f"Generating {procedure.id}", total=sessions)

            def advance(done: int, total: int, session_id: str) -> None:
                bar.update(job, completed=done, description=f"Wrote {session_id}")

            paths = synthesize_dataset(
                procedure,
                n_sessions=sessions,
                seed=seed,
                out_dir=out,
                n_users=users,
                snr_db_range=(snr_min, snr_max),
                motion_bank=bank,
                source_sessions=sources,
                duration_scale=duration_scale,
                progress=advance,
            )
    except PrismError as error:
        fail(str(error))
    except OSError as error:
        fail(f"{error.filename or out}: {error.strerror or error}")
    elapsed = time.perf_counter() - started
    _report(out, procedure, paths, bank, elapsed, as_json=as_json)


def _report(
    out: Path,
    procedure: Procedure,
    paths: Sequence[Path],
    bank: MotionBank | None,
    elapsed: float,
    *,
    as_json: bool,
) -> None:
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    size = _sizes(paths)
    summary = {
        "out_dir": str(out),
        "task": procedure.id,
        "seed": manifest["seed"],
        "motion_source": manifest["motion_source"],
        "sessions": [
            entry | {"path": str(path)}
            for entry, path in zip(manifest["sessions"], paths, strict=True)
        ],
        "bytes": size,
        "elapsed_s": round(elapsed, 3),
    }
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"{procedure.name}: {len(paths)} semi-synthetic sessions in {out}")
    for column in ("session", "user", "duration (s)", "steps", "SNR (dB)"):
        table.add_column(column, justify="left" if column in ("session", "user") else "right")
    for entry in manifest["sessions"]:
        table.add_row(
            entry["session_id"],
            entry["user"],
            f"{entry['duration_s']:.1f}",
            str(entry["steps"]),
            f"{entry['snr_db']:.1f}",
        )
    console.print(table)
    motion = bank.description if bank is not None else "parametric motion models"
    console.print(
        f"motion: {motion}; {size / 1e6:.1f} MB written in {elapsed:.1f} s", highlight=False
    )
