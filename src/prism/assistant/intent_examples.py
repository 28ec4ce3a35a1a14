"""Questions that mean the same as known examples: intents by sentence similarity.

The rules of :mod:`prism.assistant.intents` know the usual phrasings; people find others
("which steps are behind me?", "tell me the rest"). :func:`similar_intent` compares an
utterance with a few hundred example questions, written here by kind in plain words and
naming no procedure, with the packaged sentence embedder
(:mod:`prism.assistant.embedding`): the ``k`` most similar examples vote, weighted by
their cosine similarity. Examples of detail questions (answered from the procedure's
text) and of problems are there too, so that a question of those kinds is not pulled
towards the nearest state question.

The examples are kept as data in code (not a file) so they ship, type-check and are
read once with the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from prism.assistant.embedding import SentenceEmbedder, default_embedder

__all__ = ["EXAMPLES", "SimilarIntent", "similar_intent"]

EXAMPLES: dict[str, tuple[str, ...]] = {
    "current": (
        "what am I doing at the moment",
        "which part of the task am I in",
        "what stage is this",
        "what's going on right now",
        "tell me where I'm up to",
        "what is this step called",
        "remind me what I'm busy with",
        "what am I in the middle of",
    ),
    "next": (
        "what do I do after this one",
        "what's coming up",
        "what should I move on to",
        "what happens after this",
        "what's my next move",
        "which step follows this one",
        "once I'm done here what then",
        "what is the step that comes after",
        "and after that one",
        "what follows",
    ),
    "just_finished": (
        "what did I do a moment ago",
        "which step did I just wrap up",
        "what was the step before this one",
        "what was I doing a minute ago",
        "which one did I just complete",
        "what came right before this",
    ),
    "history": (
        "which steps have I completed",
        "what have I done up to now",
        "list what I've finished",
        "which steps are already finished",
        "run me through what I've done",
        "what have I got done so far",
        "which ones are behind me",
        "which steps did I already do",
        "recap everything I've done",
        "what's been done already",
        "tell me the steps I have done",
        "go over what I did",
    ),
    "steps_done": (
        "how many steps have I done",
        "how many have I finished so far",
        "count the steps I completed",
        "how many are done already",
        "what's the number of steps I've completed",
        "how many did I get through",
    ),
    "remaining": (
        "which steps are left",
        "what's still to do",
        "tell me what remains",
        "what else is there to do",
        "list the rest of the steps",
        "what do I still need to do",
        "what steps are still ahead",
        "read me the remaining steps",
        "what is left for me to do",
        "what comes after this, all of it",
        "give me the rest",
    ),
    "steps_left": (
        "how many steps are left",
        "how many more to go",
        "how many remain",
        "how many still to do",
        "am I nearly finished",
        "how close am I to the end",
        "how much is left to do",
        "how many steps until I'm done",
        "how far along am I",
        "how many are still ahead",
    ),
    "time_left": (
        "how much longer will this take",
        "how long until I'm finished",
        "how much time is left",
        "when will I be done",
        "how many minutes to go",
        "how long is the rest going to take",
    ),
    "missed": (
        "did I forget anything",
        "have I skipped any steps",
        "is there something I missed",
        "did I leave anything out",
        "have I overlooked a step",
        "anything I haven't done that I should have",
        "check that I didn't miss a step",
    ),
    "first": (
        "what do I begin with",
        "what's the very first step",
        "how does it start",
        "what comes first",
    ),
    "last": (
        "what's the final step",
        "how does it finish",
        "what is the last thing I do",
        "what's the step at the very end",
    ),
    "all_steps": (
        "what are all the steps",
        "give me the whole list of steps",
        "walk me through the entire procedure",
        "what does the whole task involve",
        "read out every step",
    ),
    "out_of_scope": (
        "what's the weather tomorrow",
        "who won the match yesterday",
        "play some music",
        "can you order something for me online",
        "buy more of this for me",
        "call my sister",
        "what's the capital of France",
        "tell me a joke",
        "how do you say hello in Spanish",
        "what time is it in Tokyo",
        "send a message to my friend",
        "what's on TV tonight",
        "can you book me a table at a restaurant",
        "how many calories do I burn walking",
        "what's the news today",
        "turn on the lights",
    ),
    "other": (
        "how full should it be",
        "what temperature should it reach",
        "how long do I keep doing this",
        "which button do I press",
        "where does it go",
        "how much should I put in",
        "what size should it be",
        "how hard do I press",
        "what do I use for this",
        "which way do I turn it",
        "how do I know when it's ready",
        "what setting should I use",
        "how thick should it be",
        "how do I hold it",
        "what should it look like when done",
        "when do I stop",
        "is it supposed to be this colour",
        "what goes in with it",
        "should it be bigger than that",
        "how deep should it go",
        "what do I put it on",
        "can I use a different one",
        "how do I do this step",
        "why do I do this",
        "can I skip this",
        "is this step optional",
        "what's this step for",
    ),
    "trouble": (
        "it's not working",
        "something went wrong",
        "it keeps happening again",
        "it looks wrong",
        "it's too thin and watery",
        "it won't come off",
        "it's burning",
        "it's still not right",
        "this doesn't look like it should",
        "I think I messed it up",
        "what do I do if it goes wrong",
        "it's getting too hot",
    ),
}
"""Example utterances by :class:`~prism.assistant.intents.IntentKind` value; ``other``
and ``trouble`` are there to be told apart from the rest, not to be chosen."""


@dataclass(frozen=True)
class SimilarIntent:
    """The kind the nearest examples vote for.

    Parameters
    ----------
    kind : str
        An :class:`~prism.assistant.intents.IntentKind` value (a key of :data:`EXAMPLES`).
    similarity : float
        Cosine similarity (-1 to 1) of the most similar example of that kind.
    share : float
        The kind's share (0-1) of the similarity-weighted vote of the ``k`` nearest.
    """

    kind: str
    similarity: float
    share: float


class _ExampleIndex:
    """Unit vectors of every example, and their kinds."""

    def __init__(self, embedder: SentenceEmbedder) -> None:
        self.embedder = embedder
        self.kinds = [kind for kind, texts in EXAMPLES.items() for _ in texts]
        self.vectors = embedder.embed([text for texts in EXAMPLES.values() for text in texts])


@lru_cache(maxsize=1)
def _index() -> _ExampleIndex | None:
    embedder = default_embedder()
    return None if embedder is None else _ExampleIndex(embedder)


def similar_intent(utterance: str, *, k: int = 5) -> SimilarIntent | None:
    """The kind of the examples most similar to ``utterance`` (``None`` without the
    packaged embedder, or for an empty utterance).

    Parameters
    ----------
    utterance : str
        What was said, normalised or not.
    k : int
        How many nearest examples vote (>= 1).
    """
    index = _index()
    if index is None or not utterance.strip():
        return None
    cosine = index.vectors @ index.embedder.embed_one(utterance)
    nearest = np.argsort(-cosine, kind="stable")[:k]
    votes: dict[str, float] = {}
    for i in nearest:
        votes[index.kinds[i]] = votes.get(index.kinds[i], 0.0) + max(float(cosine[i]), 0.0)
    kind = max(votes, key=votes.__getitem__)
    best = max(float(cosine[i]) for i in nearest if index.kinds[i] == kind)
    total = sum(votes.values())
    return SimilarIntent(kind, best, votes[kind] / total if total > 0 else 0.0)
