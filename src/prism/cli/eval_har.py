"""``prism eval har``: activity recognition, leave-one-session-out, raw and tracked."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from prism.cli import eval_app
from prism.cli._common import console, fail, print_json, task_procedure
from prism.data.openpack_imu import OPENPACK_WRISTS, load_openpack_recordings, trim_to_imu
from prism.data.recording import read_recording
from prism.errors import PrismError
from prism.settings import get_settings
from prism.tracker import TrackerConfig

if TYPE_CHECKING:  # torch and librosa load when the command runs, not with the CLI
    from prism.evaluation.har import HarConfiguration

__all__ = ["eval_har"]

SUMMARY_FIELDS = ("raw_accuracy", "raw_macro_f1", "tracked_accuracy", "tracked_macro_f1")


def _configurations(dataset: str) -> list[HarConfiguration]:
    from prism.evaluation.har import HarConfiguration
    from prism.sensing.features import PRIVACY_RATE_HZ

    if dataset == "openpack":
        return [HarConfiguration("imu", ("imu",))]
    return [
        HarConfiguration("imu", ("imu",)),
        HarConfiguration("audio", ("audio",)),
        HarConfiguration("fused", ("imu", "audio")),
        HarConfiguration("fused_1khz", ("imu", "audio"), privacy_rate=PRIVACY_RATE_HZ),
    ]


def _summary(report: dict[str, Any], dataset: str) -> dict[str, Any]:
    from prism.evaluation.har import BASELINE

    methods = report["methods"]
    candidates = [name for name in methods if name != BASELINE and not name.endswith("_1khz")]
    best = max(candidates, key=lambda name: methods[name]["tracked_macro_f1"])
    baseline = methods[BASELINE]
    summary: dict[str, Any] = {
        "dataset": dataset,
        "best_configuration": best,
        **{key: methods[best][key] for key in SUMMARY_FIELDS},
        "baseline_macro_f1": baseline["tracked_macro_f1"],
        "baseline": {key: baseline[key] for key in SUMMARY_FIELDS},
        "by_modality": {
            name: {key: methods[name][key] for key in SUMMARY_FIELDS}
            for name in ("imu", "audio", "fused")
            if name in methods
        },
        "per_class_f1": methods[best]["per_class_f1"],
    }
    if "fused_1khz" in methods:
        summary["privacy"] = {
            "fused_1khz": {key: methods["fused_1khz"][key] for key in SUMMARY_FIELDS},
            "raw_macro_f1_drop_points": 100
            * (methods["fused"]["raw_macro_f1"] - methods["fused_1khz"]["raw_macro_f1"]),
        }
    return {**summary, **report}


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"HAR, {report['task']} ({report['protocol']})")
    table.add_column("method")
    for column in ("raw acc", "raw F1", "tracked acc", "tracked F1", "train s"):
        table.add_column(column, justify="right")
    for name, scores in report["methods"].items():
        table.add_row(
            name,
            *(f"{scores[key]:.3f}" for key in SUMMARY_FIELDS),
            f"{scores['training_seconds_mean']:.1f}",
        )
    return table


@eval_app.command("har")
def eval_har(
    dataset: Annotated[str, typer.Option(help="openpack (real wrist IMU) or synth.")],
    task: Annotated[
        str | None, typer.Option(help="Procedure (synth: required; openpack: openpack_packing).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="OpenPack root, or a directory of recordings for synth (optional)."),
    ] = None,
    sessions: Annotated[int, typer.Option(help="synth: sessions to generate.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of generation and training.")] = 0,
    max_epochs: Annotated[int, typer.Option(help="Training epochs at most.")] = 40,
    fusion: Annotated[
        str | None,
        typer.Option(help="How the fused models combine IMU and audio: late (default) or early."),
    ] = None,
    evidence_rate: Annotated[
        float,
        typer.Option(help="Tracker: weight per second on the classifier's log probabilities."),
    ] = TrackerConfig.evidence_rate,
    wrist: Annotated[
        list[str] | None,
        typer.Option(help="openpack: atr01 (right) and/or atr02 (left); default both."),
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write plots to this directory.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train on all sessions but one, classify and track the held-out one, for every session.

    Reports frame accuracy and macro-F1, raw and after the tracker, for each modality
    configuration and for a random forest on hand-made window features (the baseline).
    OpenPack runs once per wrist the watch may be worn on (right ``atr01``, left
    ``atr02``); the summary is the better wrist's, with its own baseline, and
    ``by_wrist`` lists both.
    """
    settings = get_settings()
    if dataset not in ("openpack", "synth"):
        fail(f"--dataset must be openpack or synth, got {dataset!r}")
    task = task or ("openpack_packing" if dataset == "openpack" else None)
    unknown = sorted(set(wrist or ()) - set(OPENPACK_WRISTS))
    if unknown:
        fail(f"--wrist must be among {sorted(OPENPACK_WRISTS)}, got {unknown}")
    if task is None:
        fail("--task is required with --dataset synth (e.g. --task latte_making)")
    procedure = task_procedure(task, settings.tasks_dir)
    try:
        from prism.data.synth import synthesize_dataset
        from prism.evaluation.har import HarEvaluationConfig, evaluate_har
        from prism.sensing.network import NetworkConfig
        from prism.sensing.training import TrainingConfig

        network = NetworkConfig(fusion=fusion) if fusion else NetworkConfig()
        config = HarEvaluationConfig(
            training=TrainingConfig(seed=seed, max_epochs=max_epochs, network=network),
            tracker=TrackerConfig(evidence_rate=evidence_rate),
            seed=seed,
            macro_f1_without_other=dataset == "openpack",
        )
        with tempfile.TemporaryDirectory(prefix="prism-har-") as scratch:
            if dataset == "openpack":
                root = data_dir or settings.data_dir / "openpack"
                present = [w for w in OPENPACK_WRISTS if any(root.glob(f"*/atr/{w}"))]
                sets = {
                    w: [trim_to_imu(r) for r in load_openpack_recordings(root, wrist=w)]
                    for w in (wrist or present or ["atr01"])
                }
            elif data_dir is not None:
                sets = {
                    "": [read_recording(p.parent) for p in sorted(data_dir.glob("*/meta.json"))]
                }
            else:
                paths = synthesize_dataset(
                    procedure, n_sessions=sessions, seed=seed, out_dir=Path(scratch)
                )
                sets = {"": [read_recording(path) for path in paths]}
            sets = {w: [r for r in rs if r.task == procedure.id] for w, rs in sets.items()}
            runs = {}
            with Progress(console=console, transient=True, disable=json_output) as progress:
                bar = progress.add_task(
                    "leave-one-session-out", total=sum(len(rs) for rs in sets.values())
                )
                for name, recordings in sets.items():
                    report, folds = evaluate_har(
                        recordings,
                        procedure,
                        _configurations(dataset),
                        config=config,
                        on_fold_done=lambda _: progress.advance(bar),
                    )
                    runs[name] = (_summary(report, dataset), folds)
    except (PrismError, ValueError) as error:
        fail(str(error))
    chosen = max(runs, key=lambda name: runs[name][0]["tracked_macro_f1"])
    result, folds = runs[chosen]
    if dataset == "openpack":
        result = {
            "wrist": chosen,
            "wrist_side": OPENPACK_WRISTS[chosen],
            **result,
            "by_wrist": {
                name: {
                    "wrist_side": OPENPACK_WRISTS[name],
                    **{key: summary[key] for key in (*SUMMARY_FIELDS, "baseline_macro_f1")},
                }
                for name, (summary, _) in runs.items()
            },
        }
    if plot is not None:
        from prism.evaluation.har_plots import write_har_plots

        result["plots"] = [str(p) for p in write_har_plots(result, folds, procedure, plot)]
    if json_output:
        print_json(result)
    else:
        console.print(_table(result))
