"""The order of watch protocol v1 messages: sequence numbers and the streams' clock."""

from __future__ import annotations

import numpy as np
import pytest

from prism.protocol import (
    MAX_LEAD_S,
    MAX_T0_S,
    ErrorCode,
    FrameKind,
    ProtocolError,
    SensorFrame,
    SequenceChecker,
    StreamClock,
)


def test_sequence_numbers_detect_duplicates_and_gaps() -> None:
    checker = SequenceChecker()
    checker.accept(1)
    checker.accept(2)
    with pytest.raises(ProtocolError, match="already processed") as duplicate:
        checker.accept(2)
    assert duplicate.value.code == ErrorCode.DUPLICATE and duplicate.value.ref_seq == 2
    with pytest.raises(ProtocolError, match="resend from seq 3") as gap:
        checker.accept(5)
    assert gap.value.code == ErrorCode.SEQUENCE_GAP
    checker.accept(3)
    assert checker.next_seq == 4


def test_streams_must_not_go_back_in_time() -> None:
    clock = StreamClock()
    imu = np.zeros((50, 6), np.float32)
    clock.accept(SensorFrame(FrameKind.IMU, 1, 0.0, 50.0, imu))
    clock.accept(SensorFrame(FrameKind.IMU, 2, 0.98, 50.0, imu))  # 20 ms jitter is fine
    clock.accept(SensorFrame(FrameKind.AUDIO, 3, 0.0, 16_000.0, np.zeros(160, np.float32)))
    with pytest.raises(ProtocolError, match=r"imu frame starts at 1\.500 s") as caught:
        clock.accept(SensorFrame(FrameKind.IMU, 4, 1.5, 50.0, imu))
    assert caught.value.code == ErrorCode.TIME_BACKWARDS


def test_a_stream_clock_restored_from_its_state_goes_on_where_it_was() -> None:
    clock = StreamClock()
    imu = np.zeros((50, 6), np.float32)
    clock.accept(SensorFrame(FrameKind.IMU, 1, 0.0, 50.0, imu))
    clock.accept(SensorFrame(FrameKind.AUDIO, 2, 0.0, 16_000.0, np.zeros(800, np.float32)))
    state = clock.state()
    assert state == {"imu": 1.0, "audio": 0.05}
    restored = StreamClock.from_state({**state, "no_such_stream": 3.0})
    assert restored.state() == state
    with pytest.raises(ProtocolError, match=r"imu frame starts at 0\.900 s") as caught:
        restored.accept(SensorFrame(FrameKind.IMU, 3, 0.9, 50.0, imu))
    assert caught.value.code == ErrorCode.TIME_BACKWARDS
    restored.accept(SensorFrame(FrameKind.IMU, 3, 0.96, 50.0, imu))  # within 50 ms


def test_checking_a_seq_takes_nothing() -> None:
    checker = SequenceChecker(3)
    checker.check(3)
    checker.check(3)
    assert checker.next_seq == 3
    for seq, code in ((2, ErrorCode.DUPLICATE), (4, ErrorCode.SEQUENCE_GAP)):
        with pytest.raises(ProtocolError) as caught:
            checker.check(seq)
        assert caught.value.code == code and checker.next_seq == 3


def _imu(seq: int, t0: float) -> SensorFrame:
    return SensorFrame(FrameKind.IMU, seq, t0, 50.0, np.zeros((50, 6), np.float32))


@pytest.mark.parametrize(
    ("history", "t0", "problem"),
    [
        ((), MAX_T0_S, r"t0 must be < 86400 s \(one day\), got 86400\.000 s"),
        ((), 1e300, r"t0 must be < 86400 s"),
        ((0.0,), 1.0 + MAX_LEAD_S + 0.001, r"t0 3601\.001 s is more than 3600 s after"),
        ((80_000.0,), 86_400.5, r"t0 must be < 86400 s"),
    ],
    ids=["first-at-one-day", "first-huge", "jump-after-an-hour", "later-at-one-day"],
)
def test_a_sensor_frame_must_start_within_the_time_bounds(
    history: tuple[float, ...], t0: float, problem: str
) -> None:
    clock = StreamClock()
    for seq, start in enumerate(history, start=1):
        clock.accept(_imu(seq, start))
    before = clock.state()
    with pytest.raises(ProtocolError, match=problem) as caught:
        clock.check(_imu(9, t0))
    assert caught.value.code == ErrorCode.BAD_FRAME and caught.value.ref_seq == 9
    with pytest.raises(ProtocolError, match=problem):
        clock.accept(_imu(9, t0))
    assert clock.state() == before  # refused: nothing changed


def test_frames_within_the_bounds_are_accepted() -> None:
    clock = StreamClock()
    clock.accept(_imu(1, MAX_T0_S - 10_000.0))  # a first frame late in the day is fine
    clock.check(_imu(2, MAX_T0_S - 10_000.0 + 1.0 + MAX_LEAD_S))  # exactly an hour after
    audio = SensorFrame(FrameKind.AUDIO, 3, MAX_T0_S - 9_000.0, 16_000.0, np.zeros(16, np.float32))
    clock.check(audio)  # the lead is measured from the latest end of any stream
    assert clock.state() == {"imu": MAX_T0_S - 10_000.0 + 1.0}
