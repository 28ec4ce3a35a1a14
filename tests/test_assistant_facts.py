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


def test_steps_done_and_last_finished_follow_the_done_order() -> None:
    from prism.assistant.facts import last_finished, steps_done

    assert steps_done(["picking", "close_box", "picking"]) == ["picking", "close_box"]
    assert last_finished(list(DONE)) == "brew_coffee" and last_finished([]) is None


def test_step_before_follows_the_usual_path() -> None:
    from prism.assistant.facts import first_steps, last_step, prerequisites, step_before

    assert step_before(LATTE, "steam_milk") == "pour_milk_jug"
    assert step_before(LATTE, "attach_filter") is None  # it usually comes first
    assert prerequisites(LATTE, "brew_coffee") == ["grind_beans", "move_filter", "place_cup"]
    assert first_steps(LATTE) == ("attach_filter", "use_fridge")
    assert last_step(LATTE) == "wash_filter"


def test_a_step_may_be_skipped_unless_required_or_needed_by_a_required_one() -> None:
    from prism.assistant.facts import skip_advice

    purge = skip_advice(LATTE, "purge_wand")
    assert not purge.may_skip and purge.reason is not None and "dry" in purge.reason
    grind = skip_advice(LATTE, "grind_beans")
    assert not grind.may_skip and grind.needed_by == "brew_coffee"
    assert skip_advice(LATTE, "adjust_grind").may_skip
