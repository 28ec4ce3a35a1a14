"""When the tracker is unsure, ask the user which step they are on (a bounded number of times)."""

from __future__ import annotations

from dataclasses import dataclass

from prism.errors import TrackerInputError
from prism.tracker.state import TrackerState

__all__ = ["ConfirmationConfig", "ConfirmationPolicy", "ConfirmationRequest"]


@dataclass(frozen=True)
class ConfirmationConfig:
    """When to ask the user to confirm the current step.

    Parameters
    ----------
    max_requests : int
        At most this many questions per session (>= 0; 0 never asks).
    confidence_threshold : float
        The state is uncertain while the most probable class has less than this.
    min_uncertain_s : float
        Ask only after the state has been uncertain this long without a break (seconds).
    min_interval_s : float
        Seconds between two questions, at least.
    n_choices : int
        Number of candidate steps offered.
    """

    max_requests: int = 3
    confidence_threshold: float = 0.8
    min_uncertain_s: float = 2.0
    min_interval_s: float = 60.0
    n_choices: int = 3

    def __post_init__(self) -> None:
        if self.max_requests < 0:
            raise TrackerInputError(f"max_requests must be >= 0, got {self.max_requests}")
        if not 0.0 < self.confidence_threshold <= 1.0:
            raise TrackerInputError(
                f"confidence_threshold must be in (0, 1], got {self.confidence_threshold}"
            )
        if self.min_uncertain_s < 0 or self.min_interval_s < 0:
            raise TrackerInputError("min_uncertain_s and min_interval_s must be >= 0 seconds")
        if self.n_choices < 2:
            raise TrackerInputError(f"n_choices must be >= 2, got {self.n_choices}")


@dataclass(frozen=True)
class ConfirmationRequest:
    """A question for the user: which of ``choices`` (step ids) are you doing?

    ``probabilities`` are the tracker's, in the same order; ``time`` is in seconds.
    """

    time: float
    choices: tuple[str, ...]
    probabilities: tuple[float, ...]


class ConfirmationPolicy:
    """Decides, frame by frame, whether to ask the user to confirm the current step.

    Examples
    --------
    >>> policy = ConfirmationPolicy(ConfirmationConfig(max_requests=1))
    >>> policy.remaining
    1
    """

    def __init__(self, config: ConfirmationConfig | None = None) -> None:
        self.config = config or ConfirmationConfig()
        self.asked = 0
        self._uncertain_since: float | None = None
        self._last_asked = float("-inf")

    @property
    def remaining(self) -> int:
        """Questions left this session."""
        return self.config.max_requests - self.asked

    def observe(self, state: TrackerState) -> ConfirmationRequest | None:
        """Look at the newest state; return a question when one is due, else ``None``."""
        config = self.config
        if state.current_probability >= config.confidence_threshold:
            self._uncertain_since = None
            return None
        if self._uncertain_since is None:
            self._uncertain_since = state.time
        due = (
            self.remaining > 0
            and state.time - self._uncertain_since >= config.min_uncertain_s
            and state.time - self._last_asked >= config.min_interval_s
        )
        steps = [(s, p) for s, p in state.top_classes(config.n_choices + 1) if s is not None]
        if not due or len(steps) < 2:
            return None
        self.asked += 1
        self._last_asked = state.time
        self._uncertain_since = None
        chosen = steps[: config.n_choices]
        return ConfirmationRequest(
            time=state.time,
            choices=tuple(step for step, _ in chosen),
            probabilities=tuple(probability for _, probability in chosen),
        )
