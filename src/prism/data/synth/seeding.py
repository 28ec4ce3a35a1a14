"""Seeds that do not depend on the process: hashes of names, derived session seeds.

Python's built-in ``hash()`` of a string changes between processes (hash randomisation), so
every seed derived from a name goes through BLAKE2b instead.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["SeedLike", "as_generator", "derive_seed", "stable_seed"]

SeedLike = int | np.random.Generator
"""An integer seed or a generator to draw from."""


def stable_seed(*parts: str | int) -> int:
    """A 63-bit seed from names and numbers, the same in every process and on every machine.

    >>> stable_seed("latte_making", "steam_milk") == stable_seed("latte_making", "steam_milk")
    True
    >>> stable_seed("a", "bc") == stable_seed("ab", "c")
    False
    """
    text = "\x1f".join(str(part) for part in parts).encode("utf-8")
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def derive_seed(seed: int, *index: int) -> int:
    """A child seed of ``seed`` for ``index`` (e.g. the session number), via ``SeedSequence``.

    >>> derive_seed(7, 0) == derive_seed(7, 0) != derive_seed(7, 1)
    True
    """
    state = np.random.SeedSequence([seed, *index]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)


def as_generator(seed: SeedLike) -> np.random.Generator:
    """``seed`` itself if it is a generator, else ``np.random.default_rng(seed)``."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
