"""A small word language model of what users say to the assistant, to choose among
the recognizer's best hypotheses.

Whisper's beam search keeps its ``n`` best hypotheses; on noisy synthesized questions
the right words are often among them but not first ("How shall I clean it?" ahead of
"How should I clean it?", "the marks" ahead of "the box"). :func:`rescore` ranks them by
Whisper's own score plus ``weight`` times the mean log probability per word under a
bigram model (:class:`BigramModel`) of the sentences users say to a task assistant:
:data:`QUESTION_PATTERNS`, one pattern per line with ``{step}`` filled in with each of
the procedure's step names, and questions in people's own words
(:mod:`~prism.speech.free_phrasing`) (:func:`task_sentences`). Unseen words keep a probability
(an assumed open vocabulary), so anything can still be recognized; the model only
tips close calls.

Examples
--------
>>> model = question_model(("Steam milk", "Pour milk"))
>>> model.mean_log_prob(["did", "i", "steam", "milk"]) > model.mean_log_prob(
...     ["did", "i", "steam", "mill"])
True
>>> rescore([("Did I steam the mill?", -0.30), ("Did I steam the milk?", -0.32)], model)
1
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from prism.speech.audio import SpeechInputError
from prism.speech.free_phrasing import free_questions, step_things
from prism.text import spoken_words

__all__ = [
    "QUESTION_PATTERNS",
    "RESCORE_WEIGHT",
    "BigramModel",
    "question_model",
    "rescore",
    "task_sentences",
]

QUESTION_PATTERNS = (
    # where am I
    "what step am I on",
    "what step is this",
    "which step am I on",
    "what am I doing now",
    "what am I supposed to be doing",
    "where am I up to",
    "what is the current step",
    "am I {step}",
    # what next
    "what's next",
    "what's the next step",
    "what do I do next",
    "what should I do next",
    "what comes next",
    "what comes after this",
    "what do I do after this",
    "and then what",
    "then what",
    "what now",
    "okay what now",
    "what do I do after {step}",
    "what comes after {step}",
    # done or not
    "did I {step}",
    "did I {step} yet",
    "did I already {step}",
    "have I {step} yet",
    "have I done {step}",
    "have I done {step} yet",
    "did I do {step}",
    "is {step} done",
    "am I done with {step}",
    # just finished
    "what did I just finish",
    "what did I just do",
    "what was the last step",
    "what was the last thing I did",
    # missed
    "did I miss a step",
    "did I miss anything",
    "did I skip a step",
    "did I skip something",
    "did I forget anything",
    "have I missed any steps",
    "have I missed anything",
    "is there anything I forgot",
    "anything I missed",
    "anything I forgot",
    # how many left
    "how many steps are left",
    "how many steps to go",
    "how many more steps",
    "am I almost done",
    "am I nearly done",
    "am I close to done",
    "am I close to finishing",
    "how much is left",
    "how far along am I",
    # time
    "how long is left",
    "how much longer",
    "how much longer is this going to take",
    "how long until I'm done",
    "how long until I'm finished",
    "when will I be done",
    "when will this be done",
    "how long does {step} take",
    "how long should I {step}",
    "how long do I {step}",
    "how long is {step}",
    "when do I {step}",
    # how to
    "how do I {step}",
    "how should I {step}",
    "how do I do this",
    "what's the best way to {step}",
    "how much do I need",
    # what for
    "why do I {step}",
    "why do I need to {step}",
    "why do I have to {step}",
    "what is {step} for",
    "what's the point of {step}",
    "what is this step for",
    # telling the assistant
    "I already did {step}",
    "I'm doing {step} now",
    "I haven't done {step} yet",
    "I skipped {step}",
    "I did that",
    # not for the assistant
    "okay",
    "hmm",
    "yes",
    "no",
    "thanks",
    "thank you",
    "wait",
    "oops",
    "ouch",
    "that's hot",
    "hold on",
    "where is it",
    "where did I put it",
    "can you pass me that",
)
"""Sentence patterns users say to a task assistant, one per question type the assistant
answers (``docs/assistant.md``), statements it turns into corrections and a few
remarks not meant for it; ``{step}`` stands for a step name. Written from the question
types, not from any evaluation set."""

RESCORE_WEIGHT = 0.2
"""Default weight of the language model's mean log probability per word against
Whisper's mean log probability per token (see ``docs/speech.md`` for how it was chosen)."""

_DISCOUNT = 0.7  # absolute discount of seen bigrams (their mass goes to the unigram)
_ADDED_COUNT = 0.1  # pseudo-count of every word, seen or not
_UNSEEN_WORDS = 10_000  # words outside the sentences the open vocabulary allows for
_START, _END = "<s>", "</s>"


@dataclass(frozen=True)
class BigramModel:
    """Word bigram model with absolute discounting, backed off to a smoothed unigram.

    Build it with :meth:`fit`. ``P(b | a) = max(c(a, b) - D, 0) / c(a) + D * k(a) / c(a)
    * P(b)``, with ``k(a)`` the number of distinct words after ``a``; ``P(b) = (c(b) +
    0.1) / (N + 0.1 * (V + 10000))`` keeps unseen words possible.
    """

    unigrams: Counter[str] = field(default_factory=Counter)
    bigrams: dict[str, Counter[str]] = field(default_factory=dict)
    discount: float = _DISCOUNT

    @classmethod
    def fit(cls, sentences: Iterable[Sequence[str]], discount: float = _DISCOUNT) -> BigramModel:
        """Count the words and word pairs of ``sentences`` (lists of words)."""
        unigrams: Counter[str] = Counter()
        bigrams: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for sentence in sentences:
            words = [_START, *sentence, _END]
            unigrams.update(words[1:])
            for first, second in itertools.pairwise(words):
                bigrams[first][second] += 1
        return cls(unigrams=unigrams, bigrams=dict(bigrams), discount=discount)

    @cached_property
    def _unigram_denominator(self) -> float:
        size = len(self.unigrams) + _UNSEEN_WORDS
        return sum(self.unigrams.values()) + _ADDED_COUNT * size

    def _unigram(self, word: str) -> float:
        return (self.unigrams.get(word, 0) + _ADDED_COUNT) / self._unigram_denominator

    def probability(self, previous: str, word: str) -> float:
        """``P(word | previous)`` (``previous`` may be ``"<s>"``, ``word`` ``"</s>"``)."""
        following = self.bigrams.get(previous)
        if not following:
            return self._unigram(word)
        count = sum(following.values())
        seen = max(following.get(word, 0) - self.discount, 0.0) / count
        return seen + self.discount * len(following) / count * self._unigram(word)

    def mean_log_prob(self, words: Sequence[str]) -> float:
        """Mean natural-log probability per word of a sentence, its end included."""
        padded = [_START, *words, _END]
        pairs = list(itertools.pairwise(padded))
        return sum(math.log(self.probability(a, b)) for a, b in pairs) / len(pairs)


def task_sentences(vocabulary: Sequence[str]) -> list[list[str]]:
    """The words of every pattern, ``{step}`` filled with each name in ``vocabulary``
    (patterns with ``{step}`` are left out when it is empty), of each name alone, and of
    the questions people ask in their own words about the things the names speak of
    (:func:`~prism.speech.free_phrasing.free_questions`); names that read the same
    ("Steam milk", "steam milk") count once."""
    spoken = dict.fromkeys(tuple(spoken_words(name)) for name in vocabulary)
    names = [list(name) for name in spoken if name]
    sentences: list[list[str]] = []
    for pattern in QUESTION_PATTERNS:
        if "{step}" in pattern:
            sentences += [spoken_words(pattern.replace("{step}", " ".join(n))) for n in names]
        else:
            sentences.append(spoken_words(pattern))
    things = [thing for name in vocabulary for thing in step_things(name)]
    free = [spoken_words(sentence) for sentence in free_questions(things=things)]
    return sentences + names + [words for words in free if words]


@lru_cache(maxsize=64)
def question_model(vocabulary: tuple[str, ...]) -> BigramModel:
    """:class:`BigramModel` of :func:`task_sentences` (cached per vocabulary)."""
    return BigramModel.fit(task_sentences(vocabulary))


def rescore(
    hypotheses: Sequence[tuple[str, float]], model: BigramModel, weight: float = RESCORE_WEIGHT
) -> int:
    """Index of the best hypothesis by ``score + weight * model.mean_log_prob(words)``.

    Parameters
    ----------
    hypotheses : sequence of (text, score)
        Recognizer hypotheses with their mean log probability per token, best first.
    model : BigramModel
    weight : float
        >= 0; 0 ranks by the recognizer's scores alone. Ties keep the earlier one.

    Raises
    ------
    SpeechInputError
        If there is no hypothesis.
    """
    if not hypotheses:
        raise SpeechInputError("rescore needs at least one hypothesis")
    totals = [
        score + weight * model.mean_log_prob(spoken_words(text)) for text, score in hypotheses
    ]
    return max(range(len(totals)), key=lambda i: (totals[i], -i))
