"""The watch protocol, version 1: binary sensor frames and JSON control messages.

Shared by the service (:mod:`prism.server`) and the watch clients (:mod:`prism.watch`);
pure encode/decode and validation, no I/O and nothing of the server. The specification
is ``watch_bridge/PROTOCOL.md``; every rule there that concerns a single message or the
order of messages is enforced here, and every violation raises :class:`ProtocolError`
with the documented code, never anything else.

- :mod:`~prism.protocol.errors`: the error codes and :class:`ProtocolError`.
- :mod:`~prism.protocol.frames`: binary frames (header, kinds, sample limits, codec).
- :mod:`~prism.protocol.messages`: JSON control messages (schema, parser).
- :mod:`~prism.protocol.order`: sequence numbers and the sensor streams' clock.
"""

from prism.protocol.errors import ErrorCode, ProtocolError
from prism.protocol.frames import (
    AUDIO_RATE_HZ,
    AUDIO_RATES_HZ,
    HEADER,
    MAGIC,
    MAX_SAMPLES,
    PRIVACY_AUDIO_RATE_HZ,
    PROTOCOL_VERSION,
    FrameKind,
    SensorFrame,
    decode_frame,
    encode_frame,
)
from prism.protocol.messages import (
    MAX_NESTING,
    MAX_TEXT_BYTES,
    Ack,
    ControlMessage,
    CorrectionMessage,
    End,
    Hello,
    Mark,
    Question,
    ReminderAction,
    nesting_depth,
    parse_control,
)
from prism.protocol.order import (
    MAX_LEAD_S,
    MAX_T0_S,
    TIME_TOLERANCE_S,
    SequenceChecker,
    StreamClock,
)

__all__ = [
    "AUDIO_RATES_HZ",
    "AUDIO_RATE_HZ",
    "HEADER",
    "MAGIC",
    "MAX_LEAD_S",
    "MAX_NESTING",
    "MAX_SAMPLES",
    "MAX_T0_S",
    "MAX_TEXT_BYTES",
    "PRIVACY_AUDIO_RATE_HZ",
    "PROTOCOL_VERSION",
    "TIME_TOLERANCE_S",
    "Ack",
    "ControlMessage",
    "CorrectionMessage",
    "End",
    "ErrorCode",
    "FrameKind",
    "Hello",
    "Mark",
    "ProtocolError",
    "Question",
    "ReminderAction",
    "SensorFrame",
    "SequenceChecker",
    "StreamClock",
    "decode_frame",
    "encode_frame",
    "nesting_depth",
    "parse_control",
]
