"""Signed checkpoints: a stored checkpoint is unpickled only if the service signed it.

A checkpoint (:mod:`prism.server.checkpoint`) is a pickle, and unpickling runs whatever
code the bytes name. The store is not trusted that far (anyone who can write to a shared
Redis could otherwise run code in every service process), so the service signs each
checkpoint with HMAC-SHA256 under a secret key before storing it and checks the signature
of one read back *before* anything unpickles it: a checkpoint without a valid signature
is refused like a damaged one.

The key (:func:`checkpoint_key`): the ``checkpoint_secret`` setting when set (needed when
processes on several machines share a Redis store); otherwise a random key generated once
and kept in the file ``checkpoint.key`` (mode 0600) in the folder of the SQLite
``database`` setting, so every process on one machine shares it; with an in-memory
database (``":memory:"``, nothing kept) a random key of this process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from prism.errors import CheckpointError, SettingsError
from prism.settings import ServerSettings

__all__ = ["KEY_FILE", "CheckpointSigner", "checkpoint_key"]

KEY_FILE = "checkpoint.key"
"""The generated key's file, in the folder of the SQLite database."""

_MAC_BYTES = hashlib.sha256().digest_size


class CheckpointSigner:
    """Signs checkpoints and checks the signature of stored ones.

    Parameters
    ----------
    key : bytes
        The HMAC-SHA256 key (at least 16 bytes).
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise SettingsError(f"checkpoint key: expected at least 16 bytes, got {len(key)}")
        self._key = key

    def _mac(self, blob: bytes) -> bytes:
        return hmac.new(self._key, blob, hashlib.sha256).digest()

    def sign(self, blob: bytes) -> bytes:
        """``blob`` with its signature (32 bytes) in front, to store."""
        return self._mac(blob) + blob

    def verify(self, signed: bytes) -> bytes:
        """The checkpoint in ``signed`` (from :meth:`sign`), its signature checked.

        Raises
        ------
        CheckpointError
            If the signature is missing or does not match (another key, changed bytes).
        """
        mac, blob = signed[:_MAC_BYTES], signed[_MAC_BYTES:]
        if len(mac) < _MAC_BYTES or not hmac.compare_digest(mac, self._mac(blob)):
            raise CheckpointError(
                "checkpoint signature does not match: signed with another key or changed "
                "in the store"
            )
        return blob


def checkpoint_key(server: ServerSettings) -> bytes:
    """The key that signs checkpoints (see the module docstring).

    Raises
    ------
    CheckpointError
        If the key file exists but is unusable (empty or too short).
    """
    if server.checkpoint_secret is not None:
        return server.checkpoint_secret.encode()
    if server.database == ":memory:":
        return secrets.token_bytes(32)
    folder = Path(server.database).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / KEY_FILE
    if not path.exists():
        # written whole to a private file first, then linked into place: a process that
        # finds the key file never reads it half-written, and the first link wins
        draft = folder / f".{KEY_FILE}.{os.getpid()}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip().encode()
    if len(key) < 32:
        raise CheckpointError(f"{path}: checkpoint key of {len(key)} characters is too short")
    return key
