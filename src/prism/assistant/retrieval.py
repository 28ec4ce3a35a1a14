"""Which sentences of the procedure answer a question: retrieval with the state.

The procedure's sentences (:mod:`prism.assistant.passages`) are indexed with Okapi BM25
(``rank_bm25``) over folded word stems (:func:`prism.assistant.mentions.fold`: "frothing"
finds "steam", "bandage" finds "dressing"); each sentence is indexed together with its
step's name, so "how full should the jug be?" finds the jug step's sentence about how full.
Scores are normalised to 0-1 (the share of the question's weight a sentence can match)
so that a weak match can be told apart from a good one. When the packaged sentence
embedder is installed (:mod:`prism.assistant.embedding`), its cosine similarity is mixed
in (``SEMANTIC_WEIGHT``) for words the text does not share ("shiny" for "glossy").

:func:`retrieve` then prefers, among sentences that score about as well, those of the
steps the state makes likely: the step named in the question, the current step, the next
steps (measured in ``docs/assistant.md``).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from rank_bm25 import BM25Okapi

from prism.assistant.embedding import SentenceEmbedder, default_embedder
from prism.assistant.mentions import WORD, fold
from prism.assistant.passages import Passage, procedure_passages
from prism.errors import SettingsError
from prism.procedure.model import Procedure

__all__ = [
    "COSINE_RANGE",
    "SEMANTIC_WEIGHT",
    "Hit",
    "PassageIndex",
    "passage_index",
    "retrieval_words",
    "retrieve",
    "set_retrieval_mode",
]

_FUNCTION_WORDS = frozenset(
    """a an the and or of to in on into onto for with from at by it its is are was were be
    been being am do does did done doing i im me my mine you your we our us they them their
    this that these those there here then than so if as up out off over about yet get got
    getting just still now already again also too very really quite kind sort please ok okay
    um uh hmm oh ah ow ouch ugh oops whoa wow yikes argh
    what which who whom whose when where why how should could would can may might must
    shall will need needs want let lets tell know say said thing things something anything
    step steps one some any all each every much many more most bit use""".split()  # noqa: SIM905 (a word list reads better as text)
)
"""Words that carry no content for retrieval (question words, pronouns, fillers). Unlike
:mod:`prism.assistant.mentions` it keeps numbers, units and sizes: details are asked
about in those words ("how many minutes", "what size")."""

SEMANTIC_WEIGHT = 0.3
"""Share of the embedding similarity in the relevance (measured: 0.3 and 0.5 did about
as well on the free-form questions; 1.0, embeddings alone, worse than BM25 alone)."""
COSINE_RANGE = (0.15, 0.65)
"""Cosine similarities mapped to relevance 0 and 1 (MiniLM's unrelated sentences sit
near 0.1, paraphrases above 0.6)."""

_BM25_K1 = 1.2
_BM25_B = 0.5
"""BM25 settings: ``b`` below the usual 0.75 because sentences are short and alike in
length (a long sentence is not padded, it says more)."""


def retrieval_words(text: str) -> list[str]:
    """The content words of ``text``, folded (stems, synonyms), in order.

    >>> retrieval_words("How full should the jug be?")
    ['full', 'jug']
    """
    text = re.sub(r"'s\b", "", text.lower())  # "the milk's swirling": milk
    return [fold(t) for t in WORD.findall(text) if t not in _FUNCTION_WORDS]


@dataclass(frozen=True)
class Hit:
    """A retrieved sentence.

    Attributes
    ----------
    passage : Passage
    position : int
        The sentence's place in the procedure's text (:attr:`PassageIndex.passages`).
    relevance : float
        0-1: how well the sentence matches the question alone.
    score : float
        ``relevance`` weighted by how likely the state makes the sentence's step.
    """

    passage: Passage
    position: int
    relevance: float
    score: float


class PassageIndex:
    """BM25 over a procedure's sentences, combined with sentence embeddings when given.

    Parameters
    ----------
    procedure : Procedure
    embedder : SentenceEmbedder, optional
        Adds semantic similarity: "shiny" finds "glossy", "how big" finds "large".
        ``None``: lexical only.
    semantic_weight : float
        The embedding similarity's share of the relevance (0-1; 1: embeddings alone).
    """

    def __init__(
        self,
        procedure: Procedure,
        *,
        embedder: SentenceEmbedder | None = None,
        semantic_weight: float = SEMANTIC_WEIGHT,
    ) -> None:
        if not 0.0 <= semantic_weight <= 1.0:
            raise SettingsError(f"semantic_weight must be in [0, 1], got {semantic_weight}")
        self.procedure = procedure
        self.semantic_weight = semantic_weight
        self.passages: tuple[Passage, ...] = procedure_passages(procedure)
        names = {step.id: step.name for step in procedure.steps}
        # the procedure's own name (the dish, the task) says nothing about which of its
        # sentences is meant, so its description is indexed without it
        title = set(retrieval_words(procedure.name))
        documents = [
            retrieval_words(f"{p.text} {names[p.step]}")
            if p.step is not None
            else [w for w in retrieval_words(p.text) if w not in title]
            for p in self.passages
        ]
        self._bm25 = BM25Okapi(documents, k1=_BM25_K1, b=_BM25_B)
        # words of the task, the procedure's name included
        self._vocabulary = frozenset(w for document in documents for w in document) | title
        self._max_idf = max(self._bm25.idf.values(), default=1.0)
        self._embedder = embedder
        self._vectors = (
            embedder.embed(
                [
                    f"{names[p.step]}: {p.text}" if p.step is not None else p.text
                    for p in self.passages
                ]
            )
            if embedder is not None and self.passages
            else None
        )

    def relevance(self, question: str) -> np.ndarray:
        """How well each sentence matches ``question``.

        Returns
        -------
        np.ndarray [shape=(n_passages,), range 0-1]
            Lexical: the BM25 score over the most a sentence could score for the
            question's words (each word at its highest term weight; words the procedure
            never uses count at the highest inverse document frequency, so a question
            mostly about other things scores low everywhere). With an embedder,
            ``semantic_weight`` of it is the cosine similarity, mapped linearly from
            ``COSINE_RANGE`` to 0-1.
        """
        lexical = self.lexical_relevance(question)
        if self._embedder is None or self._vectors is None or not question.strip():
            return lexical
        cosine = self._vectors @ self._embedder.embed_one(question)
        low, high = COSINE_RANGE
        semantic = np.clip((cosine - low) / (high - low), 0.0, 1.0)
        weight = self.semantic_weight
        combined: np.ndarray = (1.0 - weight) * lexical + weight * semantic
        return combined

    def lexical_relevance(self, question: str) -> np.ndarray:
        """The BM25 part of :meth:`relevance` alone (shared words only).

        Returns
        -------
        np.ndarray [shape=(n_passages,), range 0-1]
        """
        query = list(dict.fromkeys(retrieval_words(question)))
        if not query or not self.passages:
            return np.zeros(len(self.passages))
        scores = np.asarray(self._bm25.get_scores(query), dtype=float)
        ceiling = sum(self._bm25.idf.get(word, self._max_idf) for word in query) * (_BM25_K1 + 1.0)
        return np.clip(scores / ceiling, 0.0, 1.0) if ceiling > 0.0 else scores * 0.0

    @property
    def vocabulary(self) -> frozenset[str]:
        """The folded words of the procedure's text and name."""
        return self._vocabulary

    def known_words(self, question: str) -> list[str]:
        """The question's content words that occur in the procedure's text."""
        return [w for w in retrieval_words(question) if w in self._vocabulary]

    def coverage(self, question: str) -> float:
        """The share (0-1) of the question's content words that occur in the procedure's
        text (0 for a question without content words)."""
        found = retrieval_words(question)
        return len([w for w in found if w in self._vocabulary]) / len(found) if found else 0.0


_INDEXES: OrderedDict[int, PassageIndex] = OrderedDict()
_CACHED = 32
_MODE: dict[str, float | bool] = {"embeddings": True, "semantic_weight": SEMANTIC_WEIGHT}


def set_retrieval_mode(*, embeddings: bool, semantic_weight: float = SEMANTIC_WEIGHT) -> None:
    """How :func:`passage_index` builds indexes from now on (cached ones are dropped):
    with the packaged embedder (when installed) at ``semantic_weight``, or lexical only.
    For comparisons (``benchmarks/assistant_retrieval.py``) and tests."""
    _MODE.update(embeddings=embeddings, semantic_weight=semantic_weight)
    _INDEXES.clear()


def passage_index(procedure: Procedure) -> PassageIndex:
    """The procedure's index, built once (a small LRU keyed by identity: the cached index
    keeps its procedure alive, so the key cannot be reused)."""
    key = id(procedure)
    found = _INDEXES.get(key)
    if found is None or found.procedure is not procedure:
        embedder = default_embedder() if _MODE["embeddings"] else None
        found = PassageIndex(
            procedure, embedder=embedder, semantic_weight=float(_MODE["semantic_weight"])
        )
        _INDEXES[key] = found
        while len(_INDEXES) > _CACHED:
            _INDEXES.popitem(last=False)
    _INDEXES.move_to_end(key)
    return found


def retrieve(
    question: str,
    procedure: Procedure,
    *,
    preferred: Mapping[str | None, float] | None = None,
    limit: int = 3,
) -> list[Hit]:
    """The sentences that best answer ``question``, best first.

    Parameters
    ----------
    question : str
    procedure : Procedure
    preferred : mapping of step id (or None, the procedure's own text) to weight, optional
        Multiplies a sentence's relevance by its step's weight (default 1): the caller
        prefers the named, current and next steps, so they win when scores are close.
    limit : int
        At most this many hits; sentences with no relevance are left out.
    """
    index = passage_index(procedure)
    relevance = index.relevance(question)
    weights = preferred or {}
    scores = relevance * np.array([weights.get(p.step, 1.0) for p in index.passages])
    order = np.argsort(-scores, kind="stable")[:limit]
    return [
        Hit(index.passages[i], int(i), float(relevance[i]), float(scores[i]))
        for i in order
        if relevance[i] > 0.0
    ]
