"""The token bucket: known answers, never more than rate and burst, no delay within the
rate, refused settings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.errors import PrismError, SettingsError
from prism.server.limits import TokenBucket


def test_a_burst_passes_then_each_message_waits_its_turn() -> None:
    bucket = TokenBucket(rate=2.0, burst=2)
    assert [bucket.delay(now=0.0) for _ in range(4)] == [0.0, 0.0, 0.5, 1.0]


def test_waiting_refills_the_bucket_up_to_the_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=3)
    assert [bucket.delay(now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.delay(now=0.05) == pytest.approx(0.05)  # half a token back, one owed
    bucket = TokenBucket(rate=10.0, burst=3)
    for _ in range(3):
        bucket.delay(now=0.0)
    # a long pause refills at most ``burst`` tokens
    assert [bucket.delay(now=100.0) for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_a_clock_going_back_refills_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.delay(now=5.0) == 0.0
    assert bucket.delay(now=4.0) == pytest.approx(1.0)


def test_a_steady_sender_at_the_rate_is_never_delayed() -> None:
    bucket = TokenBucket(rate=200.0, burst=1)
    assert all(bucket.delay(now=i / 200.0) == 0.0 for i in range(1000))
    assert bucket.delay(now=999 / 200.0) > 0  # one more at the same moment waits


@given(
    gaps=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=60),
    rate=st.floats(1.0, 50.0),
    burst=st.integers(1, 10),
)
def test_token_bucket_never_lets_more_through_than_rate_and_burst(
    gaps: list[float], rate: float, burst: int
) -> None:
    bucket = TokenBucket(rate, burst)
    arrival, used = 0.0, []
    for gap in gaps:
        arrival = max(arrival + gap, used[-1] if used else 0.0)  # reads after the wait
        used.append(arrival + bucket.delay(now=arrival))
    times = np.array(used)
    for k in range(times.size):  # any window [times[j], times[k]]
        window = times[k] - times[: k + 1]
        allowed = burst + rate * window + 1e-6
        assert np.all(np.arange(k + 1, 0, -1) <= allowed)


@given(rate=st.floats(1.0, 50.0), burst=st.integers(1, 10), n=st.integers(1, 50))
def test_token_bucket_does_not_delay_a_client_within_the_rate(
    rate: float, burst: int, n: int
) -> None:
    bucket = TokenBucket(rate, burst)
    assert all(bucket.delay(now=i / rate) == 0.0 for i in range(n))


def test_token_bucket_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(0.0, 3)


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(0.0, 3), (-1.0, 3), (float("nan"), 3), (1.0, 0)],
    ids=["zero", "negative", "nan", "no-burst"],
)
def test_refused_settings_are_setting_errors(rate: float, burst: int) -> None:
    with pytest.raises(SettingsError, match=r"need rate > 0 and burst >= 1") as caught:
        TokenBucket(rate, burst)
    assert isinstance(caught.value, PrismError)
