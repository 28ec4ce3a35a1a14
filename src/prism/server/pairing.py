"""Pairing a device by a short-lived one-time code (shown as a QR code), without the admin
token ever reaching the device or a URL.

A researcher (the dashboard, or ``prism pair --task TASK``) asks the service for a
pairing of a procedure: a random code of :data:`CODE_LENGTH` characters (about 50 bits),
valid :data:`PAIRING_LIFETIME_S`, kept in the store only as its SHA-256 hash (so every
process of the service can redeem it). The QR code carries the web client's URL with the
code (``/watch?pair=CODE``). Opening it exchanges the code, once, for a new device and
its token (``POST /v1/pairings/claim``); the reply also gives the procedure and the
device's Sensor Logger push URL. An unknown, used or expired code gets the same refusal.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import segno

from prism.server.devices import Devices
from prism.server.errors import PairingNotFoundError
from prism.storage import SessionStore

__all__ = ["CODE_LENGTH", "PAIRING_LIFETIME_S", "Pairing", "Pairings", "qr_svg"]

PAIRING_LIFETIME_S = 600.0
"""How long a pairing code may be used (s)."""

CODE_LENGTH = 10
"""Characters of a pairing code."""

_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""Letters and digits that cannot be mistaken for one another when typed."""


@dataclass(frozen=True)
class Pairing:
    """A pairing just made: its ``code``, its ``task`` and when it ``expires`` (Unix s)."""

    code: str
    task: str
    expires: float


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


class Pairings:
    """Pairing codes of a store, and their exchange for devices.

    Parameters
    ----------
    store : SessionStore
    devices : Devices
        Registers the device a code is exchanged for.
    clock : callable
        Unix time (s); tests pass a fake one.
    """

    def __init__(
        self, store: SessionStore, devices: Devices, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store, self.devices, self.clock = store, devices, clock

    def create(self, task: str) -> Pairing:
        """A new pairing for ``task`` (the caller checked that the task exists)."""
        code = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
        expires = self.clock() + PAIRING_LIFETIME_S
        self.store.add_pairing(_hash(code), task, expires)
        return Pairing(code, task, expires)

    def claim(self, code: str, name: str) -> tuple[str, str, str]:
        """Exchange ``code`` for a new device called ``name``: its id, token and task.

        Raises
        ------
        PairingNotFoundError
            If the code is unknown, was used already or has expired (the same refusal).
        """
        task = self.store.take_pairing(_hash(code), self.clock()) if code else None
        if task is None:
            raise PairingNotFoundError("unknown, used or expired pairing code")
        device_id, token = self.devices.register(name)
        return device_id, token, task


def qr_svg(text: str) -> str:
    """``text`` as a QR code, an SVG document (segno; error correction M)."""
    svg: str = segno.make(text, error="m").svg_inline(scale=6, border=2)
    return svg
