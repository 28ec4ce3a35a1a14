"""``prism train``: train a task's activity classifier and save it as a model directory.

The data is a folder of recordings (one sub-folder per session with ``meta.json``, as
written by ``prism data synth``) or ``openpack:<path>``, the real OpenPack wrist IMU
(each packed box one session, IMU only). Only sessions of ``--task`` are used. The model
(weights, normalisers, calibration, confusion matrix, model card) is written to
``--out``, by default ``<models dir>/<task>`` (``PRISM_MODELS_DIR``, the repository's
``models/``); see ``docs/sensing.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prism.cli import app
from prism.cli._common import console, error_console, fail, print_json, task_procedure
from prism.data.openpack_imu import load_openpack_recordings, trim_to_imu
from prism.data.recording import Recording, read_recording
from prism.errors import PrismError
from prism.settings import get_settings

if TYPE_CHECKING:
    from prism.sensing.classifier import ActivityClassifier
    from prism.sensing.training import TrainingProgress

__all__ = ["OPENPACK_PREFIX", "load_training_data", "parse_modalities", "train"]

OPENPACK_PREFIX = "openpack:"
"""``--data openpack:<path>`` reads real OpenPack boxes instead of a recordings folder."""
_MODALITIES = ("imu", "audio")


def parse_modalities(text: str) -> tuple[str, ...]:
    """``"imu,audio"`` -> ``("imu", "audio")``; fails (user error) on unknown or repeated names."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in _MODALITIES]
    if not names or unknown or len(set(names)) != len(names):
        fail(
            f"--modalities must be a comma-separated subset of {', '.join(_MODALITIES)} "
            f"without repeats, got {text!r}"
        )
    return names


def _recording_dirs(root: Path) -> list[Path]:
    if (root / "meta.json").is_file():  # one recording given directly
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "meta.json").is_file())


def load_training_data(data: str) -> tuple[list[Recording], dict[str, Any]]:
    """Read ``--data``: a recordings folder or ``openpack:<path>``.

    Parameters
    ----------
    data : str
        A folder holding one sub-folder per recording (``meta.json``, ``imu.csv``,
        ``audio.wav``, ``labels.csv``), a single recording folder, or
        ``openpack:<path>`` (OpenPack root; every annotated box of every user).

    Returns
    -------
    (recordings, description)
        All recordings found (any task) and a description of the source for the model
        card: ``source``, ``kind`` and ``path``.

    Raises
    ------
    DataError
        If a recording or an OpenPack file is malformed (naming the file).
    """
    if data.startswith(OPENPACK_PREFIX):
        root = Path(data[len(OPENPACK_PREFIX) :] or ".")
        if not root.is_dir():
            fail(f"--data {data}: OpenPack directory {root} not found")
        recordings = [trim_to_imu(r) for r in load_openpack_recordings(root)]
        source = "OpenPack v1.0.0 right-wrist IMU (atr01), one session per packed box"
        return recordings, {"source": source, "kind": "openpack", "path": str(root)}
    root = Path(data)
    if not root.is_dir():
        fail(f"--data {data}: not a directory (give a folder of recordings or openpack:<path>)")
    dirs = _recording_dirs(root)
    if not dirs:
        fail(
            f"--data {data}: no recordings (sub-folders with meta.json) found; "
            "generate some with `prism data synth` or use openpack:<path>"
        )
    recordings = [read_recording(path) for path in dirs]
    return recordings, {"source": "recording folders", "kind": "recordings", "path": str(root)}


def _describe_data(base: dict[str, Any], used: Sequence[Recording], skipped: int) -> dict[str, Any]:
    synthetic = sum(r.synthetic for r in used)
    if synthetic == len(used):
        nature = "semi-synthetic"
    elif synthetic == 0:
        nature = "real"
    else:
        nature = f"mixed: {synthetic} semi-synthetic, {len(used) - synthetic} real"
    description = {
        "source": base["source"],
        "path": base["path"],
        "sessions": len(used),
        "synthetic": nature,
        "hours": round(sum(r.duration for r in used) / 3600.0, 3),
    }
    generators = sorted(
        {
            f"{r.metadata.get('generator')} v{r.metadata.get('generator_version')}"
            for r in used
            if r.synthetic and r.metadata.get("generator")
        }
    )
    if generators:
        description["generator"] = ", ".join(generators)
    if skipped:
        description["skipped_other_tasks"] = skipped
    return description


def _check_modalities(recordings: Sequence[Recording], modalities: Sequence[str]) -> None:
    for name in modalities:
        missing = [r.session_id for r in recordings if getattr(r, name) is None]
        if missing:
            others = [m for m in _MODALITIES if m != name]
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            fail(
                f"{len(missing)} of {len(recordings)} sessions have no {name} ({shown}); "
                f"train without it: --modalities {','.join(others)}"
            )


def _out_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file, expected a folder for the model")
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        fail(f"--out {out} is a non-empty folder that holds no model; choose another --out")
    return out


def _size(directory: Path) -> int:
    return sum(f.stat().st_size for f in directory.iterdir() if f.is_file())


def _fit(
    model: ActivityClassifier, recordings: Sequence[Recording], *, quiet: bool
) -> ActivityClassifier:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=error_console, transient=True, disable=quiet) as bar:
        features = bar.add_task("Features", total=len(recordings))
        training = bar.add_task("Training", total=None, visible=False)
        max_epochs = model.config.max_epochs

        def report(progress: TrainingProgress) -> None:
            if progress.stage == "features":
                bar.update(
                    features,
                    completed=progress.completed,
                    description=f"Features ({progress.completed}/{progress.total} sessions)",
                )
                return
            bar.update(features, visible=False)
            description = f"Training epoch {progress.epoch}/{max_epochs}"
            record = progress.record
            if record is not None and record.validation_accuracy is not None:
                description = (
                    f"Epoch {progress.epoch}/{max_epochs} done: validation accuracy "
                    f"{record.validation_accuracy:.3f}, macro-F1 {record.validation_macro_f1:.3f}"
                )
            elif record is not None:
                description = (
                    f"Epoch {progress.epoch}/{max_epochs} done: loss {record.train_loss:.3f}"
                )
            bar.update(
                training,
                completed=progress.completed,
                total=progress.total,
                description=description,
                visible=True,
            )

        return model.fit(recordings, on_progress=report)


@app.command("train")
def train(
    task: Annotated[
        str, typer.Option(help="Procedure folder under the tasks dir, e.g. latte_making.")
    ],
    data: Annotated[
        str,
        typer.Option(
            help="Folder of recordings (one sub-folder each, from `prism data synth`) "
            "or openpack:<path> for the real OpenPack wrist IMU."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Model folder (default: PRISM_MODELS_DIR/<task>)."),
    ] = None,
    modalities: Annotated[
        str, typer.Option(help="Inputs, comma-separated: imu, audio or imu,audio.")
    ] = "imu,audio",
    privacy_rate: Annotated[
        int | None,
        typer.Option(help="Analyse audio decimated to this rate (Hz, e.g. 1000); default 16 kHz."),
    ] = None,
    fusion: Annotated[
        str | None,
        typer.Option(help="With imu,audio: late (a branch per modality; default) or early fusion."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split, initialisation and order.")] = 0,
    max_epochs: Annotated[
        int, typer.Option(help="Upper bound on epochs (early stopping on validation macro-F1).")
    ] = 25,
    threads: Annotated[
        int, typer.Option(help="Torch threads while training (1 when the cores are shared).")
    ] = 1,
    validation_fraction: Annotated[
        float, typer.Option(help="Share of sessions held out for early stopping and calibration.")
    ] = 0.2,
    time_limit: Annotated[
        float | None,
        typer.Option(help="Stop training after this many seconds, keeping the best epoch."),
    ] = None,
    tasks_dir: Annotated[
        Path | None, typer.Option(help="Where procedures live (default: PRISM_TASKS_DIR).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary instead of a table.")
    ] = False,
) -> None:
    """Train the activity classifier of a task on recordings and save it with a model card.

    Sessions are split into training and validation sessions (never frames); training
    stops early on validation macro-F1, and the validation sessions calibrate the
    probabilities. Writes weights, normalisers, calibration, confusion matrix and a model
    card (data, splits, metrics) to the model folder. About 2-3 minutes for 20
    semi-synthetic latte sessions of 200 s on 2 cores.
    """
    chosen = parse_modalities(modalities)
    for name, value, low in (("--max-epochs", max_epochs, 1), ("--threads", threads, 1)):
        if value < low:
            fail(f"{name} must be >= {low}, got {value}")
    if seed < 0:
        fail(f"--seed must be >= 0, got {seed}")
    if time_limit is not None and not time_limit > 0:
        fail(f"--time-limit must be > 0 s, got {time_limit:g}")
    if not 0.0 <= validation_fraction < 1.0:
        fail(f"--validation-fraction must be in [0, 1), got {validation_fraction}")
    if privacy_rate is not None and "audio" not in chosen:
        fail(f"--privacy-rate {privacy_rate} needs the audio modality (--modalities {modalities})")
    settings = get_settings()
    procedure = task_procedure(task, tasks_dir)
    target = _out_dir(out if out is not None else settings.models_dir / task)
    started = time.perf_counter()
    try:
        from prism.sensing.classifier import ActivityClassifier
        from prism.sensing.network import NetworkConfig
        from prism.sensing.training import TrainingConfig

        model = ActivityClassifier.for_procedure(
            procedure,
            modalities=chosen,
            privacy_rate=privacy_rate,
            config=TrainingConfig(
                seed=seed,
                max_epochs=max_epochs,
                threads=threads,
                validation_fraction=validation_fraction,
                time_limit_s=time_limit,
                network=NetworkConfig(fusion=fusion) if fusion else NetworkConfig(),
            ),
        )
        found, source = load_training_data(data)
        used = [r for r in found if r.task == procedure.id]
        if not used:
            tasks = sorted({r.task for r in found})
            fail(
                f"--data {data}: none of the {len(found)} sessions is of task {procedure.id!r} "
                f"(found tasks: {', '.join(tasks)})"
            )
        _check_modalities(used, chosen)
        loaded = time.perf_counter()
        model = _fit(model, used, quiet=as_json)
        trained = time.perf_counter()
        description = _describe_data(source, used, len(found) - len(used))
        timing = {
            "load_s": round(loaded - started, 2),
            "fit_s": round(trained - loaded, 2),
        }
        model.save(target, task=procedure.id, data=description, metrics=timing)
    except PrismError as error:
        fail(str(error))
    except OSError as error:
        fail(f"{error.filename or target}: {error.strerror or error}")
    summary = _summary(procedure.id, model, target, description, time.perf_counter() - started)
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary)


def _summary(
    task: str, model: ActivityClassifier, out: Path, data: dict[str, Any], seconds: float
) -> dict[str, Any]:
    metrics = model.validation_metrics_
    return {
        "task": task,
        "out_dir": str(out),
        "data": data,
        "modalities": list(model.modalities),
        "privacy_rate_hz": model.privacy_rate,
        "split": {role: len(ids) for role, ids in model.split_.items()},
        "metrics_source": metrics["source"],
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "ece_before": metrics["ece_before"],
        "ece_after": metrics["ece_after"],
        "temperature": model.temperature_,
        "epochs_run": model.training_summary_["epochs_run"],
        "best_epoch": model.training_summary_["best_epoch"],
        "stop_reason": model.training_summary_["stop_reason"],
        "training_s": model.training_summary_["seconds"],
        "total_s": round(seconds, 2),
        "parameters": model.network_.parameter_count(),
        "size_bytes": _size(out),
    }


def _print_summary(summary: dict[str, Any]) -> None:
    data = summary["data"]
    table = Table(title=f"{summary['task']}: activity classifier saved to {summary['out_dir']}")
    table.add_column("", justify="left")
    table.add_column("value", justify="right")
    split = summary["split"]
    rows = [
        ("data", f"{data['sessions']} {data['synthetic']} sessions ({data['source']})"),
        ("split", f"{split['train']} training, {split['validation']} validation sessions"),
        (
            "modalities",
            ", ".join(summary["modalities"])
            + (
                f" (audio at {summary['privacy_rate_hz']} Hz)" if summary["privacy_rate_hz"] else ""
            ),
        ),
        (f"accuracy ({summary['metrics_source']})", f"{summary['accuracy']:.3f}"),
        (f"macro-F1 ({summary['metrics_source']})", f"{summary['macro_f1']:.3f}"),
        (
            "ECE before -> after scaling",
            f"{summary['ece_before']:.3f} -> {summary['ece_after']:.3f} "
            f"(T = {summary['temperature']:.2f})",
        ),
        (
            "epochs",
            f"{summary['epochs_run']} run, best {summary['best_epoch']} "
            f"(stopped by {summary['stop_reason']})",
        ),
        ("time", f"training {summary['training_s']:.1f} s, total {summary['total_s']:.1f} s"),
        (
            "size",
            f"{summary['parameters']:,} parameters, {summary['size_bytes'] / 1e6:.2f} MB on disk",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if summary["metrics_source"] == "training":
        console.print(
            "[yellow]no validation sessions: metrics are on the training sessions (optimistic)[/]"
        )
