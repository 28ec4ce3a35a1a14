"""``prism eval tracker``: leave-one-recording-out tracking on CaptainCook4D-like data."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from prism.cli import eval_app
from prism.cli._common import console, fail, print_json
from prism.cli._simulated import (
    CaptainCookDir,
    JobsOption,
    JsonFlag,
    RawAccuracyOption,
    RecipeOption,
    SeedOption,
    check_arguments,
    worker_count,
)
from prism.errors import PrismError
from prism.evaluation.tracking import (
    TrackerEvaluationConfig,
    evaluate_tracker,
    simulator_config,
)
from prism.tracker import TrackerConfig

__all__ = ["eval_tracker"]


def _table(report: dict[str, Any]) -> Table:
    table = Table(title="Step tracking, leave-one-recording-out (online decisions)")
    for column in ("recipe", "recordings", "raw acc", "tracked acc", "macro-F1", "edit", "HMM acc"):
        table.add_column(column, justify="left" if column == "recipe" else "right")
    rows = [*report["per_recipe"].items(), ("MEAN over recipes", None)]
    for recipe, summary in rows:
        if summary is None:
            hmm = report["baselines"]["hmm"]["accuracy"]
            summary = {**report, "n_recordings": report["n_recordings"]}
        else:
            hmm = summary["methods"]["hmm"]["accuracy"]
        table.add_row(
            recipe,
            str(summary["n_recordings"]),
            f"{summary['raw_accuracy']:.3f}",
            f"{summary['tracked_accuracy']:.3f}",
            f"{summary['macro_f1']:.3f}",
            f"{summary['edit_score']:.3f}",
            f"{hmm:.3f}",
        )
    return table


@eval_app.command("tracker")
def eval_tracker(
    data_dir: CaptainCookDir,
    raw_accuracy: RawAccuracyOption = 0.55,
    seed: SeedOption = 0,
    recipe: RecipeOption = None,
    error_run_s: Annotated[
        float,
        typer.Option(
            help="Mean error-run length of the simulated classifier in seconds (1.6: the "
            "first simulator's; real windowed classifiers err for about 2-10 s)."
        ),
    ] = 1.6,
    frame_rate: Annotated[
        float, typer.Option(help="Frames per second of the streams and the tracker.")
    ] = TrackerConfig.frame_rate,
    model_errors: Annotated[
        bool,
        typer.Option(
            help="Give the tracker the classifier's error profile measured on the "
            "recipe's other recordings (its confusions and error runs)."
        ),
    ] = True,
    confirmations: Annotated[
        int, typer.Option(help="Questions the simulated user answers per session.")
    ] = 0,
    beam_width: Annotated[int, typer.Option(help="Tracker beam width.")] = TrackerConfig.beam_width,
    jobs: JobsOption = 0,
    json_output: JsonFlag = False,
) -> None:
    """Learn each recipe without the evaluated recording, simulate a classifier, track.

    Reports the tracker's online frame accuracy, macro-F1 and edit score per recipe and
    averaged over recipes, beside the per-frame argmax and a duration-free HMM.
    """
    check_arguments(data_dir, raw_accuracy)
    workers = worker_count(jobs)
    try:
        config = TrackerEvaluationConfig(
            raw_accuracy=raw_accuracy,
            error_run_s=error_run_s,
            seed=seed,
            confirmations=confirmations,
            model_errors=model_errors,
            tracker=TrackerConfig(frame_rate=frame_rate, beam_width=beam_width),
        )
        simulator_config(config)
        with Progress(console=console, transient=True, disable=json_output) as progress:
            task = progress.add_task("tracking recipes", total=None)
            report = evaluate_tracker(
                data_dir,
                config=config,
                recipes=recipe,
                jobs=workers,
                on_recipe_done=lambda _: progress.advance(task),
            )
    except PrismError as error:
        fail(str(error))
    if json_output:
        print_json(report)
    else:
        console.print(_table(report))
