"""Draw a procedure's transition graph as a PNG or SVG picture.

The layout is a pure function (:func:`layout_positions`); drawing uses matplotlib's
object API on a bare :class:`~matplotlib.figure.Figure` (Agg for PNG, the SVG backend
for SVG), so it never touches pyplot's global state and never needs a display.

Layout
------
1. Every step gets its *expected position*: the mean index at which the step is visited
   by the Markov chain of the transitions (start has position 0). It is computed in
   closed form from the fundamental matrix ``N = (I - Q)^-1`` of the absorbing chain.
2. Ordering the steps by expected position orients every transition forward or
   backward. Layers are longest paths from start over the forward transitions with
   probability ``>= min_probability``; start is layer 0 and end the last layer.
3. Inside a layer, steps are ordered by a few barycentre sweeps (weighted by transition
   probability) to reduce crossings, and centred vertically.

Why the layout is written here rather than taken from a graph library: Graphviz's
``dot`` is a system program, not a Python package the project can pin; networkx's
layouts are force-directed or take the layers as given. The
layers here come from the procedure's own meaning (where a step is expected in the
chain, so that the loops of repeatable steps and the rare backward transitions point
backwards), which no general layout knows; and the function is pure numpy, so a test
pins its positions.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Patch

from prism.errors import ProcedureError
from prism.procedure.model import END, START, DurationStats, Procedure, Step

__all__ = [
    "RENDER_SUFFIXES",
    "expected_positions",
    "format_duration",
    "layout_positions",
    "render_procedure",
]

RENDER_SUFFIXES = (".png", ".svg")
"""File suffixes :func:`render_procedure` can write."""

# Drawing geometry, in inches (one layout unit is drawn at a fixed size in inches).
_LAYER_GAP = 2.35
_ROW_GAP = 1.15
_BOX_WIDTH = 1.6
_LINE_HEIGHT = 0.16
_TERMINAL_RADIUS = 0.13
_NAME_WIDTH = 18  # characters per line of a step name
_MARGIN = 0.45
_TITLE_HEIGHT = 0.6
_LEGEND_HEIGHT = 0.55
_MIN_WIDTH = 9.5
_SWEEPS = 4
_MAX_PIXELS = 30000  # PNG side limit; the resolution drops for very large graphs

# Colours.
_STEP_FILL = "#e3eefa"
_CRITICAL_FILL = "#ffd9a8"
_STEP_EDGE = "#3d5a80"
_MUST_EDGE = "#c0392b"
_EDGE_COLOUR = "#2c3e50"
_PRECEDENCE_COLOUR = "#9a9a9a"
_TERMINAL_COLOUR = "#333333"
_REPEAT_MARK = "\u21bb"  # clockwise open circle arrow


def expected_positions(procedure: Procedure) -> dict[str, float]:
    """Mean visit index of every step under the procedure's Markov chain.

    The chain starts in ``start`` (index 0), moves along ``procedure.transitions`` and
    stops in ``end``. The expected position of step ``j`` is
    ``sum_k k P(X_k = j) / sum_k P(X_k = j)``: a step always done first has position 1,
    a step done first or third equally often has position 2. The chain does not
    remember which steps are done, so loops in the graph raise positions.

    Parameters
    ----------
    procedure : Procedure
        A valid procedure (every step reachable, end reachable from every step).

    Returns
    -------
    dict of str to float
        Position (>= 1, in steps) of every step id, in class order.

    Examples
    --------
    >>> from prism.procedure.model import DurationStats, Procedure, Step
    >>> d = DurationStats(mean=5.0, std=1.0)
    >>> p = Procedure(id="t", name="T", steps=(Step("a", "A", "", d), Step("b", "B", "", d)),
    ...     transitions={"start": {"a": 0.5, "b": 0.5}, "a": {"b": 0.5, "end": 0.5},
    ...                  "b": {"end": 1.0}})
    >>> {k: round(v, 3) for k, v in expected_positions(p).items()}  # b: (1 * 0.5 + 2 * 0.25) / 0.75
    {'a': 1.0, 'b': 1.333}
    """
    n = procedure.n_steps
    matrix = procedure.transition_matrix()  # rows: steps then start; columns: steps then end
    # Transient states: the steps (0..n-1) and start (n); nothing moves into start.
    q = np.zeros((n + 1, n + 1))
    q[:, :n] = matrix[:, :n]
    system = (np.eye(n + 1) - q).T
    origin = np.zeros(n + 1)
    origin[n] = 1.0
    visits = np.linalg.solve(system, origin)  # e^T N: expected visits of each state
    weighted = np.linalg.solve(system, np.linalg.solve(system, q.T @ origin))  # e^T Q N^2
    return {step_id: float(weighted[i] / visits[i]) for i, step_id in enumerate(procedure.step_ids)}


def layout_positions(
    procedure: Procedure, *, min_probability: float = 0.02
) -> dict[str, tuple[float, float]]:
    """Layered left-to-right layout of the transition graph.

    Parameters
    ----------
    procedure : Procedure
        A valid procedure.
    min_probability : float, optional
        Transitions below this probability (in [0, 1]) do not push a step to a later
        layer (they are also the ones :func:`render_procedure` hides).

    Returns
    -------
    dict of str to (float, float)
        ``(x, y)`` for ``"start"``, every step id and ``"end"``. ``x`` is the layer index
        (start 0, end the largest), ``y`` the slot within the layer in row units, centred
        on 0 and increasing upwards. Deterministic: the same procedure gives the same
        layout.

    Examples
    --------
    >>> from prism.procedure.model import DurationStats, Procedure, Step
    >>> d = DurationStats(mean=5.0, std=1.0)
    >>> p = Procedure(id="t", name="T", steps=(Step("a", "A", "", d), Step("b", "B", "", d)),
    ...     transitions={"start": {"a": 0.5, "b": 0.5}, "a": {"end": 1.0}, "b": {"end": 1.0}})
    >>> layout_positions(p)
    {'start': (0.0, 0.0), 'a': (1.0, 0.5), 'b': (1.0, -0.5), 'end': (2.0, 0.0)}
    """
    _check_min_probability(min_probability)
    positions = expected_positions(procedure)
    order = sorted(procedure.step_ids, key=lambda s: (positions[s], procedure.step_index(s)))
    rank = {step_id: r for r, step_id in enumerate(order, start=1)}
    rank[START] = 0
    rank[END] = len(order) + 1

    layer: dict[str, int] = {START: 0}
    for step_id in order:
        incoming = [
            (probability, src)
            for src, row in procedure.transitions.items()
            for dst, probability in row.items()
            if dst == step_id and probability > 0 and rank[src] < rank[step_id]
        ]
        strong = [src for probability, src in incoming if probability >= min_probability]
        if not strong:  # only weak forward transitions: keep the likeliest (then leftmost) one
            likeliest = max(incoming, key=lambda item: (item[0], -rank[item[1]]), default=None)
            strong = [START if likeliest is None else likeliest[1]]
        layer[step_id] = 1 + max(layer[src] for src in strong)
    layer[END] = 1 + max(layer.values())

    layers: list[list[str]] = [[] for _ in range(layer[END] + 1)]
    for node in [START, *order, END]:
        layers[layer[node]].append(node)
    _order_layers(layers, procedure.transitions)

    result: dict[str, tuple[float, float]] = {}
    for x, members in enumerate(layers):
        for slot, node in enumerate(members):
            result[node] = (float(x), (len(members) - 1) / 2.0 - slot)
    return {node: result[node] for node in (START, *procedure.step_ids, END)}


def _order_layers(layers: list[list[str]], transitions: Mapping[str, Mapping[str, float]]) -> None:
    """Reorder the members of each layer in place by barycentre sweeps (deterministic)."""
    weights: dict[str, dict[str, float]] = {}
    for src, row in transitions.items():
        for dst, probability in row.items():
            if src != dst and probability > 0:
                weights.setdefault(src, {})[dst] = weights.get(src, {}).get(dst, 0.0) + probability
                weights.setdefault(dst, {})[src] = weights.get(dst, {}).get(src, 0.0) + probability
    layer_of = {node: x for x, members in enumerate(layers) for node in members}

    def slot(node: str) -> float:
        members = layers[layer_of[node]]
        return (len(members) - 1) / 2.0 - members.index(node)

    sweeps = [range(1, len(layers)), range(len(layers) - 2, -1, -1)]
    for sweep in range(_SWEEPS):
        for x in sweeps[sweep % 2]:
            members = layers[x]
            if len(members) < 2:
                continue
            keys: list[tuple[float, int]] = []
            for index, node in enumerate(members):
                neighbours = [
                    (w, other)
                    for other, w in weights.get(node, {}).items()
                    if (layer_of[other] < x if sweep % 2 == 0 else layer_of[other] > x)
                ]
                total = sum(w for w, _ in neighbours)
                centre = (
                    sum(w * slot(other) for w, other in neighbours) / total
                    if total > 0
                    else slot(node)
                )
                keys.append((-centre, index))  # higher slot first (top to bottom)
            layers[x] = [members[index] for _, index in sorted(keys)]


def format_duration(stats: DurationStats) -> str:
    """Short label for a duration: ``"12 ± 4 s"``, or minutes from two minutes on.

    Numbers get one decimal when the mean is below 10 (trailing ``.0`` dropped).

    Examples
    --------
    >>> format_duration(DurationStats(mean=12.4, std=3.6))
    '12 ± 4 s'
    >>> format_duration(DurationStats(mean=4.0, std=1.5))
    '4 ± 1.5 s'
    >>> format_duration(DurationStats(mean=330.0, std=90.0))
    '5.5 ± 1.5 min'
    """
    mean, std, unit = stats.mean, stats.std, "s"
    if mean >= 120.0:
        mean, std, unit = mean / 60.0, std / 60.0, "min"
    decimals = 0 if mean >= 10.0 else 1  # the mean's precision for both numbers
    return f"{_number(mean, decimals)} ± {_number(std, decimals)} {unit}"


def _number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text.removesuffix(".0") if decimals else text


def render_procedure(
    procedure: Procedure,
    out: Path | str,
    *,
    min_probability: float = 0.02,
    precedence: bool = True,
    dpi: int = 150,
) -> Path:
    """Draw the transition graph of ``procedure`` into a PNG or SVG file.

    Steps are rounded boxes with their name and mean ± std duration; start and end are
    small circles. Time-critical steps are filled orange, must-not-skip steps have a
    thick red border and repeatable steps carry a circular arrow. Transitions are arrows
    whose width grows with their probability, labelled with it; precedence constraints
    are dashed grey arrows. A legend explains the marks.

    Parameters
    ----------
    procedure : Procedure
        The procedure to draw.
    out : Path or str
        Output file; its suffix picks the format (``.png`` or ``.svg``). Missing parent
        folders are created.
    min_probability : float, optional
        Transitions with a lower probability (in [0, 1]) are hidden, which keeps dense
        learned graphs readable; the title says how many were hidden.
    precedence : bool, optional
        Draw the precedence constraints (default True).
    dpi : int, optional
        Resolution of PNG output in dots per inch (ignored for SVG); lowered for very
        large graphs so that no side exceeds 30,000 pixels.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ProcedureError
        If the suffix of ``out`` is not supported or ``min_probability`` is not in [0, 1].
    """
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in RENDER_SUFFIXES:
        raise ProcedureError(
            f"cannot draw procedure {procedure.id!r} to {str(path)!r}: file suffix must be one "
            f"of {', '.join(RENDER_SUFFIXES)}, got {path.suffix or 'no suffix'!r}"
        )
    _check_min_probability(min_probability)
    if dpi <= 0:
        raise ProcedureError(f"dpi must be a positive number of dots per inch, got {dpi}")
    figure = _draw(procedure, min_probability=min_probability, precedence=precedence)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed SVG ids and no date: the same procedure gives the same file.
    with mpl.rc_context({"svg.hashsalt": "prism", "svg.fonttype": "none"}):
        if suffix == ".svg":
            figure.savefig(path, format="svg", metadata={"Date": None})
        else:
            width, height = figure.get_size_inches()
            figure.savefig(path, format="png", dpi=min(dpi, _MAX_PIXELS / max(width, height)))
    return path


def _check_min_probability(min_probability: float) -> None:
    if not (math.isfinite(min_probability) and 0.0 <= min_probability <= 1.0):
        raise ProcedureError(f"min_probability must be in [0, 1], got {min_probability}")


@dataclass(frozen=True)
class _Node:
    """A drawn node: centre and half extents in inches, and its patch."""

    x: float
    y: float
    half_width: float
    half_height: float
    patch: Circle | FancyBboxPatch


@dataclass(frozen=True)
class _Arrow:
    """A transition's geometry in inches: end points, arc3 curvature and label point."""

    src: str
    dst: str
    probability: float
    start: tuple[float, float]
    stop: tuple[float, float]
    rad: float
    label_at: tuple[float, float]

    def extent(self) -> list[tuple[float, float]]:
        """Points bounding the drawn curve (end points, apex, label)."""
        (x0, y0), (x1, y1) = self.start, self.stop
        dx, dy = x1 - x0, y1 - y0
        apex = (x0 + dx / 2 + self.rad * dy / 2, y0 + dy / 2 - self.rad * dx / 2)
        return [self.start, self.stop, apex, self.label_at]


def _draw(procedure: Procedure, *, min_probability: float, precedence: bool) -> Figure:
    layout = layout_positions(procedure, min_probability=min_probability)
    points = {node: (x * _LAYER_GAP, y * _ROW_GAP) for node, (x, y) in layout.items()}
    shown = [
        (src, dst, probability)
        for src, row in procedure.transitions.items()
        for dst, probability in row.items()
        if probability >= min_probability and probability > 0
    ]
    hidden = sum(
        1 for row in procedure.transitions.values() for p in row.values() if 0 < p < min_probability
    )
    heights = {step.id: _box_height(step) for step in procedure.steps}
    pairs = {(src, dst) for src, dst, _ in shown}
    arrows = [
        _arrow_geometry(src, dst, p, points, heights, reverse=(dst, src) in pairs)
        for src, dst, p in shown
    ]

    constraints = (
        [_precedence_geometry(b, a, points) for b, a in procedure.precedence] if precedence else []
    )

    # Extent of the drawing in inches: nodes, arcs and labels, plus margins.
    extent = [point for arrow in (*arrows, *constraints) for point in arrow.extent()]
    xs = [x for x, _ in points.values()] + [x for x, _ in extent]
    ys = [y for _, y in points.values()] + [y for _, y in extent]
    box_room = max(heights.values(), default=0.0) / 2
    x_low, x_high = min(xs) - _MARGIN, max(xs) + _MARGIN
    x_low = min(x_low, min(x for x, _ in points.values()) - _BOX_WIDTH / 2 - 0.1)
    y_low, y_high = min(ys) - box_room - 0.25, max(ys) + box_room + 0.1
    width = max(x_high - x_low, _MIN_WIDTH)
    centre = (x_low + x_high) / 2
    x_low, x_high = centre - width / 2, centre + width / 2
    height = y_high - y_low + _TITLE_HEIGHT + _LEGEND_HEIGHT

    figure = Figure(figsize=(width, height))
    axes = figure.add_axes(
        (0.0, _LEGEND_HEIGHT / height, 1.0, (y_high - y_low) / height), frameon=False
    )
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    axes.set_axis_off()

    nodes = {
        START: _terminal(axes, points[START], filled=True, label=START),
        END: _terminal(axes, points[END], filled=False, label=END),
    }
    for step in procedure.steps:
        nodes[step.id] = _step_box(axes, step, points[step.id], heights[step.id])
    for arrow in sorted(arrows, key=lambda arrow: arrow.probability):  # strong ones on top
        _draw_arrow(axes, arrow, nodes[arrow.src], nodes[arrow.dst])
    for arc in constraints:
        _draw_precedence(axes, arc, nodes[arc.src], nodes[arc.dst])

    figure.suptitle(
        f"{procedure.name}  ({procedure.source or 'unknown source'})",
        y=1.0 - 0.12 / height,
        va="top",
        fontsize=12,
        fontweight="bold",
    )
    figure.text(
        0.5,
        1.0 - 0.4 / height,
        f"{procedure.n_steps} steps, {len(shown)} transitions shown"
        + (f", {hidden} below p = {min_probability:g} hidden" if hidden else ""),
        ha="center",
        va="top",
        fontsize=8,
        color="#555555",
    )
    figure.legend(
        handles=_legend_handles(procedure, precedence),
        loc="lower center",
        ncol=6,
        frameon=False,
        fontsize=8,
        bbox_to_anchor=(0.5, 0.08 / height),
        handlelength=2.2,
    )
    return figure


def _box_height(step: Step) -> float:
    """Height in inches of a step's box: its wrapped name plus the duration line."""
    return _LINE_HEIGHT * (len(_wrapped_name(step)) + 1) + 0.16


def _wrapped_name(step: Step) -> list[str]:
    return textwrap.wrap(step.name, _NAME_WIDTH) or [step.id]


def _arrow_geometry(
    src: str,
    dst: str,
    probability: float,
    points: Mapping[str, tuple[float, float]],
    heights: Mapping[str, float],
    *,
    reverse: bool,
) -> _Arrow:
    """Where a transition is drawn; assumes ``src`` and ``dst`` are laid out."""
    if src == dst:  # self-loop over the top of the box
        x, y = points[src]
        top = y + heights[src] / 2
        return _Arrow(src, dst, probability, (x - 0.3, top), (x + 0.3, top), -1.6, (x, top + 0.5))
    a, b = points[src], points[dst]
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    neighbour = abs(dx) <= _LAYER_GAP + 1e-9 and dx != 0
    if neighbour and dx > 0 and not reverse:
        rad = 0.0
    elif neighbour and reverse:
        rad = -0.18  # a pair of opposite arrows: each bows to its own side
    else:
        # Skip and backward arcs: forward ones bow up, backward ones down (sign of dx).
        span = max(abs(dx) / _LAYER_GAP, 1.0)
        rad = -2.0 * min(0.35 + 0.2 * (span - 1.0), 2.2) / length
    label = (a[0] + dx / 2 + rad * dy / 2, a[1] + dy / 2 - rad * dx / 2)
    if rad == 0.0:
        # Straight arrows: label in the gap between the layers, a little nearer the source.
        t = (_BOX_WIDTH / 2 + 0.3) / dx
        if t < 0.5:
            label = (a[0] + t * dx, a[1] + t * dy)
    return _Arrow(src, dst, probability, a, b, rad, label)


def _step_box(axes: Axes, step: Step, centre: tuple[float, float], height: float) -> _Node:
    lines = _wrapped_name(step)
    x, y = centre
    critical = step.notes.time_critical
    must = step.notes.must_not_skip
    box = FancyBboxPatch(
        (x - _BOX_WIDTH / 2, y - height / 2),
        _BOX_WIDTH,
        height,
        boxstyle="round,pad=0,rounding_size=0.1",
        facecolor=_CRITICAL_FILL if critical else _STEP_FILL,
        edgecolor=_MUST_EDGE if must else _STEP_EDGE,
        linewidth=2.4 if must else 1.0,
        zorder=3,
    )
    axes.add_patch(box)
    axes.text(
        x,
        y + _LINE_HEIGHT / 2,
        "\n".join(lines),
        ha="center",
        va="center",
        fontsize=8.5,
        fontweight="bold",
        color="#1b2631",
        zorder=4,
        linespacing=1.1,
    )
    axes.text(
        x,
        y - height / 2 + 0.08,
        format_duration(step.duration),
        ha="center",
        va="bottom",
        fontsize=7.5,
        color="#4d5656",
        zorder=4,
    )
    if step.repeatable:
        axes.text(  # a badge on the top-right corner
            x + _BOX_WIDTH / 2 - 0.04,
            y + height / 2,
            _REPEAT_MARK,
            ha="center",
            va="center",
            fontsize=9,
            color=_STEP_EDGE,
            zorder=5,
            bbox={"boxstyle": "circle,pad=0.15", "facecolor": "white", "edgecolor": _STEP_EDGE},
        )
    return _Node(x, y, _BOX_WIDTH / 2, height / 2, box)


def _terminal(axes: Axes, centre: tuple[float, float], *, filled: bool, label: str) -> _Node:
    circle = Circle(
        centre,
        _TERMINAL_RADIUS,
        facecolor=_TERMINAL_COLOUR if filled else "white",
        edgecolor=_TERMINAL_COLOUR,
        linewidth=2.5 if not filled else 1.0,
        zorder=3,
    )
    axes.add_patch(circle)
    if not filled:
        axes.add_patch(Circle(centre, _TERMINAL_RADIUS * 0.45, color=_TERMINAL_COLOUR, zorder=4))
    axes.text(
        centre[0],
        centre[1] - _TERMINAL_RADIUS - 0.06,
        label,
        ha="center",
        va="top",
        fontsize=8,
        color=_TERMINAL_COLOUR,
        zorder=4,
    )
    return _Node(centre[0], centre[1], _TERMINAL_RADIUS, _TERMINAL_RADIUS, circle)


def _draw_arrow(axes: Axes, arrow: _Arrow, src: _Node, dst: _Node) -> None:
    p = arrow.probability
    loop = arrow.src == arrow.dst
    axes.add_patch(
        FancyArrowPatch(
            arrow.start,
            arrow.stop,
            connectionstyle=f"arc3,rad={arrow.rad}",
            arrowstyle="-|>",
            mutation_scale=9 + 5 * p,
            linewidth=0.6 + 2.4 * p,
            color=_EDGE_COLOUR,
            alpha=0.35 + 0.65 * p,
            shrinkA=1,
            shrinkB=1,
            patchA=None if loop else src.patch,
            patchB=None if loop else dst.patch,
            zorder=2,
        )
    )
    _label(axes, arrow.label_at, p)


def _label(axes: Axes, at: tuple[float, float], probability: float) -> None:
    axes.text(
        at[0],
        at[1],
        f"{probability:.2f}",
        ha="center",
        va="center",
        fontsize=6.5,
        color=_EDGE_COLOUR,
        zorder=5,
        bbox={
            "boxstyle": "round,pad=0.1",
            "facecolor": "white",
            "edgecolor": "none",
            "alpha": 0.85,
        },
    )


def _precedence_geometry(
    before: str, after: str, points: Mapping[str, tuple[float, float]]
) -> _Arrow:
    """A precedence arc: bows to the side opposite to forward transition arcs."""
    a, b = points[before], points[after]
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    span = max(abs(b[0] - a[0]) / _LAYER_GAP - 1.0, 0.0)
    rad = min(2.0 * min(0.25 + 0.12 * span, 1.6) / length, 0.6)
    apex = (a[0] + (b[0] - a[0]) / 2 + rad * (b[1] - a[1]) / 2, a[1] + (b[1] - a[1]) / 2)
    apex = (apex[0], apex[1] - rad * (b[0] - a[0]) / 2)
    return _Arrow(before, after, 1.0, a, b, rad, apex)


def _draw_precedence(axes: Axes, arrow: _Arrow, before: _Node, after: _Node) -> None:
    axes.add_patch(
        FancyArrowPatch(
            arrow.start,
            arrow.stop,
            connectionstyle=f"arc3,rad={arrow.rad}",
            patchA=before.patch,
            patchB=after.patch,
            arrowstyle="-|>",
            mutation_scale=7,
            linewidth=0.8,
            linestyle=(0, (4, 3)),
            color=_PRECEDENCE_COLOUR,
            zorder=1,
        )
    )


def _legend_handles(procedure: Procedure, precedence: bool) -> list[Patch | Line2D]:
    """Legend entries for the marks this drawing uses."""
    steps = procedure.steps
    handles: list[Patch | Line2D] = [
        Patch(facecolor=_STEP_FILL, edgecolor=_STEP_EDGE, label="step (mean ± std duration)")
    ]
    if any(step.notes.time_critical for step in steps):
        handles.append(Patch(facecolor=_CRITICAL_FILL, edgecolor=_STEP_EDGE, label="time-critical"))
    if any(step.notes.must_not_skip for step in steps):
        handles.append(
            Patch(facecolor="white", edgecolor=_MUST_EDGE, linewidth=2.4, label="must not skip")
        )
    if any(step.repeatable for step in steps):
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker=f"${_REPEAT_MARK}$",
                markersize=9,
                color=_STEP_EDGE,
                label="repeatable",
            )
        )
    handles.append(
        Line2D([], [], color=_EDGE_COLOUR, linewidth=1.8, label="transition (width ~ probability)")
    )
    if precedence and procedure.precedence:
        handles.append(
            Line2D(
                [],
                [],
                color=_PRECEDENCE_COLOUR,
                linewidth=0.8,
                linestyle=(0, (4, 3)),
                label="precedence (before -> after)",
            )
        )
    return handles
