"""The store the settings name: Redis when ``redis_url`` is set, else the SQLite file."""

from __future__ import annotations

from prism.settings import ServerSettings
from prism.storage.base import SessionStore
from prism.storage.redis_store import RedisStore
from prism.storage.sqlite import SqliteStore

__all__ = ["open_store"]


def open_store(server: ServerSettings) -> SessionStore:
    """The service's store: :class:`RedisStore` at ``redis_url`` (keys under
    ``redis_prefix``) when it is set, else :class:`SqliteStore` of ``database``.

    Raises
    ------
    StoreError
        If Redis cannot be reached.
    """
    if server.redis_url is not None:
        return RedisStore(server.redis_url, prefix=server.redis_prefix)
    return SqliteStore(server.database)
