"""How many watch connections are open: per device and overall, within their limits."""

from __future__ import annotations

from collections import Counter

from prism.errors import SettingsError

__all__ = ["Admission"]


class Admission:
    """Counts open connections; admits a new one only within both limits.

    A connection is counted from :meth:`open` (when its WebSocket opens, before hello)
    until :meth:`close` (when it closes, however it ends).

    Parameters
    ----------
    max_connections : int
        Open connections of all devices together.
    max_per_device : int
        Open connections of one device.

    Raises
    ------
    SettingsError
        If a limit is below 1.

    Examples
    --------
    >>> admission = Admission(max_connections=3, max_per_device=2)
    >>> [admission.open("a"), admission.open("a"), admission.open("a"), admission.open("b")]
    [True, True, False, True]
    >>> admission.close("a"); admission.open("a")
    True
    """

    def __init__(self, *, max_connections: int, max_per_device: int) -> None:
        if max_connections < 1 or max_per_device < 1:
            raise SettingsError(
                f"connection limits must be >= 1, got max_connections={max_connections}, "
                f"max_per_device={max_per_device}"
            )
        self.max_connections, self.max_per_device = max_connections, max_per_device
        self._open: Counter[str] = Counter()
        self._total = 0

    @property
    def total(self) -> int:
        """Connections open now."""
        return self._total

    def open(self, device_id: str) -> bool:
        """Count a new connection of ``device_id`` if both limits allow it; whether they did."""
        if self._total >= self.max_connections or self._open[device_id] >= self.max_per_device:
            return False
        self._open[device_id] += 1
        self._total += 1
        return True

    def close(self, device_id: str) -> None:
        """A connection :meth:`open` admitted has closed."""
        self._open[device_id] -= 1
        if self._open[device_id] <= 0:
            del self._open[device_id]  # memory follows the open connections
        self._total -= 1
