"""Plots of a HAR evaluation: confusion matrices and per-session timelines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prism.evaluation.har import HarFoldResult
from prism.evaluation.plots import plot_confusion_matrix, plot_timeline
from prism.procedure.model import Procedure
from prism.sensing.calibration import confusion_matrix

__all__ = ["write_har_plots"]


def write_har_plots(
    report: dict[str, Any], folds: Sequence[HarFoldResult], procedure: Procedure, out_dir: Path
) -> list[Path]:
    """Write the best configuration's confusion matrices (raw, tracked) and one
    ground-truth / raw / tracked timeline per session to ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    best = report["best_configuration"]
    names = [step.name for step in procedure.steps] + ["other"]
    labels = np.concatenate([fold.labels for fold in folds])
    written = []
    for stage in ("raw", "tracked"):
        predicted = np.concatenate([getattr(fold, stage)[best] for fold in folds])
        counts = confusion_matrix(labels, predicted, n_classes=len(names))
        written.append(
            plot_confusion_matrix(
                counts,
                names,
                out_dir / f"confusion_{best}_{stage}.png",
                title=f"{procedure.name}: {best}, {stage} (all held-out sessions)",
            )
        )
    for fold in folds:
        written.append(
            plot_timeline(
                fold.labels,
                {"raw": fold.raw[best], "tracked": fold.tracked[best]},
                names,
                out_dir / f"timeline_{fold.session_id}.png",
                title=f"{fold.session_id}: ground truth, raw and tracked ({best})",
            )
        )
    return written
