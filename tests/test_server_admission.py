"""Connection admission: both limits hold whatever the order of openings and closings,
a closed connection frees its place, refused settings."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.errors import SettingsError
from prism.server.admission import Admission


def test_a_device_gets_its_share_and_the_server_its_total() -> None:
    admission = Admission(max_connections=3, max_per_device=2)
    assert [admission.open("a") for _ in range(3)] == [True, True, False]
    assert admission.open("b") and not admission.open("c") and admission.total == 3
    admission.close("b")
    assert admission.open("c") and admission.total == 3
    admission.close("a")
    assert admission.open("a") and not admission.open("a")


@given(
    st.lists(st.tuples(st.booleans(), st.sampled_from("abcd")), max_size=80),
    st.integers(1, 6),
    st.integers(1, 3),
)
def test_admission_never_exceeds_either_limit(
    steps: list[tuple[bool, str]], max_connections: int, max_per_device: int
) -> None:
    admission = Admission(max_connections=max_connections, max_per_device=max_per_device)
    model: Counter[str] = Counter()
    for opening, device in steps:
        if opening:
            allowed = sum(model.values()) < max_connections and model[device] < max_per_device
            assert admission.open(device) == allowed
            model[device] += allowed
        elif model[device]:  # only an admitted connection closes
            admission.close(device)
            model[device] -= 1
        assert admission.total == sum(model.values()) <= max_connections
        assert max(model.values(), default=0) <= max_per_device


@pytest.mark.parametrize(
    ("max_connections", "max_per_device"), [(0, 1), (1, 0)], ids=["total", "per-device"]
)
def test_limits_below_one_are_refused(max_connections: int, max_per_device: int) -> None:
    with pytest.raises(SettingsError, match="connection limits must be >= 1"):
        Admission(max_connections=max_connections, max_per_device=max_per_device)
