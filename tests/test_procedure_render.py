"""Tests for drawing procedures (prism.procedure.render) and ``prism procedure show``."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from prism.cli import app
from prism.errors import ProcedureError
from prism.procedure.io import load_procedure
from prism.procedure.model import END, START, DurationStats, Procedure, Step, StepNotes
from prism.procedure.render import (
    expected_positions,
    format_duration,
    layout_positions,
    render_procedure,
)

TASKS = Path(__file__).resolve().parents[1] / "tasks"
LATTE_FILE = TASKS / "latte_making" / "procedure.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _step(step_id: str, *, repeatable: bool = False, notes: StepNotes | None = None) -> Step:
    name = step_id.replace("_", " ").capitalize()
    return Step(step_id, name, "", DurationStats(10.0, 2.0), repeatable, notes or StepNotes())


def random_procedure(n_steps: int, rng: np.random.Generator) -> Procedure:
    """A valid procedure with a forward chain and random extra (also backward) transitions."""
    ids = [f"s{i}" for i in range(n_steps)]
    steps = tuple(
        _step(step_id, repeatable=bool(rng.random() < 0.2), notes=StepNotes(time_critical=True))
        if i % 4 == 0
        else _step(step_id, repeatable=bool(rng.random() < 0.2))
        for i, step_id in enumerate(ids)
    )
    transitions: dict[str, dict[str, float]] = {}
    sources = [START, *ids]
    for index, src in enumerate(sources):
        targets = [*ids, END]
        weights = rng.dirichlet(np.full(len(targets), 0.3)) * 0.5
        chain_next = index  # sources[i] -> targets[i] is the chain: start -> s0 -> ... -> end
        weights[chain_next] += 0.5
        if src != START and not steps[index - 1].repeatable:
            weights[index - 1] = 0.0  # no self-loop
        if src == START:
            weights[-1] = 0.0  # start does not go straight to end
        weights = np.round(weights / weights.sum(), 6)
        weights[chain_next] += 1.0 - weights.sum()
        transitions[src] = {dst: float(w) for dst, w in zip(targets, weights, strict=True) if w > 0}
    precedence = tuple((ids[i], ids[i + 2]) for i in range(0, n_steps - 2, 3))
    return Procedure(
        id="random",
        name="Random",
        steps=steps,
        transitions=transitions,
        precedence=precedence,
        source="generated for tests",
    )


def svg_texts(svg: str) -> list[str]:
    """The text elements of an SVG written with ``svg.fonttype = "none"``."""
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


@pytest.fixture(scope="module")
def latte() -> Procedure:
    return load_procedure(LATTE_FILE)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def branching() -> Procedure:
    """start -> a (0.5) or b (0.5); a -> b (0.5) or end; b -> end."""
    return Procedure(
        id="branching",
        name="Branching",
        steps=(_step("a"), _step("b")),
        transitions={"start": {"a": 0.5, "b": 0.5}, "a": {"b": 0.5, "end": 0.5}, "b": {"end": 1.0}},
    )


# --------------------------------------------------------------------------- layout


def test_expected_positions_of_a_chain() -> None:
    chain = Procedure(
        id="chain",
        name="Chain",
        steps=(_step("a"), _step("b"), _step("c")),
        transitions={"start": {"a": 1.0}, "a": {"b": 1.0}, "b": {"c": 1.0}, "c": {"end": 1.0}},
    )
    assert expected_positions(chain) == pytest.approx({"a": 1.0, "b": 2.0, "c": 3.0})


def test_expected_positions_known_answer(branching: Procedure) -> None:
    # b is visited first with probability 0.5 and second with probability 0.25.
    positions = expected_positions(branching)
    assert positions["a"] == pytest.approx(1.0)
    assert positions["b"] == pytest.approx((1 * 0.5 + 2 * 0.25) / 0.75)


def test_layout_known_answer(branching: Procedure) -> None:
    # a -> b has probability 0.5, so b goes one layer after a.
    assert layout_positions(branching) == {
        "start": (0.0, 0.0),
        "a": (1.0, 0.0),
        "b": (2.0, 0.0),
        "end": (3.0, 0.0),
    }
    # Without the a -> b transition counting, a and b share a layer, one above the other.
    assert layout_positions(branching, min_probability=0.6) == {
        "start": (0.0, 0.0),
        "a": (1.0, 0.5),
        "b": (1.0, -0.5),
        "end": (2.0, 0.0),
    }


def test_layout_is_deterministic(latte: Procedure) -> None:
    first = layout_positions(latte)
    assert layout_positions(latte) == first
    assert layout_positions(load_procedure(LATTE_FILE)) == first


def test_layout_of_latte_follows_the_task(latte: Procedure) -> None:
    layout = layout_positions(latte)
    assert set(layout) == {START, *latte.step_ids, END}
    # Every precedence pair of the hand-written task points left to right.
    for before, after in latte.precedence:
        assert layout[before][0] < layout[after][0], (before, after)
    assert layout["attach_filter"][0] == 1.0
    assert len(set(layout.values())) == len(layout)


@settings(max_examples=40, deadline=None)
@given(n_steps=st.integers(min_value=1, max_value=25), seed=st.integers(0, 2**32 - 1))
def test_layout_properties(n_steps: int, seed: int) -> None:
    procedure = random_procedure(n_steps, np.random.default_rng(seed))
    layout = layout_positions(procedure)
    assert set(layout) == {START, *procedure.step_ids, END}
    assert all(math.isfinite(x) and math.isfinite(y) for x, y in layout.values())
    start_x, end_x = layout[START][0], layout[END][0]
    assert start_x == 0.0
    assert all(start_x < layout[s][0] < end_x for s in procedure.step_ids)
    assert len(set(layout.values())) == len(layout), "two nodes share a position"
    assert layout_positions(procedure) == layout


def test_layout_rejects_bad_min_probability(latte: Procedure) -> None:
    with pytest.raises(ProcedureError, match=r"min_probability must be in \[0, 1\], got -0.5"):
        layout_positions(latte, min_probability=-0.5)


@pytest.mark.parametrize(
    ("mean", "std", "label"),
    [
        (12.4, 3.6, "12 ± 4 s"),
        (4.0, 1.5, "4 ± 1.5 s"),
        (3.0, 1.0, "3 ± 1 s"),
        (45.0, 8.0, "45 ± 8 s"),
        (330.0, 90.0, "5.5 ± 1.5 min"),
        (900.0, 120.0, "15 ± 2 min"),
    ],
    ids=["seconds", "decimal", "small", "steam", "minutes", "long"],
)
def test_format_duration(mean: float, std: float, label: str) -> None:
    assert format_duration(DurationStats(mean=mean, std=std)) == label


# --------------------------------------------------------------------------- drawing


def test_render_png(latte: Procedure, tmp_path: Path) -> None:
    out = render_procedure(latte, tmp_path / "latte.png")
    assert out == tmp_path / "latte.png"
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000


def test_render_svg_is_text_and_deterministic(latte: Procedure, tmp_path: Path) -> None:
    out = render_procedure(latte, tmp_path / "latte.svg")
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml")
    texts = svg_texts(text)
    for name in ("Steam milk", "Pour milk (jug)", "45 ± 8 s", "time-critical", "must not skip"):
        assert name in texts
    again = render_procedure(latte, tmp_path / "again.svg")
    assert again.read_bytes() == out.read_bytes()


def test_render_hides_unlikely_transitions(latte: Procedure, tmp_path: Path) -> None:
    texts = svg_texts(
        render_procedure(latte, tmp_path / "sparse.svg", min_probability=0.5).read_text()
    )
    assert any("below p = 0.5 hidden" in text for text in texts)
    assert "0.75" in texts  # start -> attach_filter is drawn
    assert "0.25" not in texts  # start -> use_fridge is not
    full = svg_texts(
        render_procedure(latte, tmp_path / "full.svg", min_probability=0.0).read_text()
    )
    assert "0.25" in full
    assert not any("hidden" in text for text in full)


def test_render_creates_folders_and_accepts_str(branching: Procedure, tmp_path: Path) -> None:
    out = render_procedure(branching, str(tmp_path / "a" / "b" / "graph.PNG"), precedence=False)
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_render_dense_procedure(rng: np.random.Generator, tmp_path: Path) -> None:
    procedure = random_procedure(25, rng)
    out = render_procedure(procedure, tmp_path / "dense.svg")
    texts = svg_texts(out.read_text())
    assert all(step.name in texts for step in procedure.steps)


@pytest.mark.parametrize(
    ("name", "got"),
    [("graph.pdf", "'.pdf'"), ("graph.jpeg", "'.jpeg'"), ("graph", "'no suffix'")],
    ids=["pdf", "jpeg", "no-suffix"],
)
def test_render_rejects_bad_suffix(
    branching: Procedure, tmp_path: Path, name: str, got: str
) -> None:
    with pytest.raises(ProcedureError, match=rf"suffix must be one of \.png, \.svg, got {got}"):
        render_procedure(branching, tmp_path / name)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan], ids=["negative", "above-one", "nan"])
def test_render_rejects_bad_min_probability(
    branching: Procedure, tmp_path: Path, value: float
) -> None:
    with pytest.raises(ProcedureError, match=r"min_probability must be in \[0, 1\]"):
        render_procedure(branching, tmp_path / "graph.png", min_probability=value)


# --------------------------------------------------------------------------- command line


def test_cli_show_writes_the_picture(tmp_path: Path) -> None:
    out = tmp_path / "latte.svg"
    result = CliRunner().invoke(
        app, ["procedure", "show", str(LATTE_FILE), "--out", str(out), "--min-probability", "0.1"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    assert "Brew coffee" in out.read_text()


def test_cli_show_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(
        app, ["procedure", "show", str(missing), "--out", str(tmp_path / "x.png")]
    )
    assert result.exit_code == 1
    assert "missing.yaml" in result.output
    assert "no such file" in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a traceback
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "graph.pdf"], "suffix must be one of .png, .svg, got '.pdf'"),
        (["--out", "graph.png", "--min-probability", "1.5"], "--min-probability must be in"),
    ],
    ids=["bad-suffix", "bad-min-probability"],
)
def test_cli_show_user_errors(tmp_path: Path, args: list[str], message: str) -> None:
    args = [a if not a.startswith("graph") else str(tmp_path / a) for a in args]
    result = CliRunner().invoke(app, ["procedure", "show", str(LATTE_FILE), *args])
    assert result.exit_code == 1
    assert message in result.output
    assert isinstance(result.exception, SystemExit)


def test_cli_show_invalid_procedure_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nname: X\nsteps: []\ntransitions: {}\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["procedure", "show", str(bad), "--out", str(tmp_path / "x.png")]
    )
    assert result.exit_code == 1
    assert "bad.yaml" in result.output
    assert isinstance(result.exception, SystemExit)
