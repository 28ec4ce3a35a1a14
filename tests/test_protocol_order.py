"""The order of watch protocol v1 messages: sequence numbers and the streams' clock."""

from __future__ import annotations

import numpy as np
import pytest

from prism.protocol import (
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
