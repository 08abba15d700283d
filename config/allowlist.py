"""The grammar of OUTBOUND_HTTP_ALLOWLIST entries, and the service's own address.

Parsed here (not in automations.outbound) so that settings.py can refuse a
malformed value when the process starts; automations.outbound matches requests
against the parsed entries.

An entry is a target, optionally followed by `:port`:

    crm.internal            the host name, whatever it resolves to
    *.corp.example          any subdomain of corp.example
    10.1.2.3  10.1.0.0/16   an address or a network (IPv4 or IPv6)
    [fd00::1]  [fd00::/8]   IPv6 in brackets (needed to add a port)
    crm.internal:8443  10.1.2.3:80  10.1.0.0/16:443  [fd00::1]:8080

A bare IPv6 literal (`fd00::1`) cannot carry a port. An entry with a port allows
that port only; one without allows every port except the service's own (see
ServiceAddress), which must be named with its port to be reached.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_-]{1,63})*$")
# A host whose last label is numeric is an IPv4 literal in some notation (`127.1`,
# `0x7f.1`): it must be written as an address, never accepted as a name.
NUMERIC_LABEL_RE = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
_PORT_RE = re.compile(r"^[0-9]{1,5}$")

LOOPBACK: tuple[IPNetwork, ...] = (
    ipaddress.IPv4Network("127.0.0.0/8"),
    ipaddress.IPv6Network("::1/128"),
    # Connecting to the unspecified address reaches the local host too.
    ipaddress.IPv4Network("0.0.0.0/32"),
    ipaddress.IPv6Network("::/128"),
)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class AllowlistError(ValueError):
    pass


@dataclass(frozen=True)
class AllowlistEntry:
    host: str | None = None  # a host name
    suffix: str | None = None  # from "*.corp.example": ".corp.example"
    network: IPNetwork | None = None
    port: int | None = None  # None: any port but the service's own


def _port(text: str, raw: str) -> int:
    if not _PORT_RE.match(text) or not 1 <= int(text) <= 65535:
        raise AllowlistError(f"{raw!r} has an invalid port {text!r} (1 to 65535).")
    return int(text)


def is_numeric_host(host: str) -> bool:
    return bool(NUMERIC_LABEL_RE.match(host.rstrip(".").rsplit(".", 1)[-1]))


def parse_entry(raw: str) -> AllowlistEntry:
    """One entry; AllowlistError says what is wrong with it."""
    entry = str(raw).strip().lower()
    port: int | None = None
    if entry.startswith("["):
        inner, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise AllowlistError(f"{raw!r}: use [IPv6] or [IPv6]:port.")
        if rest:
            port = _port(rest[1:], raw)
        try:
            network = ipaddress.ip_network(inner, strict=False)
        except ValueError:
            raise AllowlistError(f"{raw!r}: {inner!r} is not an IP address or network.") from None
        return AllowlistEntry(network=network, port=port)
    if entry.count(":") == 1:
        entry, _, port_text = entry.partition(":")
        port = _port(port_text, raw)
    entry = entry.rstrip(".")
    try:
        return AllowlistEntry(network=ipaddress.ip_network(entry, strict=False), port=port)
    except ValueError:
        pass
    if entry.startswith("*.") and HOSTNAME_RE.match(entry[2:]) and not is_numeric_host(entry):
        return AllowlistEntry(suffix=entry[1:], port=port)
    if HOSTNAME_RE.match(entry) and not is_numeric_host(entry):
        return AllowlistEntry(host=entry, port=port)
    raise AllowlistError(
        f"{raw!r} is neither a host name nor an IP address or network (with an optional :port)."
    )


def parse_entries(entries: list[str] | str) -> tuple[AllowlistEntry, ...]:
    if isinstance(entries, str):
        entries = entries.split(",")
    return tuple(parse_entry(raw) for raw in entries if str(raw).strip())


# --- the service's own address -----------------------------------------------------
@dataclass(frozen=True)
class ServiceAddress:
    """Where this service can be reached, so a port-less allowlist entry cannot send an
    ApiCall back to it.

    - `listen`: the port the web process binds (`PORT`, as the Procfile does) on
      `listen_networks`: the address in `HOST` (every loopback address when it is a
      loopback one), or every address when HOST is unset or `0.0.0.0`/`::` (the
      Procfile's default: then any private address may be this machine's).
    - `public`: PUBLIC_BASE_URL's host and port: the name itself and, when the host
      is an IP literal or `localhost`, that address (any loopback one for loopback).
    """

    listen_port: int
    listen_networks: tuple[IPNetwork, ...] | None  # None: every address
    public_host: str
    public_port: int
    public_networks: tuple[IPNetwork, ...]

    @classmethod
    def build(cls, *, listen_host: str | None, listen_port: int, public_url: str) -> ServiceAddress:
        split = urlsplit(public_url)
        public_host = (split.hostname or "").lower().rstrip(".")
        public_port = split.port or (443 if split.scheme == "https" else 80)
        return cls(
            listen_port=listen_port,
            listen_networks=_networks_of(listen_host, everything_if_unspecified=True),
            public_host=public_host,
            public_port=public_port,
            public_networks=_networks_of(public_host, everything_if_unspecified=False) or (),
        )

    def owns(self, port: int, *, host: str | None = None, address: IPAddress | None = None) -> bool:
        """Whether `host` (a name) or `address` at `port` may be this service."""
        if port == self.listen_port:
            if self.listen_networks is None:
                return True
            if address is not None and _in(address, self.listen_networks):
                return True
            if host is not None and host in LOOPBACK_NAMES and self.listen_networks == LOOPBACK:
                return True
        if port == self.public_port:
            if host is not None and host == self.public_host:
                return True
            if address is not None and _in(address, self.public_networks):
                return True
            if host in LOOPBACK_NAMES and self.public_networks == LOOPBACK:
                return True
        return False


def _networks_of(
    host: str | None, *, everything_if_unspecified: bool
) -> tuple[IPNetwork, ...] | None:
    """The addresses `host` stands for; None means every address."""
    host = (host or "").strip().lower().strip("[]").rstrip(".")
    if not host:
        return None if everything_if_unspecified else ()
    if host in LOOPBACK_NAMES:
        return LOOPBACK
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        # A name: which addresses it has is not known here. Binding to one is rare;
        # assume every address rather than guess.
        return None if everything_if_unspecified else ()
    if ip.is_unspecified and everything_if_unspecified:
        return None  # bound to all interfaces
    if ip.is_loopback or ip.is_unspecified:
        return LOOPBACK
    return (ipaddress.ip_network(ip),)


def _in(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)
