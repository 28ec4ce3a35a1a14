"""The addresses of this machine that a phone or watch on the local network can open,
for ``prism serve --host 0.0.0.0`` (or ``::``) to print."""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["WILDCARD_HOSTS", "local_addresses", "url_host"]

WILDCARD_HOSTS = {"0.0.0.0": socket.AF_INET, "::": socket.AF_INET6}
"""Hosts that listen on every address, and the address family each listens on (asyncio
binds ``::`` to IPv6 only)."""

_ROUTE_PROBES = {socket.AF_INET: "10.255.255.255", socket.AF_INET6: "2001:db8::1"}
"""An address of each family that no packet is sent to: a UDP socket "connected" to it
only asks the kernel which interface (and source address) it would route through."""


def local_addresses(family: socket.AddressFamily = socket.AF_INET) -> list[str]:
    """The machine's addresses of ``family`` another machine may reach it at.

    Written by hand because the standard library lists no network interfaces (psutil or
    netifaces would be a dependency for one start-up line). Two cheap standard-library
    sources are combined: the source address of the default route (a UDP socket
    connected to an unused address: nothing is sent), which is the address of the
    network the machine talks on, first; then what the machine's own host name resolves
    to (more interfaces on some systems; only ``127.0.1.1`` on many Debian machines).
    Loopback, link-local (an IPv6 one would need its interface in the URL), unspecified
    and multicast addresses are left out, and repeats dropped. Neither source fails the
    call: a machine without a network gives ``[]``.

    Parameters
    ----------
    family : socket.AddressFamily
        ``socket.AF_INET`` (IPv4) or ``socket.AF_INET6``.

    Returns
    -------
    list of str
        Addresses in textual form, the default route's first; e.g. ``["192.168.1.20"]``.
    """
    found: list[str] = []
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((_ROUTE_PROBES[family], 9))
            found.append(str(probe.getsockname()[0]))
    except OSError:  # no route (no network), or no such family
        pass
    try:
        resolved = socket.getaddrinfo(socket.gethostname(), None, family, socket.SOCK_DGRAM)
    except OSError:  # socket.gaierror: the host name does not resolve
        resolved = []
    found.extend(str(entry[4][0]) for entry in resolved)
    return [address for address in dict.fromkeys(found) if _reachable(address)]


def _reachable(address: str) -> bool:
    """Whether ``address`` (textual, maybe with an IPv6 zone) names this machine to others."""
    try:
        parsed = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return not (
        parsed.is_loopback or parsed.is_link_local or parsed.is_unspecified or parsed.is_multicast
    )


def url_host(address: str) -> str:
    """``address`` as the host part of a URL: an IPv6 address in brackets.

    >>> url_host("192.168.1.20"), url_host("fd00::2")
    ('192.168.1.20', '[fd00::2]')
    """
    return f"[{address}]" if ":" in address else address
