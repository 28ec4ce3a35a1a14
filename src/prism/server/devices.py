"""Devices (watches) and their tokens: registration and token authentication.

A device gets a random token when it is registered; the store keeps only its SHA-256
hash. With a shared store (Redis), a token registered through another service process is
looked up in the store the first time it is seen here.
"""

from __future__ import annotations

import hashlib
import secrets

from prism.server.errors import UnauthorizedError
from prism.storage import SessionStore

__all__ = ["Devices", "token_hash"]


def token_hash(token: str) -> str:
    """How a device token is stored (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Devices:
    """The devices of a store, by token hash.

    Parameters
    ----------
    store : SessionStore
        Where devices are kept.
    shared : bool
        Other processes register devices in the same store (look unknown tokens up there).
    """

    def __init__(self, store: SessionStore, *, shared: bool) -> None:
        self.store = store
        self.shared = shared
        self.by_hash = {hashed: device for device, hashed in store.devices().items()}

    def register(self, name: str, *, recording: bool = False) -> tuple[str, str]:
        """A new device called ``name``: its id and its token (shown only now).
        ``recording``: its sessions keep every input (a research watch whose user was
        told), instead of only those no checkpoint covers yet."""
        device_id = f"dev-{secrets.token_hex(6)}"
        token = secrets.token_urlsafe(32)
        hashed = token_hash(token)
        self.by_hash[hashed] = device_id
        self.store.add_device(device_id, hashed, name, recording=recording)
        return device_id, token

    def forget(self, device_id: str) -> None:
        """Stop accepting the device's token here (the store deletes the device)."""
        self.by_hash = {h: d for h, d in self.by_hash.items() if d != device_id}

    def authenticate(self, token: str | None) -> str:
        """The device a token belongs to.

        Raises
        ------
        UnauthorizedError
            If the token is missing or belongs to no device.
        """
        if not token:
            raise UnauthorizedError("missing or unknown device token")
        hashed = token_hash(token)
        device_id = self.by_hash.get(hashed)
        if device_id is None and self.shared:  # registered through another process
            device_id = self.store.device_for(hashed)
            if device_id is not None:
                self.by_hash[hashed] = device_id
        if device_id is None:
            raise UnauthorizedError("missing or unknown device token")
        return device_id
