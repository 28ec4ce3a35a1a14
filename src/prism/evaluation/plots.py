"""Evaluation figures: confusion matrices and step timelines, written as PNG or SVG.

Pure helpers: each takes arrays, draws on its own :class:`matplotlib.figure.Figure`
(Agg canvas, no ``pyplot`` and so no global figure state, safe in threads and servers)
and writes one file whose format follows its suffix (``.png`` or ``.svg``). SVG text is
kept as text (``svg.fonttype = "none"``), so class names stay searchable and editable.

Classes follow the project's convention: ``class_names[c]`` names class ``c``; the
class named ``"other"`` (time in no step, last by convention) is drawn in light grey.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from prism.errors import PlotError

__all__ = [
    "OTHER_COLOR",
    "PLOT_FORMATS",
    "PlotError",
    "class_colors",
    "plot_confusion_matrix",
    "plot_timeline",
]

PLOT_FORMATS = (".png", ".svg")
"""File suffixes the helpers write."""
OTHER_COLOR = "#d9d9d9"
"""Light grey for the "other" class."""
_OTHER = "other"
_PNG_DPI = 150
_ANNOTATE_MAX_CLASSES = 30


def _check_out(out: Path | str) -> Path:
    path = Path(out)
    if path.suffix.lower() not in PLOT_FORMATS:
        raise PlotError(
            f"plot file {path} must end in one of {', '.join(PLOT_FORMATS)}, "
            f"got suffix {path.suffix or '(none)'!r}"
        )
    return path


def _save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` (format from the suffix; parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    fmt = path.suffix.lower().lstrip(".")
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "prism"}):
        if fmt == "svg":
            figure.savefig(path, format="svg", metadata={"Date": None})
        else:
            figure.savefig(path, format="png", dpi=_PNG_DPI)
    return path


def class_colors(class_names: Sequence[str]) -> list[str]:
    """One hex color per class: distinct hues for steps, light grey for ``"other"``.

    Steps take the qualitative ``tab20`` colors (dark shades first, then light), then
    ``tab20b`` and ``tab20c``, greys left out (so no step looks like "other"), cycling
    beyond 54 steps.

    >>> class_colors(["a", "b", "other"])
    ['#1f77b4', '#ff7f0e', '#d9d9d9']
    """
    palette: list[str] = []
    for name in ("tab20", "tab20b", "tab20c"):
        colors = list(mpl.colormaps[name].colors)  # type: ignore[attr-defined]
        ordered = colors[0::2] + colors[1::2] if name == "tab20" else colors
        palette += [to_hex(c) for c in ordered if np.ptp(c) > 0.05]  # no greys: "other" is grey
    out, step = [], 0
    for name in class_names:
        if name == _OTHER:
            out.append(OTHER_COLOR)
        else:
            out.append(palette[step % len(palette)])
            step += 1
    return out


# ------------------------------------------------------------------ confusion matrix
def plot_confusion_matrix(
    counts: np.ndarray,
    class_names: Sequence[str],
    out: Path | str,
    *,
    title: str,
    normalize: bool = True,
) -> Path:
    """Draw a confusion matrix as a heat map and write it to ``out``.

    Parameters
    ----------
    counts : np.ndarray [shape=(C, C), non-negative, finite]
        Frame counts; rows are true classes, columns predicted classes.
    class_names : sequence of str [length C]
        Name of each class, in index order.
    out : path
        Output file, ``.png`` or ``.svg`` (parent folders are created).
    title : str
        Figure title.
    normalize : bool
        Divide each row by its total (a row without frames stays 0), so cells are the
        share of a true class's frames given each prediction; else raw counts. Cells are
        annotated (percent or counts) up to 30 classes.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    PlotError
        On a suffix other than ``.png`` / ``.svg``, a non-square, negative or
        non-finite ``counts``, or a ``class_names`` length other than ``C``.
    """
    path = _check_out(out)
    matrix = np.asarray(counts, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise PlotError(
            f"counts must be a non-empty square (C, C) matrix, got shape {matrix.shape}"
        )
    n = matrix.shape[0]
    if len(class_names) != n:
        raise PlotError(f"class_names has {len(class_names)} names for a {n} x {n} matrix")
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise PlotError("counts must be finite and non-negative")
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        values = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
        top, label = 1.0, "share of the true class's frames"
    else:
        values = matrix
        top, label = max(float(matrix.max()), 1.0), "frames"
    side = float(np.clip(0.38 * n + 3.0, 4.5, 20.0))
    figure = Figure(figsize=(side + 1.2, side), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="Blues", vmin=0.0, vmax=top, interpolation="nearest")
    figure.colorbar(image, ax=axes, shrink=0.8, label=label)
    ticks = np.arange(n)
    font = 9 if n <= 12 else 7
    axes.set_xticks(ticks, labels=list(class_names), rotation=90, fontsize=font)
    axes.set_yticks(ticks, labels=list(class_names), fontsize=font)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title)
    if n <= _ANNOTATE_MAX_CLASSES:
        for (row, column), value in np.ndenumerate(values):
            if value == 0:
                continue
            text = f"{100 * value:.0f}" if normalize else f"{matrix[row, column]:.0f}"
            color = "white" if value > top / 2 else "black"
            axes.text(column, row, text, ha="center", va="center", fontsize=font - 1, color=color)
    return _save(figure, path)


# ------------------------------------------------------------------ timeline
def _runs(sequence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and lengths of runs of equal values (assumes a non-empty 1-D array)."""
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sequence)) + 1])
    lengths = np.diff(np.concatenate([starts, [sequence.size]]))
    return starts, lengths


def _check_labels(name: str, values: np.ndarray, n_frames: int, n_classes: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.size != n_frames:
        raise PlotError(
            f"{name} must be a (T,) label array with T = {n_frames} frames, got shape {array.shape}"
        )
    if array.dtype.kind not in "iu":
        raise PlotError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise PlotError(
            f"{name} holds classes in [{array.min()}, {array.max()}], "
            f"expected [0, {n_classes - 1}] ({n_classes} class names)"
        )
    return array.astype(np.int64)


def plot_timeline(
    labels: np.ndarray,
    rows: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    out: Path | str,
    *,
    frame_rate: float = 5.0,
    title: str,
    markers: Sequence[tuple[float, str]] = (),
) -> Path:
    """Draw ground truth and predictions as colored bars over time and write ``out``.

    The top bar is the ground truth ("truth"), then one bar per entry of ``rows`` in
    order; frame ``t`` covers ``[t / frame_rate, (t + 1) / frame_rate)`` seconds. Each
    class has one color (``"other"`` light grey); the legend lists the classes that
    occur in any bar.

    Parameters
    ----------
    labels : np.ndarray [shape=(T,), int, values in [0, C)]
        True class per frame.
    rows : mapping of str to np.ndarray [shape=(T,), int, values in [0, C)]
        Predicted classes per frame, e.g. ``{"raw": ..., "tracked": ...}``.
    class_names : sequence of str [length C]
        Name of each class, in index order.
    out : path
        Output file, ``.png`` or ``.svg`` (parent folders are created).
    frame_rate : float
        Frames per second (Hz, > 0).
    title : str
        Figure title.
    markers : sequence of (float, str)
        Events drawn as labelled vertical lines at their time (s), e.g. reminders.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    PlotError
        On a bad suffix, no frames, a row whose length differs from ``labels``,
        non-integer labels or classes outside ``[0, C)``, or a ``frame_rate`` <= 0.
    """
    path = _check_out(out)
    if not (np.isfinite(frame_rate) and frame_rate > 0):
        raise PlotError(f"frame_rate must be a finite number > 0 Hz, got {frame_rate}")
    n_classes = len(class_names)
    if n_classes == 0:
        raise PlotError("class_names must name at least one class")
    truth = np.asarray(labels)
    if truth.ndim != 1 or truth.size == 0:
        raise PlotError(f"labels must be a non-empty (T,) label array, got shape {truth.shape}")
    bars = {"truth": _check_labels("labels", truth, truth.size, n_classes)}
    for name, values in rows.items():
        if name == "truth":
            raise PlotError("rows must not be named 'truth' (the ground-truth bar)")
        bars[name] = _check_labels(f"rows[{name!r}]", values, truth.size, n_classes)
    colors = class_colors(class_names)
    period = 1.0 / frame_rate
    height = 0.6 + 0.55 * len(bars)
    figure = Figure(figsize=(12.0, height + 0.9), layout="constrained")
    axes = figure.add_subplot()
    for position, sequence in enumerate(bars.values()):
        starts, lengths = _runs(sequence)
        axes.broken_barh(
            list(zip(starts * period, lengths * period, strict=True)),
            (position - 0.4, 0.8),
            facecolors=[colors[c] for c in sequence[starts]],
            edgecolor="none",
        )
    for when, text in markers:
        axes.axvline(when, color="black", linestyle="--", linewidth=0.8)
        axes.annotate(
            text,
            (when, -0.5),
            xytext=(2, 2),
            textcoords="offset points",
            rotation=90,
            fontsize=6,
            va="bottom",
            annotation_clip=False,
        )
    axes.set_yticks(np.arange(len(bars)), labels=list(bars))
    axes.set_ylim(len(bars) - 0.5, -0.5)  # truth on top
    axes.set_xlim(0.0, truth.size * period)
    axes.set_xlabel("time (s)")
    axes.set_title(title)
    present = np.unique(np.concatenate(list(bars.values())))
    handles = [Patch(facecolor=colors[c], label=class_names[c]) for c in present]
    figure.legend(
        handles=handles,
        loc="outside right upper",
        fontsize=7,
        ncols=1 if len(handles) <= 12 else 2,
        frameon=False,
    )
    return _save(figure, path)
