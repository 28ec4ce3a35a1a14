"""Facts about the state: the next steps, the missed steps, the remaining path."""

from __future__ import annotations

from assistant_states import DONE, LATTE
from prism.assistant.facts import missed_steps, next_steps, remaining_path


def test_next_skips_done_steps_and_follows_the_graph() -> None:
    following = next_steps(LATTE, list(DONE), "use_fridge")
    assert following.steps == tuple(
        s
        for s, p in LATTE.transitions["use_fridge"].items()
        if p >= 0.15 and s not in DONE and s != "end"
    )
    assert not following.may_end


def test_missed_steps_need_a_later_step_done() -> None:
    assert missed_steps(LATTE, ["attach_filter", "move_filter"], "place_cup") == []
    skipped = missed_steps(LATTE, ["attach_filter", "move_filter", "place_cup"], "remove_cup")
    assert skipped == ["brew_coffee"]  # the required step (must_not_skip) passed


def test_remaining_path_ends_and_never_repeats() -> None:
    path = remaining_path(LATTE, list(DONE), "use_fridge")
    assert len(path) == len(set(path))
    assert not set(path) & {*DONE, "use_fridge"}
