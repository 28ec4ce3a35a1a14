"""Per-connection rate limiting: a token bucket that says how long to wait, never drops."""

from __future__ import annotations

from dataclasses import dataclass, field

from prism.errors import SettingsError

__all__ = ["TokenBucket"]


@dataclass
class TokenBucket:
    """``rate`` messages per second sustained, bursts of up to ``burst``.

    :meth:`delay` takes one token and returns how long the caller must wait before
    using it (0 while the bucket is not empty). The server waits that long before it
    reads the connection's next message, so a watch sending faster than allowed is slowed
    down by TCP flow control (backpressure) instead of losing messages.

    Raises
    ------
    SettingsError
        If ``rate`` <= 0 or ``burst`` < 1.

    Examples
    --------
    >>> bucket = TokenBucket(rate=2.0, burst=2)
    >>> [bucket.delay(now=0.0) for _ in range(4)]
    [0.0, 0.0, 0.5, 1.0]
    """

    rate: float
    burst: int
    _tokens: float = field(init=False)
    _time: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.burst < 1:
            raise SettingsError(f"need rate > 0 and burst >= 1, got {self.rate}, {self.burst}")
        self._tokens = float(self.burst)

    def delay(self, *, now: float) -> float:
        """Take a token at time ``now`` (s, monotonic); the wait (s) before it is usable."""
        if self._time is not None:
            elapsed = max(0.0, now - self._time)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._time = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= -1e-9 else -self._tokens / self.rate  # float slack
