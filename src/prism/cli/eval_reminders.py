"""``prism eval reminders``: missed-step reminders, leave-one-recording-out, vs the baseline."""

from __future__ import annotations

from pathlib import Path
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
from prism.evaluation.plots import plot_timeline
from prism.evaluation.reminders import (
    BASELINE,
    METHOD,
    RecordingReminders,
    ReminderEvaluationConfig,
    evaluate_reminders,
)
from prism.evaluation.tracking import TrackerEvaluationConfig

__all__ = ["eval_reminders"]

_FIELDS = ("missed_step_recall", "median_lead_time_s", "false_reminders_per_session")


def _table(report: dict[str, Any]) -> Table:
    table = Table(title="Missed-step reminders, leave-one-recording-out")
    table.add_column("recipe")
    for column in ("recall", "lead s", "false/session", "baseline recall", "baseline false"):
        table.add_column(column, justify="right")
    rows = [(name, s[METHOD], s[BASELINE]) for name, s in report["per_recipe"].items()]
    rows.append(("ALL", report, report["baseline"]))
    for name, ours, theirs in rows:
        table.add_row(
            name,
            f"{ours['missed_step_recall']:.2f}",
            f"{ours['median_lead_time_s']:.0f}",
            f"{ours['false_reminders_per_session']:.2f}",
            f"{theirs['missed_step_recall']:.2f}",
            f"{theirs['false_reminders_per_session']:.2f}",
        )
    return table


def _plots(results: list[RecordingReminders], out: Path) -> list[str]:
    written = []
    for result in results:
        markers = [
            (r.time, f"{'!' if name == METHOD else 'b'} {r.step}")
            for name, items in result.reminders.items()
            for r in items
        ]
        path = out / f"{result.recipe}_{result.recording_id}.png"
        plot_timeline(
            result.labels,
            {"tracked": result.tracked},
            [*result.step_ids, "other"],
            path,
            frame_rate=result.frame_rate,
            title=f"{result.recipe} {result.recording_id}: reminders (! observer, b baseline)",
            markers=markers,
        )
        written.append(str(path))
    return written


@eval_app.command("reminders")
def eval_reminders(
    data_dir: CaptainCookDir,
    raw_accuracy: RawAccuracyOption = 0.55,
    seed: SeedOption = 0,
    recipe: RecipeOption = None,
    jobs: JobsOption = 0,
    plot: Annotated[Path | None, typer.Option(help="Write a timeline per session here.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Track every recording with a simulated classifier and score the reminders.

    Skipped steps must be reminded before the first performed step that depends on them
    (or before the end); reminders for steps that were performed are false.
    """
    check_arguments(data_dir, raw_accuracy)
    config = ReminderEvaluationConfig(
        tracking=TrackerEvaluationConfig(raw_accuracy=raw_accuracy, seed=seed)
    )
    workers = worker_count(jobs)
    try:
        with Progress(console=console, transient=True, disable=json_output) as progress:
            bar = progress.add_task("recipes", total=None)
            report, results = evaluate_reminders(
                data_dir,
                config=config,
                recipes=recipe,
                jobs=workers,
                on_recipe_done=lambda _: progress.advance(bar),
            )
    except (PrismError, ValueError, OSError) as error:
        fail(str(error))
    if plot is not None:
        report["plots"] = _plots(results, plot)
    if json_output:
        print_json(report)
    else:
        console.print(_table(report))
        console.print({key: report[key] for key in _FIELDS})
