"""What the live dashboard shows for a session (JSON for ``static/dashboard.html``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prism.server.runtime import SessionRuntime

__all__ = ["dashboard_view", "runtime_view"]


def runtime_view(
    runtime: SessionRuntime, *, chart_steps: int = 5, chart_points: int = 600
) -> dict[str, Any]:
    """A session pipeline's state as plain data (what REST and the dashboard read).

    Returns
    -------
    dict
        ``procedure`` and ``procedure_name``, ``mode`` (``"sensing"`` or
        ``"guided"``), ``steps`` (id, name), ``time_s``, the
        ``current`` step (and ``current_name``) with its ``probability``, the tracked
        ``history`` (step, name, start, end in s) and ``probabilities`` (``times`` and,
        for the ``chart_steps`` steps that were most probable at some point, their
        probability over the last ``chart_points`` snapshots).
    """
    procedure = runtime.procedure
    state = runtime.state
    names = {step.id: step.name for step in procedure.steps}
    times, snapshots = runtime.probability_history.last(chart_points)
    series = []
    if len(times):
        matrix = snapshots[:, : procedure.n_steps]
        for index in np.argsort(-matrix.max(axis=0))[:chart_steps]:
            step = procedure.step_ids[index]
            values = [round(float(v), 3) for v in matrix[:, index]]
            series.append({"step": step, "name": names[step], "values": values})
    return {
        "procedure": procedure.id,
        "procedure_name": procedure.name,
        "mode": runtime.mode,
        "steps": [{"id": step.id, "name": step.name} for step in procedure.steps],
        "time_s": state.time,
        "current": state.current_step,
        "current_name": names.get(state.current_step or ""),
        "probability": state.current_probability,
        "history": [
            {"step": h.step, "name": names[h.step], "start": h.start, "end": h.end}
            for h in state.history
        ],
        "probabilities": {"times": times.tolist(), "series": series},
    }


def dashboard_view(
    session_id: str,
    view: Mapping[str, Any],
    sent: Sequence[dict[str, Any]],
    *,
    ended: bool = False,
    recording: bool = False,
) -> dict[str, Any]:
    """A session for the dashboard: its :func:`runtime_view`, whether it ``ended``, whether
    it is ``recording`` (its labels can be corrected on the dashboard's timeline), and the
    ``reminders`` and ``qa`` exchange from the messages sent."""
    return {
        "session_id": session_id,
        **view,
        "ended": ended,
        "recording": recording,
        "reminders": [m for m in sent if m.get("type") == "reminder"],
        "qa": [m for m in sent if m.get("type") == "answer"],
    }
