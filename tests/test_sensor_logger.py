"""Sensor Logger push messages as PrISM IMU: units, frames, reordering, repeats, gaps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.data.openpack_imu import resample_imu
from prism.data.recording import ImuSamples
from prism.data.sensor_logger import (
    PushAssembler,
    PushMessage,
    Reading,
    imu_from_readings,
    parse_push,
    wrist_imu,
)
from prism.errors import DataError

G = 9.80665
EPOCH_NS = 1_698_501_144_401_773_000


def _motion(seconds: float, rate: float = 50.0, seed: int = 0) -> ImuSamples:
    """A wrist's IMU: gravity along +z turning slowly, a wobble, a rotation."""
    rng = np.random.default_rng(seed)
    times = np.arange(0.0, seconds, 1.0 / rate) + rng.uniform(0, 0.004, int(seconds * rate))
    times.sort()
    angle = 0.3 * np.sin(times / 3.0)
    acc = np.column_stack(
        [G * np.sin(angle), 0.5 * np.sin(7 * times), G * np.cos(angle) + 0.2 * np.cos(5 * times)]
    )
    gyro = np.column_stack(
        [0.1 * np.cos(times / 3.0), 0.4 * np.sin(2 * times), 0.05 * times / seconds]
    )
    return ImuSamples(times, np.column_stack([acc, gyro]).astype(np.float32))


def _wrist_readings(imu: ImuSamples, *, standardised: bool) -> list[Reading]:
    """The watch's readings Sensor Logger would push for ``imu``: in g in the watch's own
    frame (the default), or in m/s^2 with Android's signs. Gravity and user acceleration
    split the total (a constant share each)."""
    total = imu.values[:, :3].astype(np.float64)
    native = total if standardised else -total / G
    gravity, user = 0.8 * native, 0.2 * native
    readings = []
    for t, g, a, w in zip(imu.times, gravity, user, imu.values[:, 3:], strict=True):
        values = {
            **{f"gravity{axis}": float(v) for axis, v in zip("XYZ", g, strict=True)},
            **{f"acceleration{axis}": float(v) for axis, v in zip("XYZ", a, strict=True)},
            **{f"rotationRate{axis}": float(v) for axis, v in zip("XYZ", w, strict=True)},
            "quaternionW": 1.0,
        }
        readings.append(Reading(name="wrist motion", time=EPOCH_NS + int(t * 1e9), values=values))
    return readings


def _messages(readings: list[Reading], per_message: int = 10) -> list[PushMessage]:
    return [
        PushMessage(
            messageId=i,
            sessionId="rec",
            deviceId="watch",
            payload=readings[start : start + per_message],
        )
        for i, start in enumerate(range(0, len(readings), per_message))
    ]


def _assemble(messages: list[PushMessage]) -> ImuSamples:
    assembler = PushAssembler()
    chunks = [chunk for message in messages for chunk in assembler.add(message)]
    chunks += assembler.flush()
    return ImuSamples(
        np.concatenate([c.times for c in chunks]), np.concatenate([c.values for c in chunks])
    )


@pytest.mark.parametrize("standardised", [False, True])
def test_watch_readings_become_the_imu_they_describe(standardised: bool) -> None:
    imu = _motion(20.0)
    out = _assemble(_messages(_wrist_readings(imu, standardised=standardised)))
    assert np.allclose(np.diff(out.times), 0.02)  # uniform 50 Hz, one grid throughout
    expected = resample_imu(ImuSamples(imu.times - imu.times[0], imu.values), 50.0)
    n = min(len(expected.times), len(out.times))
    assert n >= 0.95 * len(expected.times)
    assert np.allclose(out.times[:n], expected.times[:n])
    assert np.allclose(out.values[:n], expected.values[:n], atol=1e-3)
    assert abs(float(np.median(out.values[:, 2])) - G) < 1.0  # gravity up at rest


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    repeats=st.lists(st.integers(0, 99), max_size=10),
)
def test_late_and_repeated_messages_within_the_window_change_nothing(
    seed: int, repeats: list[int]
) -> None:
    messages = _messages(_wrist_readings(_motion(10.0), standardised=False))
    rng = np.random.default_rng(seed)
    # each message arrives up to 0.6 s (3 messages) late; some arrive twice
    order = np.argsort(np.arange(len(messages)) + rng.uniform(0, 3, len(messages)))
    arrived = [messages[i] for i in order]
    arrived += [messages[i % len(messages)] for i in repeats]
    expected = _assemble(messages)
    out = _assemble(arrived)
    assert np.array_equal(out.times, expected.times)
    assert np.allclose(out.values, expected.values)


def test_a_message_that_never_comes_leaves_a_gap_not_an_interpolation() -> None:
    messages = _messages(_wrist_readings(_motion(20.0), standardised=True))
    lost = messages[:40] + messages[50:]  # 2 s of readings never arrive
    out = _assemble(lost)
    steps = np.diff(out.times)
    assert steps.max() > 1.5 and np.allclose(steps[steps < 1.0], 0.02)


def test_readings_older_than_what_was_handed_out_are_dropped_and_counted() -> None:
    messages = _messages(_wrist_readings(_motion(20.0), standardised=True))
    assembler = PushAssembler()
    for message in messages[1:]:
        assembler.add(message)
    assembler.add(messages[0])  # 20 s late
    assert assembler.late == len(messages[0].payload)


def test_a_phone_without_a_watch_gives_total_acceleration_and_rotation() -> None:
    times = EPOCH_NS + (np.arange(100) * 20_000_000)
    readings = []
    for i, t in enumerate(times):
        readings.append(
            Reading(name="gyroscope", time=int(t), values={"x": 0.1, "y": 0.2, "z": i / 100})
        )
        readings.append(
            Reading(
                name="accelerometer", time=int(t) + 3_000_000, values={"x": 1.0, "y": 0.0, "z": 0.0}
            )
        )
        readings.append(
            Reading(name="gravity", time=int(t) + 5_000_000, values={"x": 0.0, "y": 0.0, "z": G})
        )
        readings.append(Reading(name="location", time=int(t), values={"latitude": 1.0}))
    found = imu_from_readings(readings)
    assert found is not None
    stamps, values = found
    assert np.array_equal(stamps, times)
    assert np.allclose(values[5], [1.0, 0.0, G, 0.1, 0.2, 0.05], atol=1e-5)


def test_a_watch_is_preferred_to_the_phone_and_other_sensors_are_ignored() -> None:
    wrist = _wrist_readings(_motion(2.0), standardised=True)
    phone = [
        Reading(name="gyroscope", time=r.time, values={"x": 9.0, "y": 9.0, "z": 9.0}) for r in wrist
    ]
    found = imu_from_readings([*phone, *wrist])
    assert found is not None and float(np.abs(found[1][:, 3:]).max()) < 1.0
    assert imu_from_readings([Reading(name="battery", time=1, values={"batteryLevel": 1})]) is None


def test_wrist_units_are_told_apart_by_gravity() -> None:
    still = np.zeros((4, 3))
    in_g = wrist_imu(still, np.tile([0.0, -1.0, 0.0], (4, 1)), still)
    standard = wrist_imu(still, np.tile([0.0, 9.81, 0.0], (4, 1)), still)
    assert np.allclose(in_g[:, :3], [0.0, G, 0.0]) and np.allclose(
        standard[:, :3], [0.0, 9.81, 0.0]
    )
    with pytest.raises(DataError, match=r"three \(n, 3\) arrays"):
        wrist_imu(np.zeros((4, 2)), still, still)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"sessionId": "s", "deviceId": "d", "payload": []}, "messageId"),
        (
            {"messageId": 1, "sessionId": "s", "deviceId": "d", "payload": [{"name": "x"}]},
            "payload.0.time",
        ),
        (
            {
                "messageId": 1,
                "sessionId": "s",
                "deviceId": "d",
                "payload": [{"name": "x", "time": -5}],
            },
            "payload.0.time",
        ),
        ([1, 2], "message"),
    ],
)
def test_malformed_messages_name_the_field(data: Any, where: str) -> None:
    with pytest.raises(DataError, match=rf"not a Sensor Logger push message: {where}"):
        parse_push(data)


def test_readings_with_missing_or_odd_values_are_left_out() -> None:
    good = _wrist_readings(_motion(1.0), standardised=True)
    odd = [
        Reading(name="wristmotion", time=good[3].time + 1, values={"gravityX": "a lot"}),
        Reading(name="wristmotion", time=good[4].time + 1, values={}),
    ]
    found = imu_from_readings([*good, *odd])
    assert found is not None and len(found[0]) == len(good)
