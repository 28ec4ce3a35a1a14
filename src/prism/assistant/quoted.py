"""Answers quoted from the procedure's own text: details, what to do when something goes
wrong, why a step must not be skipped.

"How full should the jug be?" is answered with the sentence of the procedure that says so
(:func:`prism.assistant.retrieval.retrieve`), quoted with its step named: "For pour milk
(jug): pour cold milk into the stainless steel jug up to just below the bottom of the
spout, about a third full, and put the milk back." When the best sentence matches the
question only weakly the answer says so ("I'm not sure, but ..."); the procedure's text
is never paraphrased into something it does not say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from prism.assistant.passages import Passage
from prism.assistant.retrieval import Hit, passage_index, retrieval_words, retrieve
from prism.procedure.model import Procedure

__all__ = [
    "Quote",
    "QuoteConfig",
    "answer_polarity",
    "quote",
    "ranked_hits",
    "sentence_case",
    "spoken_sentence",
]


@dataclass(frozen=True)
class QuoteConfig:
    """How sure a quote must be, and how much of the text to quote.

    Parameters
    ----------
    sure_relevance : float
        Below this relevance (0-1) the answer starts with "I'm not sure, but".
    second_sentence_share : float
        A second sentence of the same step is quoted when it scores at least this share
        of the best one.
    trouble_weight : float
        For "what if ..." questions, sentences that say what to do in a case ("if",
        "until", "get help") weigh this much more.
    amount_weight : float
        For questions after an amount ("how many", "how hot", "what size"), sentences
        holding a number weigh this much more.
    """

    sure_relevance: float = 0.3
    second_sentence_share: float = 0.75
    trouble_weight: float = 1.3
    amount_weight: float = 1.3


@dataclass(frozen=True)
class Quote:
    """A quoted answer.

    Attributes
    ----------
    text : str
    step : str or None
        The step whose sentences are quoted (``None``: the procedure's description).
    relevance : float
        0-1: how well the best sentence matches the question.
    sure : bool
        The best sentence matched the question well.
    sentences : tuple of str
        The procedure's sentences quoted (for the LLM's prompt and its check).
    """

    text: str
    step: str | None
    relevance: float
    sure: bool
    sentences: tuple[str, ...]


_CONDITIONAL = re.compile(
    r"\b(?:if|until|unless|when|instead|help|doctor|medical|stop|stops|do not|don't|never|"
    r"prevent|avoid|reduce|enough|so that|watch|careful)\b",
    re.IGNORECASE,
)


def gives_advice(sentence: str) -> bool:
    """The sentence says what to do in a case ("if", "until", "when", "stop", "do not",
    "to reduce", "watch for")."""
    return _CONDITIONAL.search(sentence) is not None


def sentence_case(text: str) -> str:
    """``text`` with its first letter in upper case."""
    return text[:1].upper() + text[1:]


def spoken_sentence(text: str) -> str:
    """A quoted sentence as part of an answer: a trailing ``;`` or ``,`` becomes a full
    stop, and one is added if missing."""
    text = text.strip().rstrip(";,:")
    return text if text.endswith((".", "!", "?", ")")) else f"{text}."


_NEGATED = re.compile(r"\b(?:do not|don't|never|not|without|no)\s+((?:\w+\s+){0,2}\w+)")
_ASKED_VERB = re.compile(
    r"^(?:(?:so|and|ok|okay|um+|uh+|well|wait|hmm+|but)[ ,]+)*(?:should|can|could|may|do|must|"
    r"shall) (?:i|we) (?:(?:really|still|need to|have to|also|just) )*(\w+)"
)


def answer_polarity(question: str, sentences: tuple[str, ...]) -> bool | None:
    """Yes or no to a yes/no question, as the quoted sentences say it.

    No when a sentence negates a word of the question ("should I scrub the cut?" - "do
    not scrub the wound itself"); yes when the question asks whether to do something and
    a sentence says to do it ("should I tap the jug?" - "Tap the jug on the counter");
    else ``None`` (the sentences do not say).
    """
    asked = set(retrieval_words(question))
    for sentence in sentences:
        for match in _NEGATED.finditer(sentence.lower()):
            negated = retrieval_words(match.group(1))[:1]  # the word negated: "do not scrub"
            if asked & set(negated):
                return False
    verb = _ASKED_VERB.search(question)
    if verb is not None and retrieval_words(verb.group(1)):
        wanted = retrieval_words(verb.group(1))[0]
        if any(wanted in retrieval_words(sentence) for sentence in sentences):
            return True
    return None


def _in_sentence(text: str) -> str:
    """First letter in lower case (unless the first word is an acronym: "USB")."""
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


_AMOUNT_QUESTION = re.compile(
    r"\bhow (?:many|much|long|big|large|small|far|thick|thin|hot|warm|cold|full|deep|high|"
    r"often|wide)\b|\bwhat (?:size|temperature|amount|quantity|setting|power|level)\b|"
    r"\bhow many \w+|\bwhich size\b"
)
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|half|third|quarter|"
    r"a few|twice|high|medium|low)\b",
    re.IGNORECASE,
)


def _reranked(hits: list[Hit], pattern: re.Pattern[str], weight: float) -> list[Hit]:
    """``hits`` with the sentences ``pattern`` finds weighted up by ``weight``, best first."""
    return sorted(
        hits,
        key=lambda hit: hit.score * (weight if pattern.search(hit.passage.text) else 1.0),
        reverse=True,
    )


def _chosen(hits: list[Hit], config: QuoteConfig) -> list[Passage]:
    """The best sentence, and a second one of the same step when it is about as good,
    in the procedure's order."""
    best = hits[0]
    chosen = [best]
    for hit in hits[1:]:
        if (
            hit.passage.step == best.passage.step
            and hit.passage.source != "name"
            and hit.score >= config.second_sentence_share * best.score
        ):
            chosen.append(hit)
            break
    return [hit.passage for hit in sorted(chosen, key=lambda hit: hit.position)]


def ranked_hits(
    question: str,
    procedure: Procedure,
    *,
    preferred: Mapping[str | None, float] | None = None,
    trouble: bool = False,
    config: QuoteConfig | None = None,
    limit: int = 6,
) -> list[Hit]:
    """The best sentences for ``question`` (:func:`~prism.assistant.retrieval.retrieve`),
    re-ranked by what the question asks for: sentences that say what to do in a case for
    ``trouble``, sentences holding a number for an amount ("how many", "how hot")."""
    config = config or QuoteConfig()
    hits = retrieve(question, procedure, preferred=preferred, limit=limit)
    if trouble:
        hits = _reranked(hits, _CONDITIONAL, config.trouble_weight)
    if _AMOUNT_QUESTION.search(question.lower()):
        hits = _reranked(hits, _NUMBER, config.amount_weight)
    return hits


def quote(
    question: str,
    procedure: Procedure,
    *,
    preferred: Mapping[str | None, float] | None = None,
    trouble: bool = False,
    config: QuoteConfig | None = None,
) -> Quote | None:
    """The procedure's sentence(s) that answer ``question``, as an answer.

    Parameters
    ----------
    question : str
    procedure : Procedure
    preferred : mapping of step id (or None) to weight, optional
        Step weights for retrieval (:func:`~prism.assistant.retrieval.retrieve`).
    trouble : bool
        Something went wrong: prefer sentences that say what to do in a case.
    config : QuoteConfig, optional

    Returns
    -------
    Quote or None
        ``None`` when no sentence shares a word with the question.
    """
    config = config or QuoteConfig()
    hits = ranked_hits(question, procedure, preferred=preferred, trouble=trouble, config=config)
    if not hits:
        return None
    chosen = _chosen(hits, config)
    sure = hits[0].relevance >= config.sure_relevance
    step = chosen[0].step
    said = [p for p in chosen if p.source != "name"]
    if not said and step is not None:  # a step's name alone says nothing: its text
        own = passage_index(procedure).passages
        said = [p for p in own if p.step == step and p.source != "name"] or chosen
    body = " ".join(sentence_case(spoken_sentence(p.text)) for p in said)
    if step is not None and not _names_step(body, procedure.step(step).name):
        body = f"for {procedure.step(step).name_in_sentence}: {_in_sentence(body)}"
    text = ("I'm not sure, but " + _in_sentence(body)) if not sure else sentence_case(body)
    return Quote(text, step, hits[0].relevance, sure, tuple(p.text for p in said))


def _names_step(body: str, name: str) -> bool:
    """The quoted text already holds the step's name (recipes: the name is the text)."""
    return name.lower().rstrip(".") in body.lower()
