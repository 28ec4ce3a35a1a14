"""What the front keeps of a session: numbered messages, the last step, the notable ones
(bounded), acknowledgements."""

from __future__ import annotations

from prism.server.runtime import RuntimeEvent
from prism.server.session import NOTABLE_KEPT, LiveSession, error_messages


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


def test_error_events_are_not_numbered_or_kept() -> None:
    session = LiveSession("ses-1", "dev", "latte_making")
    problem = {"code": 4006, "message": "no such reminder", "ref_seq": 3}
    events = [RuntimeEvent("error", 1.0, problem), RuntimeEvent("step", 1.0, {"current": "a"})]
    numbered = session.number(events)
    assert [(m["type"], m["seq"]) for m in numbered] == [("step", 1)] and session.sent_count == 1
    assert session.unacked == numbered
    assert error_messages(events) == [
        {
            "type": "error",
            "seq": 0,
            "code": 4006,
            "message": "message 3: no such reminder",
            "ref_seq": None,
        }
    ]


def test_the_ids_of_reminders_sent_are_kept() -> None:
    session = LiveSession("ses-1", "dev", "latte_making")
    session.keep([{"type": "reminder", "seq": 1, "reminder_id": 2}, {"type": "step", "seq": 2}])
    session.number([RuntimeEvent("reminder", 3.0, {"reminder_id": 5, "step": "b"})])
    assert session.reminder_ids == {2, 5}
    session.acknowledge(3)
    assert session.reminder_ids == {2, 5}  # acknowledged reminders can still be answered


def test_unacknowledged_messages_kept_are_bounded() -> None:
    session = LiveSession("ses-1", "dev", "latte_making", max_unacked=3)
    for t in range(10):
        session.number([RuntimeEvent("step", float(t), {"current": None})])
    assert [m["seq"] for m in session.unacked] == [8, 9, 10] and session.sent_count == 10
