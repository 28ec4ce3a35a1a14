"""Tests for prism.sensing.state_pool: rows stay apart, are reused and pickle as copies."""

from __future__ import annotations

import copy
import gc
import pickle

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.sensing.network import FusedActivityNet, NetworkConfig
from prism.sensing.state_pool import StatePool, StateSlot, state_pool


def network() -> FusedActivityNet:
    config = NetworkConfig(embedding_size=4, hidden_size=3, context_levels=2, fusion="late")
    return FusedActivityNet(3, config=config)


def filled(pool: StatePool, value: float) -> list[torch.Tensor]:
    """One stream's state (per level ``(1, H, n_l)``) filled with ``value``."""
    return [torch.full((1, *shape), value) for shape in pool._shapes]


def test_pool_levels_match_the_network_state() -> None:
    net = network()
    pool = state_pool(net)
    assert pool is state_pool(net)
    assert [tuple(level.shape) for level in pool.gather(torch.tensor([pool.allocate()]))] == [
        tuple(level.shape) for level in net.initial_state(1)
    ]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 30)), min_size=1, max_size=80))
def test_rows_hold_their_own_state_through_reuse_and_growth(
    operations: list[tuple[int, int]],
) -> None:
    """Against a dict model: allocating (two operations in three, so the pool grows)
    gives a zero state, writing one row leaves every other row alone."""
    pool = StatePool(network().initial_state(1))
    expected: dict[int, float] = {}
    for step, (kind, pick) in enumerate(operations):
        if kind or not expected:
            row = pool.allocate()
            assert row not in expected
            assert all(torch.all(level == 0) for level in pool.gather(torch.tensor([row])))
            value = float(step + 1)
            pool.scatter(torch.tensor([row]), filled(pool, value))
            expected[row] = value
        else:
            row = sorted(expected)[pick % len(expected)]
            pool.release(row)
            del expected[row]
        assert pool.in_use == len(expected)
        assert pool.capacity >= len(expected)
    rows = sorted(expected)
    if rows:
        for level in pool.gather(torch.tensor(rows)):
            for place, row in enumerate(rows):
                assert torch.all(level[place] == expected[row])


def test_a_pool_without_levels_still_hands_out_distinct_rows() -> None:
    """A network without context (``context_levels=0``) has no state to hold, but its
    streams still get rows of their own."""
    pool = StatePool([])
    rows = [pool.allocate() for _ in range(20)]
    assert len(set(rows)) == 20 and pool.in_use == 20 and pool.capacity >= 20


def test_a_new_row_starts_at_zero_after_reuse() -> None:
    pool = StatePool(network().initial_state(1))
    row = pool.allocate()
    pool.scatter(torch.tensor([row]), filled(pool, 7.0))
    pool.release(row)
    assert pool.allocate() == row
    assert all(torch.all(level == 0) for level in pool.gather(torch.tensor([row])))


def test_a_slot_gives_its_row_back_when_collected() -> None:
    net = network()
    pool = state_pool(net)
    before = pool.in_use
    slots = [StateSlot(net) for _ in range(20)]
    assert pool.in_use == before + 20
    del slots
    gc.collect()
    assert pool.in_use == before


def test_a_slot_pickles_and_copies_as_its_state_in_a_new_row() -> None:
    net = network()
    slot = StateSlot(net, filled(state_pool(net), 2.5))
    for twin in (copy.deepcopy(slot), pickle.loads(pickle.dumps(slot))):
        assert twin.row != slot.row or twin.pool is not slot.pool
        assert all(torch.all(level == 2.5) for level in twin.read())
        twin.pool.scatter(torch.tensor([twin.row]), filled(twin.pool, -1.0))
        assert all(torch.all(level == 2.5) for level in slot.read())
