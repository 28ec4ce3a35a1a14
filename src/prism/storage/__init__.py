"""Persistence of the service's devices, sessions, inputs and sent messages."""

from prism.storage.sqlite import InputKind, SessionRow, SqliteStore, StoredInput

__all__ = ["InputKind", "SessionRow", "SqliteStore", "StoredInput"]
