"""Tests for prism.evaluation.plots: files written, formats, input checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prism.evaluation.plots import (
    OTHER_COLOR,
    PlotError,
    class_colors,
    plot_confusion_matrix,
    plot_timeline,
)

NAMES = ("grind_beans", "steam_milk", "pour_milk", "other")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def counts(rng: np.random.Generator) -> np.ndarray:
    """A 4-class confusion matrix with a strong diagonal and an empty row."""
    matrix = rng.integers(0, 10, size=(4, 4)) + 50 * np.eye(4, dtype=np.int64)
    matrix[2] = 0  # a class without frames: its normalised row stays 0
    return matrix


@pytest.fixture
def labels(rng: np.random.Generator) -> np.ndarray:
    """60 frames in runs of 5 over the 4 classes."""
    return np.repeat(rng.integers(0, 4, size=12), 5)


def test_class_colors_give_steps_distinct_colors_and_other_grey() -> None:
    colors = class_colors([f"s{i}" for i in range(30)] + ["other"])
    assert colors[-1] == OTHER_COLOR
    assert len(set(colors[:-1])) == 30
    assert OTHER_COLOR not in colors[:-1]


@pytest.mark.parametrize("normalize", [True, False], ids=["normalized", "counts"])
def test_confusion_matrix_png(tmp_path: Path, counts: np.ndarray, normalize: bool) -> None:
    out = plot_confusion_matrix(
        counts, NAMES, tmp_path / "cm.png", title="validation", normalize=normalize
    )
    assert out == tmp_path / "cm.png"
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_confusion_matrix_svg_keeps_class_names_as_text(tmp_path: Path, counts: np.ndarray) -> None:
    out = plot_confusion_matrix(counts, NAMES, tmp_path / "sub" / "cm.svg", title="Latte HAR")
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml")
    assert "steam_milk" in text
    assert "Latte HAR" in text


def test_timeline_png_and_svg(tmp_path: Path, labels: np.ndarray, rng: np.random.Generator) -> None:
    raw = np.where(rng.random(labels.size) < 0.6, labels, rng.integers(0, 4, labels.size))
    rows = {"raw": raw, "tracked": labels.copy()}
    png = plot_timeline(labels, rows, NAMES, tmp_path / "t.png", title="session 1")
    assert png.read_bytes()[:8] == PNG_MAGIC
    svg = plot_timeline(labels, rows, NAMES, tmp_path / "t.svg", frame_rate=2.0, title="s1")
    text = svg.read_text(encoding="utf-8")
    assert "tracked" in text
    assert "time (s)" in text
    for c in np.unique(np.concatenate([labels, raw])):
        assert NAMES[c] in text  # the legend lists every class that occurs


def test_timeline_accepts_no_prediction_rows(tmp_path: Path, labels: np.ndarray) -> None:
    out = plot_timeline(labels, {}, NAMES, tmp_path / "truth.png", title="truth only")
    assert out.stat().st_size > 0


def test_same_input_same_svg(tmp_path: Path, counts: np.ndarray) -> None:
    first = plot_confusion_matrix(counts, NAMES, tmp_path / "a.svg", title="x")
    second = plot_confusion_matrix(counts, NAMES, tmp_path / "b.svg", title="x")
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("name", ["cm.pdf", "cm", "cm.png.txt"], ids=["pdf", "none", "txt"])
def test_bad_suffix_is_rejected(tmp_path: Path, counts: np.ndarray, name: str) -> None:
    with pytest.raises(PlotError, match=r"must end in one of \.png, \.svg"):
        plot_confusion_matrix(counts, NAMES, tmp_path / name, title="x")
    with pytest.raises(PlotError, match=r"must end in one of"):
        plot_timeline(np.zeros(3, dtype=np.int64), {}, NAMES, tmp_path / name, title="x")
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(
    ("matrix", "names", "message"),
    [
        (np.ones((4, 3)), NAMES, r"square \(C, C\) matrix, got shape \(4, 3\)"),
        (np.ones(4), NAMES, r"square \(C, C\) matrix, got shape \(4,\)"),
        (np.ones((0, 0)), (), r"non-empty square"),
        (np.ones((3, 3)), NAMES, r"class_names has 4 names for a 3 x 3 matrix"),
        (-np.eye(4), NAMES, r"finite and non-negative"),
        (np.full((4, 4), np.nan), NAMES, r"finite and non-negative"),
    ],
    ids=["not-square", "1-d", "empty", "names-length", "negative", "nan"],
)
def test_confusion_matrix_bad_input(
    tmp_path: Path, matrix: np.ndarray, names: tuple[str, ...], message: str
) -> None:
    with pytest.raises(PlotError, match=message):
        plot_confusion_matrix(matrix, names, tmp_path / "cm.png", title="x")


@pytest.mark.parametrize(
    ("truth", "rows", "message"),
    [
        (np.zeros(5, np.int64), {"raw": np.zeros(4, np.int64)}, r"rows\['raw'\] must be a \(T,\)"),
        (np.zeros(5, np.int64), {"raw": np.zeros((5, 1), np.int64)}, r"got shape \(5, 1\)"),
        (np.zeros((5, 2), np.int64), {}, r"labels must be a non-empty \(T,\) label array"),
        (np.zeros(0, np.int64), {}, r"non-empty"),
        (np.zeros(5), {}, r"integer class indices, got dtype float64"),
        (np.full(5, 4), {}, r"classes in \[4, 4\], expected \[0, 3\]"),
        (np.zeros(5, np.int64), {"raw": np.full(5, -1)}, r"rows\['raw'\] holds classes"),
        (np.zeros(5, np.int64), {"truth": np.zeros(5, np.int64)}, r"must not be named 'truth'"),
    ],
    ids=["row-length", "row-2d", "labels-2d", "no-frames", "float", "too-high", "negative", "name"],
)
def test_timeline_bad_input(
    tmp_path: Path, truth: np.ndarray, rows: dict[str, np.ndarray], message: str
) -> None:
    with pytest.raises(PlotError, match=message):
        plot_timeline(truth, rows, NAMES, tmp_path / "t.png", title="x")


@pytest.mark.parametrize("rate", [0.0, -5.0, float("nan")], ids=["zero", "negative", "nan"])
def test_timeline_bad_frame_rate(tmp_path: Path, rate: float) -> None:
    with pytest.raises(PlotError, match=r"frame_rate must be a finite number > 0"):
        plot_timeline(
            np.zeros(3, np.int64), {}, NAMES, tmp_path / "t.png", frame_rate=rate, title="x"
        )
