"""Question understanding: what an utterance asks and which step it names."""

from __future__ import annotations

import pytest

from assistant_states import LATTE
from prism.assistant import IntentKind, understand
from prism.assistant.embedding import packaged_model_files
from prism.assistant.intent_examples import EXAMPLES, similar_intent


@pytest.mark.parametrize(
    ("utterance", "kind", "step"),
    [
        ("what's next?", IntentKind.NEXT, None),
        ("ok what do I do after this", IntentKind.NEXT, None),
        ("next step please", IntentKind.NEXT, None),
        ("where am I", IntentKind.CURRENT, None),
        ("which step am I on?", IntentKind.CURRENT, None),
        ("did I already grind the beans?", IntentKind.DID_I, "grind_beans"),
        ("have I frothed the milk yet", IntentKind.DID_I, "steam_milk"),
        ("did I forget to purge the wand?", IntentKind.DID_I, "purge_wand"),
        ("what did I just do", IntentKind.JUST_FINISHED, None),
        ("did I forget anything?", IntentKind.MISSED, None),
        ("how many more steps", IntentKind.STEPS_LEFT, None),
        ("am I almost done", IntentKind.STEPS_LEFT, None),
        ("how long until I'm finished", IntentKind.TIME_LEFT, None),
        ("how long do I steam the milk?", IntentKind.STEP_DURATION, "steam_milk"),
        ("how do I attach the filter", IntentKind.HOW_TO, "attach_filter"),
        ("why do I need to purge the wand", IntentKind.PURPOSE, "purge_wand"),
        ("I already poured the milk", IntentKind.CORRECT_DONE, None),  # jug or cup: asked
        ("I'm steaming the milk now", IntentKind.CORRECT_AT, "steam_milk"),
        ("I haven't ground the beans yet", IntentKind.CORRECT_NOT_DONE, "grind_beans"),
        ("what's left to do?", IntentKind.REMAINING, None),
        ("what do I need to do now", IntentKind.NEXT, None),
        ("what step is after place cup", IntentKind.NEXT, "place_cup"),
        ("have I finished grinding", IntentKind.DID_I, "grind_beans"),
        ("what have I done so far", IntentKind.HISTORY, None),
        ("sorry, can you repeat that", IntentKind.REPEAT, None),
        ("which step did I finish last?", IntentKind.JUST_FINISHED, None),
        ("what did I do before this", IntentKind.JUST_FINISHED, None),
        ("how many steps are behind me?", IntentKind.STEPS_DONE, None),
        ("how many have I got through", IntentKind.STEPS_DONE, None),
        ("can you list what I've done", IntentKind.HISTORY, None),
        ("what else do I still have to do", IntentKind.REMAINING, None),
        ("is there anything I left out?", IntentKind.MISSED, None),
        ("can I leave out purging the wand?", IntentKind.SKIP, "purge_wand"),
        ("is it ok to not grind the beans", IntentKind.SKIP, "grind_beans"),
        ("do I really have to wipe the wand", IntentKind.SKIP, None),
        ("what comes before steaming the milk", IntentKind.BEFORE, "steam_milk"),
        ("what's the very first step", IntentKind.FIRST, None),
        ("what's the final step", IntentKind.LAST, None),
        ("do I brew the coffee or steam the milk first?", IntentKind.WHICH_FIRST, None),
        ("what if the milk keeps spitting?", IntentKind.TROUBLE, None),
        ("the jug is getting really hot", IntentKind.TROUBLE, None),
        ("how full should the jug be?", IntentKind.OTHER, None),
        ("who won the game last night?", IntentKind.OUT_OF_SCOPE, None),
        ("can you set a timer for five minutes", IntentKind.OUT_OF_SCOPE, None),
        ("how many steps does this recipe have", IntentKind.STEPS_TOTAL, None),
        ("what's step three", IntentKind.STEP_NUMBER, None),
        ("am I allowed to skip the fridge step", IntentKind.SKIP, "use_fridge"),
        ("which steps are still ahead of me", IntentKind.REMAINING, None),
        ("there are big gaps in the foam", IntentKind.TROUBLE, None),
        ("remind me to call my mom tomorrow", IntentKind.OUT_OF_SCOPE, None),
        ("ouch, this is hot", IntentKind.NONE, None),
        ("honey can you pass the salt", IntentKind.NONE, None),
        ("where did I put the spoon", IntentKind.NONE, None),
        ("hmm ok", IntentKind.NONE, None),
        ("...", IntentKind.NONE, None),
    ],
)
def test_understanding(utterance: str, kind: IntentKind, step: str | None) -> None:
    intent = understand(utterance, LATTE)
    assert intent.kind == kind
    if step is not None:
        assert intent.step == step


needs_embedder = pytest.mark.skipif(
    packaged_model_files() is None, reason="the packaged sentence embedder is not installed"
)


@needs_embedder
@pytest.mark.parametrize(
    ("utterance", "kind"),
    [
        ("tell me everything I've completed", IntentKind.HISTORY),
        ("how many more are there to get through", IntentKind.STEPS_LEFT),
        ("run down the list of what's still ahead", IntentKind.REMAINING),
        ("what's my progress in steps", IntentKind.STEPS_DONE),
    ],
)
def test_phrasings_the_rules_miss_take_the_kind_of_similar_examples(
    utterance: str, kind: IntentKind
) -> None:
    """None of these is an example or fits a rule: the nearest examples decide."""
    assert all(utterance not in texts for texts in EXAMPLES.values())
    assert understand(utterance, LATTE).kind == kind


@pytest.mark.parametrize(
    ("utterance", "kind"),
    [
        ("could you buy some milk for me", IntentKind.OUT_OF_SCOPE),
        ("hey, can you order more beans online", IntentKind.OUT_OF_SCOPE),
        ("how do you say milk in French", IntentKind.OUT_OF_SCOPE),
        ("can you play the radio", IntentKind.OUT_OF_SCOPE),
        ("can you tell me the next step", IntentKind.NEXT),
        ("can you repeat that", IntentKind.REPEAT),
    ],
)
def test_errands_for_a_general_assistant_are_declined(utterance: str, kind: IntentKind) -> None:
    assert understand(utterance, LATTE).kind == kind


@needs_embedder
def test_the_examples_vote_for_their_own_kinds_and_detail_questions_stay_with_the_text() -> None:
    votes = [(kind, similar_intent(text)) for kind, texts in EXAMPLES.items() for text in texts]
    own = [found for kind, found in votes if found is not None and found.kind == kind]
    assert len(own) >= 0.9 * len(votes)  # the kinds are told apart
    assert all(found.similarity == pytest.approx(1.0, abs=1e-4) for found in own)
    assert all(0.0 < found.share <= 1.0 for _, found in votes if found is not None)
    assert similar_intent("") is None
    # a detail question about the task keeps the kind the rules give it
    assert understand("how full should the jug be", LATTE).kind == IntentKind.OTHER
