"""Who may use the admin endpoints: the admin token, the dashboard's login cookie, and
one-time login links.

The dashboard never carries the admin token in a URL. A browser logs in once
(``POST /v1/dashboard/login`` with the token) and gets a cookie holding a signed,
short-lived value: ``<expiry>.<nonce>.<mac>``, the expiry in Unix seconds, the MAC an
HMAC-SHA256 over the purpose, the expiry and the nonce. A one-time link (``prism serve``
prints one) has the same form with another purpose, lives 5 minutes, and is accepted
once by the process that issued it.

The signing key is random per process, unless ``checkpoint_secret`` is set: then it is
derived from that secret, which every process sharing a store holds, so that a cookie
one process (uvicorn worker, machine) issued is accepted by the others. It is never
derived from the admin token (a stolen cookie would allow guessing the token offline).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

__all__ = ["COOKIE", "COOKIE_LIFETIME_S", "LINK_LIFETIME_S", "AdminAccess"]

COOKIE = "prism_dashboard"
"""The name of the dashboard's login cookie."""
COOKIE_LIFETIME_S = 12 * 3600
"""How long a dashboard login lasts (s)."""
LINK_LIFETIME_S = 300
"""How long a one-time login link may be used (s)."""
_LONGEST = 200
"""Longest signed value looked at (characters); a real one has about 90."""


class AdminAccess:
    """Checks the admin token and issues and checks dashboard cookies and login links.

    Parameters
    ----------
    admin_token : str or None
        The service's admin token (None or empty: nothing is accepted, nothing issued).
    secret : str or None
        A secret every process of the service shares (``checkpoint_secret``); None: a
        random key of this process.
    clock : callable
        Unix time (s); tests pass a fake one.
    """

    def __init__(
        self,
        admin_token: str | None,
        *,
        secret: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token = admin_token
        self._key = (
            hmac.new(secret.encode(), b"prism dashboard login", hashlib.sha256).digest()
            if secret is not None
            else secrets.token_bytes(32)
        )
        self._clock = clock
        self._redeemed: dict[str, float] = {}
        """The nonces of the links used, until they expire."""

    def token_ok(self, given: str | None) -> bool:
        """Whether ``given`` is the admin token (compared in constant time)."""
        expected = self._token
        if not expected or not given:
            return False
        return secrets.compare_digest(expected.encode(), given.encode())

    def cookie(self) -> str:
        """A new login cookie's value, valid :data:`COOKIE_LIFETIME_S`."""
        return self._sign("cookie", COOKIE_LIFETIME_S)

    def cookie_ok(self, value: str | None) -> bool:
        """Whether ``value`` is a login cookie this service issued that has not expired."""
        return self._nonce("cookie", value) is not None

    def link(self) -> str:
        """A one-time login link's value, valid :data:`LINK_LIFETIME_S`."""
        return self._sign("link", LINK_LIFETIME_S)

    def redeem(self, value: str) -> bool:
        """Use a one-time login link: True the first time it is shown before it expires,
        False afterwards (and for anything else)."""
        nonce = self._nonce("link", value)
        now = self._clock()
        self._redeemed = {n: t for n, t in self._redeemed.items() if t >= now}
        if nonce is None or nonce in self._redeemed:
            return False
        self._redeemed[nonce] = now + LINK_LIFETIME_S
        return True

    def _sign(self, purpose: str, lifetime_s: float) -> str:
        if not self._token:  # no admin: nothing to log in to
            return ""
        body = f"{int(self._clock() + lifetime_s)}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._mac(purpose, body)}"

    def _nonce(self, purpose: str, value: str | None) -> str | None:
        """The nonce of a valid, unexpired signed ``value`` of ``purpose``; else None."""
        if not self._token or not value or len(value) > _LONGEST:
            return None
        parts = value.split(".")
        if len(parts) != 3:
            return None
        expiry, nonce, mac = parts
        if not secrets.compare_digest(
            mac.encode(), self._mac(purpose, f"{expiry}.{nonce}").encode()
        ):
            return None
        if not expiry.isdigit() or int(expiry) < self._clock():
            return None
        return nonce

    def _mac(self, purpose: str, body: str) -> str:
        message = f"{purpose}.{body}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
