"""Context states of the live streams of one network, kept in one tensor per level.

A streaming classifier carries, between calls, the last frames of every causal context
level of its network (:meth:`FusedActivityNet.initial_state`: per level ``(1, H, n_l)``).
Classifying one new frame of many sessions at once needs those states side by side as
``(B, H, n_l)`` and back again. Gathering ``B`` separate tensors (one concatenation per
level) and slicing the result back into ``B`` pieces costs two Python-level operations
per session and level, which for a few hundred sessions takes longer than the network
itself. A :class:`StatePool` instead keeps the states of all streams of a network as
rows of one tensor per level: a batch is gathered with one ``index_select`` per level and
written back with one ``index_copy_``.

Each stream owns a :class:`StateSlot` (one row); the row is returned to the pool when the
slot is garbage-collected. A slot pickles (and deep-copies) as its network and a copy of
its state, and unpickles into a new row of that network's pool, so checkpoints of a
session stay independent of the pool. The pool grows by doubling and never shrinks: its
size is that of the most streams alive at once (latte making, late fusion: 24 kB per
stream).

The pool is thread-safe: a batch may be classified on a worker thread while streams of
the same network are created or dropped on another.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

import torch
from torch import Tensor

from prism.sensing.network import FusedActivityNet

__all__ = ["StatePool", "StateSlot", "state_pool"]

_INITIAL_CAPACITY = 8


class StatePool:
    """Rows of context state for the streams of one network.

    Parameters
    ----------
    template : sequence of Tensor
        One stream's initial state: per level a zero tensor ``(1, H, n_l)``.
    """

    def __init__(self, template: Sequence[Tensor]) -> None:
        self._shapes = [tuple(level.shape[1:]) for level in template]
        self._levels = [torch.zeros(_INITIAL_CAPACITY, *shape) for shape in self._shapes]
        self._capacity = _INITIAL_CAPACITY
        self._free = list(range(_INITIAL_CAPACITY - 1, -1, -1))
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """Rows held (used or free); also with no level (a network without context)."""
        return self._capacity

    @property
    def in_use(self) -> int:
        """Rows owned by a live slot."""
        return self.capacity - len(self._free)

    def allocate(self) -> int:
        """A free row, zeroed (the state at a session's start)."""
        with self._lock:
            if not self._free:
                self._grow()
            row = self._free.pop()
            for level in self._levels:
                level[row].zero_()
            return row

    def release(self, row: int) -> None:
        """Give ``row`` back (called when its slot is garbage-collected)."""
        with self._lock:
            self._free.append(row)

    def gather(self, rows: Tensor) -> list[Tensor]:
        """The states of ``rows (B,)`` (int64), per level ``(B, H, n_l)`` (copies)."""
        with self._lock:
            return [level.index_select(0, rows) for level in self._levels]

    def scatter(self, rows: Tensor, state: Sequence[Tensor]) -> None:
        """Store ``state`` (per level ``(B, H, n_l)``) as the states of ``rows (B,)``."""
        with self._lock:
            for level, new in zip(self._levels, state, strict=True):
                level.index_copy_(0, rows, new)

    def _grow(self) -> None:
        old, grown = self._capacity, 2 * self._capacity
        self._levels = [
            torch.cat([level, torch.zeros(grown - old, *shape)])
            for level, shape in zip(self._levels, self._shapes, strict=True)
        ]
        self._capacity = grown
        self._free.extend(range(grown - 1, old - 1, -1))


_POOLS: weakref.WeakKeyDictionary[FusedActivityNet, StatePool] = weakref.WeakKeyDictionary()
_POOLS_LOCK = threading.Lock()


def state_pool(network: FusedActivityNet) -> StatePool:
    """The pool of ``network``, made on first use."""
    with _POOLS_LOCK:
        pool = _POOLS.get(network)
        if pool is None:
            pool = _POOLS[network] = StatePool(network.initial_state(1))
        return pool


class StateSlot:
    """One stream's row in its network's :class:`StatePool`.

    Parameters
    ----------
    network : FusedActivityNet
        The stream's network.
    state : sequence of Tensor or None
        Initial state, per level ``(1, H, n_l)``; None: zeros (a session's start).
    """

    def __init__(self, network: FusedActivityNet, state: Sequence[Tensor] | None = None) -> None:
        self.network = network
        self.pool = state_pool(network)
        self.row = self.pool.allocate()
        weakref.finalize(self, self.pool.release, self.row)
        if state is not None:
            self.pool.scatter(torch.tensor([self.row]), state)

    def read(self) -> list[Tensor]:
        """A copy of the state, per level ``(1, H, n_l)``."""
        return self.pool.gather(torch.tensor([self.row]))

    def __reduce__(self) -> tuple[type[StateSlot], tuple[FusedActivityNet, list[Tensor]]]:
        return (StateSlot, (self.network, self.read()))
