"""Persistence of the service's devices, sessions, inputs and sent messages."""

from prism.storage.sqlite import InputKind, Record, SessionRow, SqliteStore, StoredInput

__all__ = ["InputKind", "Record", "SessionRow", "SqliteStore", "StoredInput"]
