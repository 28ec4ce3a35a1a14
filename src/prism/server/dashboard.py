"""What the live dashboard shows for a session (JSON for ``static/dashboard.html``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prism.server.runtime import SessionRuntime

__all__ = ["dashboard_view"]


def dashboard_view(
    session_id: str,
    runtime: SessionRuntime,
    sent: Sequence[dict[str, Any]],
    *,
    ended: bool = False,
    chart_steps: int = 5,
    chart_points: int = 600,
) -> dict[str, Any]:
    """A session's state for the dashboard.

    Returns
    -------
    dict
        ``steps`` (id, name), the tracked ``history`` (step, name, start, end in s), the
        current step and its probability, ``probabilities`` (``times`` and, for the
        ``chart_steps`` steps that were most probable at some point, their probability
        over the last ``chart_points`` snapshots), ``reminders`` and ``qa`` (from the
        messages sent).
    """
    procedure = runtime.procedure
    state = runtime.state
    names = {step.id: step.name for step in procedure.steps}
    snapshots = list(runtime.probability_history)[-chart_points:]
    times = [t for t, _ in snapshots]
    series = []
    if snapshots:
        matrix = np.stack([p for _, p in snapshots])[:, : procedure.n_steps]
        for index in np.argsort(-matrix.max(axis=0))[:chart_steps]:
            step = procedure.step_ids[index]
            values = [round(float(v), 3) for v in matrix[:, index]]
            series.append({"step": step, "name": names[step], "values": values})
    return {
        "session_id": session_id,
        "procedure": procedure.id,
        "procedure_name": procedure.name,
        "steps": [{"id": step.id, "name": step.name} for step in procedure.steps],
        "time_s": state.time,
        "ended": ended,
        "current": state.current_step,
        "current_name": names.get(state.current_step or ""),
        "probability": state.current_probability,
        "history": [
            {"step": h.step, "name": names[h.step], "start": h.start, "end": h.end}
            for h in state.history
        ],
        "probabilities": {"times": times, "series": series},
        "reminders": [m for m in sent if m.get("type") == "reminder"],
        "qa": [m for m in sent if m.get("type") == "answer"],
    }
