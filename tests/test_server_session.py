"""What the front keeps of a session: numbered messages, the last step, the notable ones
(bounded), acknowledgements."""

from __future__ import annotations

from prism.server.runtime import RuntimeEvent
from prism.server.session import NOTABLE_KEPT, LiveSession


def test_events_are_numbered_after_those_sent_and_kept_until_acknowledged() -> None:
    session = LiveSession("ses-1", "dev", "latte_making")
    first = session.number([RuntimeEvent("step", 1.0, {"current": "a"})])
    second = session.number(
        [RuntimeEvent("reminder", 2.0, {"step": "b"}), RuntimeEvent("step", 2.0, {"current": "b"})]
    )
    assert [m["seq"] for m in first + second] == [1, 2, 3] and session.sent_count == 3
    assert session.last_step == second[1] and list(session.notable) == [second[0]]
    session.acknowledge(2)
    assert session.acked == 2 and session.unacked == [second[1]]
    session.acknowledge(1)  # acknowledgements never go back
    assert session.acked == 2


def test_the_notable_messages_kept_are_bounded() -> None:
    session = LiveSession("ses-1", "dev", "latte_making")
    session.number(
        [RuntimeEvent("answer", float(t), {"text": "x"}) for t in range(NOTABLE_KEPT + 5)]
    )
    assert len(session.notable) == NOTABLE_KEPT and session.notable[0]["seq"] == 6
