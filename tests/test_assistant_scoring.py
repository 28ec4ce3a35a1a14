"""Scoring answers against references: quantities, polarity, the steps named."""

from __future__ import annotations

import pytest

from assistant_states import LATTE
from prism.assistant.scoring import polarity, quantities, score_answer


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [
        (None, None, True),
        ("Next: steam milk.", None, False),
        (None, "Next is steam milk.", False),
        ("Next: steam milk.", "Next, steam the milk.", True),
        ("Next: purge wand.", "Next, steam the milk.", False),
        ("Next: steam milk or purge wand.", "Next, steam the milk.", False),
        ("Yes, you already did grind beans.", "Yes, you ground the beans.", True),
        ("No, you have not done grind beans yet.", "Yes, you ground the beans.", False),
        ("Steam milk takes about 45 seconds.", "About 40 seconds.", True),
        ("Steam milk takes about 3 minutes.", "About 40 seconds.", False),
        ("4 steps left after this one.", "4 steps left.", True),
        ("5 steps left after this one.", "4 steps left.", False),
    ],
)
def test_scoring_rules(answer: str | None, expected: str | None, correct: bool) -> None:
    question = "how long do I steam the milk?"
    assert score_answer(answer, expected, LATTE, question=question).correct is correct


def test_quantities_and_polarity() -> None:
    assert quantities("about 3 minutes and 20 s") == [(180.0, True), (20.0, True)]
    assert quantities("add 1/6 cup") == []
    assert polarity("Yes, done") is True and polarity("Not yet") is False
    assert polarity("Next is X") is None
