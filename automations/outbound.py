"""An SSRF-safe outbound HTTP client for automations (ApiCall actions, function tools).

    response = safe_request("PUT", "https://crm.example.com/customers/42", headers=...,
                            content=b"...", timeout=20)

What it guarantees:

- Only `http` and `https`, no credentials in the URL, a plain host name or an IP literal.
- Destinations are vetted before any byte is sent. An IP literal is normalised first, in
  every notation a resolver might accept (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`,
  `[::ffff:7f00:1]`, ...). A host name is resolved with `socket.getaddrinfo` and EVERY
  address it resolves to must be public; one private address among public ones refuses
  the host. "Public" is `ipaddress`' `is_global` plus explicit checks: loopback, RFC 1918,
  link-local (169.254.0.0/16, fe80::/10, the cloud metadata address), CGNAT
  100.64.0.0/10, multicast, unspecified, reserved, benchmarking 198.18.0.0/15,
  documentation ranges, 192.0.0.0/24, ULA fc00::/7, site-local fec0::/10; IPv4 embedded in
  IPv6 is unwrapped and judged as IPv4 (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96,
  6to4 2002::/16); IPv4-compatible ::/96, local-use NAT64 64:ff9b:1::/48 and Teredo
  2001::/32 are refused outright.
- The connection is pinned to the vetted addresses (no TOCTOU, no DNS rebinding): the
  transport rewrites the request's URL host to a vetted IP (the first; the next only if
  connecting to it failed), so nothing resolves the name a second time, while the `Host`
  header keeps the original name and TLS uses the original name for SNI and certificate
  verification (httpcore's `sni_hostname` extension).
- Redirects are followed by hand, at most `max_redirects`, each hop vetted and pinned
  again. 303 (and 301/302 after a POST) become GET without a body; 307/308 keep method
  and body. A hop to another origin (scheme, host or port) drops the caller's headers
  except a few harmless ones (Accept, Accept-Language, Content-Type, User-Agent) and the
  `auth`, so credentials never follow a redirect off-site.
- `timeout` seconds bound each network operation (connect, read, write, pool) and, as a
  budget, the whole exchange: DNS, every hop and the body download share it (a server
  dripping bytes is cut off within about one read timeout of the deadline).
- The response body is streamed and capped at `max_response_bytes` (a larger
  Content-Length is refused before reading). `Accept-Encoding: identity` is sent unless
  the caller sets the header, and the cap counts decoded bytes either way.
- Environment proxies (HTTP_PROXY, ...) are ignored: a proxy would resolve the name itself.

`settings.OUTBOUND_HTTP_ALLOWLIST` (default empty) lets tests and on-premise deployments
reach listed private targets. Entries are host names (`crm.internal`; `*.corp.example`
for any subdomain), which allow that host whatever it resolves to, or IP networks /
addresses (`10.1.2.0/24`, `127.0.0.1`, `[fd00::1]`), which allow those addresses; each
may end in `:port` (`crm.internal:8443`, `10.1.2.0/24:443`, `[fd00::1]:8080`) to allow
that port only (grammar in config.allowlist). An entry without a port allows every port
except the service's own (its bind `HOST`/`PORT` and PUBLIC_BASE_URL, see
config.allowlist.ServiceAddress): the hub itself is reached only through an entry that
names its port. A redirect from an allowed host is vetted on its own: it does not inherit
the allowance.

Errors: `BlockedDestination` (the target is refused; its message names the host and the
reason, never the resolved address, which stays in `.address` for logs) and
`OutboundError` (invalid URL, DNS, network, TLS, timeout, size or redirect problems) with
`.transient` saying whether trying again later may help and `.outcome` ("not_sent" when
the request cannot have reached the server, else "unknown"). HTTP error statuses are not
exceptions here: callers judge `status_code`.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.allowlist import HOSTNAME_RE as _HOSTNAME_RE
from config.allowlist import NUMERIC_LABEL_RE as _NUMERIC_LABEL_RE
from config.allowlist import AllowlistEntry, AllowlistError, ServiceAddress, parse_entries

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_MAX_RESPONSE_BYTES = 1_000_000
DEFAULT_MAX_REDIRECTS = 3
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
ALLOWED_SCHEMES = {"http": 80, "https": 443}
# Headers kept on a redirect to another origin; everything else the caller set is dropped.
CROSS_ORIGIN_SAFE_HEADERS = {"accept", "accept-language", "content-type", "user-agent"}
USER_AGENT = "outreach-hub-automations/1"

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Refused IPv4 networks, named for the error message (first match wins).
_BLOCKED_V4: tuple[tuple[IPNetwork, str], ...] = (
    (_V4("0.0.0.0/8"), "an unspecified ('this network') address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("100.64.0.0/10"), "a shared (CGNAT) address"),
    (_V4("192.0.0.0/24"), "an IETF protocol assignment address"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("198.18.0.0/15"), "a benchmarking address"),
    (_V4("192.88.99.0/24"), "a 6to4 relay anycast address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
)
_BLOCKED_V6: tuple[tuple[IPNetwork, str], ...] = (
    (_V6("::/128"), "an unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("::/96"), "an IPv4-compatible address"),
    (_V6("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_V6("2001::/32"), "a Teredo address"),
    (_V6("2001:db8::/32"), "a documentation address"),
    (_V6("3fff::/20"), "a documentation address"),
    (_V6("100::/64"), "a discard-only address"),
    (_V6("fc00::/7"), "a private (unique local) address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("ff00::/8"), "a multicast address"),
)
_NAT64 = _V6("64:ff9b::/96")

_METHOD_RE = re.compile(r"^[A-Z]{1,16}$")

# getaddrinfo has no timeout of its own: it runs here so a hung resolver cannot outlive
# the request's budget (the thread finishes in the background).
_resolver_pool = concurrent.futures.ThreadPoolExecutor(
    max_workers=8, thread_name_prefix="outbound-dns"
)


# --- errors and result --------------------------------------------------------------------
class BlockedDestination(Exception):
    """The URL's target is refused (private, loopback, link-local, ... or not http(s))."""

    def __init__(self, host: str, reason: str, *, address: str | None = None) -> None:
        super().__init__(f"Refused to connect to {host!r}: {reason}.")
        self.host = host
        self.reason = reason
        self.address = address  # for logs only; not in the message


class OutboundError(Exception):
    """The request failed. `transient`: trying again later may succeed."""

    def __init__(self, message: str, *, transient: bool, outcome: str = "unknown") -> None:
        super().__init__(message)
        self.transient = transient
        self.outcome = outcome  # "not_sent" or "unknown"


@dataclass(frozen=True)
class SafeResponse:
    status_code: int
    headers: httpx.Headers
    body: bytes
    final_url: str
    elapsed: float  # seconds, DNS to last byte, all hops

    @property
    def text(self) -> str:
        return self.body.decode(self._charset(), errors="replace")

    def _charset(self) -> str:
        match = re.search(r"charset=([\w.:-]+)", self.headers.get("content-type", ""), re.I)
        return match.group(1) if match else "utf-8"


# --- addresses ------------------------------------------------------------------------------
def parse_ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address `host` denotes in the WHATWG URL / inet_aton sense, or None when the
    host is not numeric. Accepts 1 to 4 parts, each decimal, octal (leading 0) or hex (0x),
    the last part filling the remaining bytes: `127.1`, `0x7f.1`, `0177.0.0.1`,
    `2130706433`. Raises ValueError for a numeric-looking host that is not a valid address
    (`1.2.3.4.5`, `0x7g.1`, `256.0.0.1`)."""
    host = host.lower()
    if host.endswith(".") and len(host) > 1:
        host = host[:-1]
    parts = host.split(".")
    if not _NUMERIC_LABEL_RE.match(parts[-1]):
        return None
    if len(parts) > 4:
        raise ValueError("too many parts for an IPv4 address")
    numbers = []
    for part in parts:
        if not _NUMERIC_LABEL_RE.match(part):
            raise ValueError(f"invalid IPv4 part {part!r}")
        if part.startswith("0x"):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not re.fullmatch(r"[0-7]+", part):
                raise ValueError(f"invalid octal part {part!r}")
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part, 10))
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise ValueError("IPv4 part out of range")
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def normalise_address(ip: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address it maps."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def refusal_reason(ip: IPAddress) -> str | None:
    """Why `ip` may not be contacted, or None if it is a public unicast address."""
    ip = normalise_address(ip)
    if isinstance(ip, ipaddress.IPv4Address):
        for network, reason in _BLOCKED_V4:
            if ip in network:
                return reason
        if ip.is_private or ip.is_reserved or ip.is_multicast or not ip.is_global:
            return "not a public address"
        return None
    if ip.scope_id:
        return "an address with a zone identifier"
    embedded = None
    if ip in _NAT64:
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    elif ip.sixtofour is not None:
        embedded = ip.sixtofour
    if embedded is not None:
        inner = refusal_reason(embedded)
        if inner is not None:
            return f"an IPv6 address embedding {inner}"
        if ip in _NAT64:  # 64:ff9b::/96 is globally reachable when the v4 inside is
            return None
    for network, reason in _BLOCKED_V6:
        if ip in network:
            return reason
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_site_local:
        return "not a public address"
    if not ip.is_global:
        return "not a public address"
    return None


# --- allow-list -----------------------------------------------------------------------------
OWN = "own"  # an allowlist verdict: matched, but only by entries that exclude the own port


@dataclass(frozen=True)
class Allowlist:
    """OUTBOUND_HTTP_ALLOWLIST, parsed (grammar in config.allowlist), and the service's
    own address, which an entry without a port never lets through."""

    entries: tuple[AllowlistEntry, ...]
    service: ServiceAddress

    @classmethod
    def from_settings(cls) -> Allowlist:
        try:
            entries = parse_entries(getattr(settings, "OUTBOUND_HTTP_ALLOWLIST", None) or [])
        except AllowlistError as exc:
            raise ImproperlyConfigured(f"OUTBOUND_HTTP_ALLOWLIST: {exc}") from None
        service = ServiceAddress.build(
            listen_host=getattr(settings, "LISTEN_HOST", None),
            listen_port=getattr(settings, "LISTEN_PORT", 8000),
            public_url=settings.PUBLIC_BASE_URL,
        )
        return cls(entries, service)

    def _verdict(self, matching: list[AllowlistEntry], port: int, own: bool) -> str | None:
        """The verdict of the entries matching a target: "allowed", OWN, or None when no
        entry matches."""
        if any(entry.port == port for entry in matching):
            return "allowed"
        if any(entry.port is None for entry in matching):
            return OWN if own else "allowed"
        return None

    def host_verdict(
        self, host: str, port: int, addresses: tuple[IPAddress, ...] = ()
    ) -> str | None:
        """Whether the name `host` (resolving to `addresses`) is listed for `port`."""
        matching = [
            entry
            for entry in self.entries
            if entry.host == host or (entry.suffix is not None and host.endswith(entry.suffix))
        ]
        own = self.service.owns(port, host=host) or any(
            self.service.owns(port, address=ip) for ip in addresses
        )
        return self._verdict(matching, port, own)

    def address_verdict(self, ip: IPAddress, port: int, host: str | None = None) -> str | None:
        """Whether the address `ip` (reached through the name `host`, if any) is listed
        for `port`."""
        candidates = {ip, normalise_address(ip)}
        matching = [
            entry
            for entry in self.entries
            if entry.network is not None
            and any(c.version == entry.network.version and c in entry.network for c in candidates)
        ]
        own = any(self.service.owns(port, address=c) for c in candidates) or (
            host is not None and self.service.owns(port, host=host)
        )
        return self._verdict(matching, port, own)


def _own_address(host: str, port: int, address: IPAddress) -> BlockedDestination:
    return BlockedDestination(
        host,
        f"it is this service's own address (port {port}); an OUTBOUND_HTTP_ALLOWLIST entry "
        f"must name the port (host:{port}) to allow it",
        address=str(address),
    )


def _refuse_unlisted_literal(
    allowlist: Allowlist, host: str, ip: IPAddress, port: int, reason: str
) -> None:
    """A literal address refusal_reason refuses (`reason`) is reached only when the
    allowlist lists it for `port`; never the service's own address by a port-less entry."""
    verdict = allowlist.address_verdict(ip, port)
    if verdict is None:
        raise BlockedDestination(host, f"it is {reason}", address=str(ip))
    if verdict == OWN:
        raise _own_address(host, port, ip)


# --- target vetting -------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    url: httpx.URL
    host: str  # ASCII, lower case, no brackets: what the Host header and TLS name carry
    port: int
    addresses: tuple[IPAddress, ...]  # vetted; connections go to these only, in order
    tls_name: str  # what TLS sends as SNI and verifies the certificate against

    @property
    def address(self) -> IPAddress:
        return self.addresses[0]


def _literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP literal denotes (any notation), else None."""
    if ":" in host:  # IPv6 (httpx already stripped the brackets)
        if "%" in host:
            raise BlockedDestination(host, "IPv6 zone identifiers are not allowed")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise BlockedDestination(host, "not a valid IPv6 address") from None
    try:
        return parse_ipv4_literal(host)
    except ValueError:
        raise BlockedDestination(host, "not a valid IP address or host name") from None


def _precheck_literal(url: str) -> None:
    """Judge the host as the standard library parses it too, so a URL httpx refuses as
    invalid (`http://0177.0.0.1/`) or parses differently is still reported as refused when
    it names a private address."""
    try:
        split = urlsplit(url)
        host = split.hostname
        port = split.port or ALLOWED_SCHEMES.get(split.scheme.lower(), 0)
    except ValueError:
        return
    if not host:
        return
    try:
        ip = _literal_address(host.lower())
    except BlockedDestination:
        return
    if ip is not None:
        reason = refusal_reason(ip)
        if reason:
            _refuse_unlisted_literal(Allowlist.from_settings(), host, ip, port, reason)


def _parse_url(url: str | httpx.URL) -> tuple[httpx.URL, str, int]:
    if not isinstance(url, httpx.URL):
        _precheck_literal(url)
        try:
            url = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise OutboundError(
                f"Invalid URL: {exc}", transient=False, outcome="not_sent"
            ) from None
    if url.scheme not in ALLOWED_SCHEMES:
        raise BlockedDestination(url.host or str(url), "only http and https URLs are allowed")
    if url.userinfo:
        raise OutboundError(
            "Credentials in the URL are not allowed; pass them as auth.",
            transient=False,
            outcome="not_sent",
        )
    try:
        host = url.raw_host.decode("ascii").lower()
    except UnicodeDecodeError:
        raise BlockedDestination(str(url.host), "the host name is not valid") from None
    if not host:
        raise OutboundError("The URL has no host.", transient=False, outcome="not_sent")
    port = url.port or ALLOWED_SCHEMES[url.scheme]
    return url, host, port


def _resolve(host: str, port: int, timeout: float) -> list[IPAddress]:
    future = _resolver_pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=max(timeout, 0.001))
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise OutboundError(
            f"Resolving {host!r} timed out.", transient=True, outcome="not_sent"
        ) from None
    except socket.gaierror as exc:
        transient = exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None))
        raise OutboundError(
            f"Cannot resolve {host!r}: {exc.strerror or exc}",
            transient=transient,
            outcome="not_sent",
        ) from None
    except (OSError, UnicodeError) as exc:
        raise OutboundError(
            f"Cannot resolve {host!r}: {exc}", transient=False, outcome="not_sent"
        ) from None
    addresses: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0]).split("%", 1)[0]
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        if family == socket.AF_INET6 and len(sockaddr) >= 4 and sockaddr[3]:
            ip = ipaddress.IPv6Address(f"{text}%{sockaddr[3]}")
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise OutboundError(f"{host!r} has no address.", transient=False, outcome="not_sent")
    return addresses


_PUBLIC_OFF = "only OUTBOUND_HTTP_ALLOWLIST's destinations are reached (OUTBOUND_HTTP_PUBLIC=0)"


def vet(
    url: str | httpx.URL, *, timeout: float = 5.0, allowlist: Allowlist | None = None
) -> Target:
    """Parse, resolve and judge `url`; the Target says which address to connect to.
    Raises BlockedDestination or OutboundError."""
    allowlist = allowlist or Allowlist.from_settings()
    url, host, port = _parse_url(url)
    literal = _literal_address(host)
    public = getattr(settings, "OUTBOUND_HTTP_PUBLIC", True)
    if literal is not None:
        reason = refusal_reason(literal)
        if not reason and not public and allowlist.address_verdict(literal, port) is None:
            raise BlockedDestination(host, _PUBLIC_OFF, address=str(literal))
        if reason:
            _refuse_unlisted_literal(allowlist, host, literal, port, reason)
        address = normalise_address(literal)
        return Target(url, host, port, (address,), str(address))
    host = host.rstrip(".")
    if not _HOSTNAME_RE.match(host):
        raise BlockedDestination(host, "the host name is not valid")
    if not public and allowlist.host_verdict(host, port) is None:
        raise BlockedDestination(host, _PUBLIC_OFF)  # refused before any DNS lookup
    addresses = tuple(_resolve(host, port, timeout))
    by_name = allowlist.host_verdict(host, port, addresses)
    if by_name != "allowed":
        # Not listed by name (or listed without a port, and this is the service's own
        # port): every private address it resolves to must be listed itself.
        for ip in addresses:
            reason = refusal_reason(ip)
            if not reason:
                continue
            verdict = allowlist.address_verdict(ip, port, host=host)
            if verdict == OWN or (verdict is None and by_name == OWN):
                raise _own_address(host, port, normalise_address(ip))
            if verdict is None:
                raise BlockedDestination(
                    host, f"it resolves to {reason}", address=str(normalise_address(ip))
                )
    # Connections go to these vetted addresses only; the name is never resolved again.
    vetted = tuple(dict.fromkeys(normalise_address(ip) for ip in addresses))
    return Target(url, host, port, vetted, host)


# --- pinned transport -----------------------------------------------------------------------
class PinnedTransport(httpx.HTTPTransport):
    """Sends requests for `host` to `address` only: the URL's host becomes the IP (so no
    second DNS lookup can happen), the Host header stays as httpx built it from the
    original URL, and TLS verifies the certificate against `host` (SNI too)."""

    def __init__(self, target: Target, address: IPAddress, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if address not in target.addresses:
            raise ValueError("address is not one of the target's vetted addresses")
        self._host = target.host.rstrip(".")
        self._address = address
        self._tls_name = target.tls_name

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.raw_host.decode("ascii").lower().rstrip(".") != self._host:
            raise BlockedDestination(request.url.host, "the request was not vetted")
        request.url = request.url.copy_with(host=str(self._address))
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": self._tls_name}
        return super().handle_request(request)


# --- the client -----------------------------------------------------------------------------
def _timeout_value(timeout: float | httpx.Timeout) -> tuple[float, float]:
    """(per-operation ceiling, total budget) in seconds."""
    if isinstance(timeout, httpx.Timeout):
        values = [v for v in (timeout.connect, timeout.read, timeout.write, timeout.pool) if v]
        ceiling = max(values) if values else float(settings.PROVIDER_TIMEOUT_SECONDS)
        return ceiling, ceiling
    value = float(timeout)
    if value <= 0:
        raise ValueError("timeout must be positive")
    return value, value


def _chained(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _transport_error(host: str, exc: httpx.TransportError) -> OutboundError:
    chain = _chained(exc)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return OutboundError(
            f"TLS certificate verification failed for {host!r}.",
            transient=False,
            outcome="not_sent",
        )
    if isinstance(exc, httpx.TimeoutException):
        sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
        return OutboundError(
            f"Request to {host!r} timed out ({type(exc).__name__}).",
            transient=True,
            outcome="unknown" if sent else "not_sent",
        )
    if isinstance(exc, httpx.ConnectError):
        return OutboundError(
            f"Cannot connect to {host!r}: {exc}".rstrip(": "), transient=True, outcome="not_sent"
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return OutboundError(
            f"Invalid request to {host!r}: {exc}", transient=False, outcome="not_sent"
        )
    return OutboundError(
        f"Request to {host!r} failed: {type(exc).__name__}: {exc}".rstrip(": "),
        transient=True,
        outcome="unknown",
    )


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return url.scheme, (url.host or "").lower(), url.port or ALLOWED_SCHEMES.get(url.scheme, 0)


def _send_pinned(
    target: Target,
    method: str,
    headers: httpx.Headers,
    body: bytes | None,
    auth: tuple[str, str] | httpx.Auth | None,
    verify: ssl.SSLContext | bool,
    per_operation: float,
    deadline: float,
) -> tuple[httpx.Client, httpx.Response]:
    """Send to the target's vetted addresses in order (the next one only when connecting
    failed), returning the open client and the streaming response; the caller closes both."""
    last_error: OutboundError | None = None
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        client = httpx.Client(
            transport=PinnedTransport(target, address, verify=verify, retries=0),
            timeout=httpx.Timeout(min(per_operation, remaining)),
            follow_redirects=False,
            trust_env=False,
        )
        try:
            request = client.build_request(method, target.url, headers=headers, content=body)
            return client, client.send(request, auth=auth, stream=True)
        except httpx.TransportError as exc:
            client.close()
            last_error = _transport_error(target.host, exc)
            if not (last_error.transient and last_error.outcome == "not_sent"):
                raise last_error from None
        except BaseException:
            client.close()
            raise
    raise last_error or OutboundError("Request timed out.", transient=True, outcome="not_sent")


def safe_request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | httpx.Headers | None = None,
    content: bytes | str | None = None,
    auth: tuple[str, str] | httpx.Auth | None = None,
    timeout: float | httpx.Timeout = 20.0,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    verify: ssl.SSLContext | bool = True,
) -> SafeResponse:
    """Send one request (following up to `max_redirects` redirects) to a vetted, pinned
    public address. See the module docstring. `verify` is for tests with a private CA."""
    method = method.upper()
    if not _METHOD_RE.match(method):
        raise OutboundError(f"Invalid HTTP method {method!r}.", transient=False, outcome="not_sent")
    per_operation, budget = _timeout_value(timeout)
    started = time.monotonic()
    deadline = started + budget
    allowlist = Allowlist.from_settings()

    request_headers = httpx.Headers(headers or {})
    request_headers.setdefault("User-Agent", USER_AGENT)
    request_headers.setdefault("Accept-Encoding", "identity")
    body = content.encode() if isinstance(content, str) else content
    current_url: str | httpx.URL = url
    first_origin = None
    left_origin = False
    redirects = 0

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OutboundError("Request timed out.", transient=True, outcome="unknown")
        target = vet(current_url, timeout=min(per_operation, remaining), allowlist=allowlist)
        if first_origin is None:
            first_origin = _origin(target.url)
        # Once a redirect has left the first origin, credentials are never sent again.
        left_origin = left_origin or _origin(target.url) != first_origin
        hop_auth = None if left_origin else auth

        logger.info(
            "outbound %s %s://%s:%s (hop %d)",
            method,
            target.url.scheme,
            target.host,
            target.port,
            redirects,
        )
        client, response = _send_pinned(
            target,
            method,
            request_headers,
            body,
            hop_auth,
            verify,
            per_operation,
            deadline,
        )
        try:
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    if redirects >= max_redirects:
                        raise OutboundError(
                            f"Too many redirects (more than {max_redirects}).",
                            transient=False,
                            outcome="unknown",
                        )
                    try:
                        next_url = target.url.join(location)
                    except (httpx.InvalidURL, ValueError):
                        raise OutboundError(
                            "The server redirected to an invalid URL.",
                            transient=False,
                            outcome="unknown",
                        ) from None
                    redirects += 1
                    if (response.status_code == 303 and method != "HEAD") or (
                        response.status_code in (301, 302) and method == "POST"
                    ):
                        method, body = "GET", None
                        for name in ("content-type", "content-length", "transfer-encoding"):
                            request_headers.pop(name, None)
                    if _origin(next_url) != first_origin:
                        request_headers = httpx.Headers(
                            {
                                k: v
                                for k, v in request_headers.items()
                                if k.lower() in CROSS_ORIGIN_SAFE_HEADERS | {"accept-encoding"}
                            }
                        )
                    current_url = next_url
                    continue
                data = _read_capped(response, max_response_bytes, deadline, target.host)
            except httpx.TransportError as exc:
                raise _transport_error(target.host, exc) from None
            finally:
                response.close()
            return SafeResponse(
                status_code=response.status_code,
                headers=response.headers,
                body=data,
                final_url=str(target.url),
                elapsed=time.monotonic() - started,
            )
        finally:
            client.close()


def _read_capped(response: httpx.Response, cap: int, deadline: float, host: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise OutboundError(
            f"The response from {host!r} is larger than {cap} bytes.",
            transient=False,
            outcome="unknown",
        )
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise OutboundError(
                f"The response from {host!r} is larger than {cap} bytes.",
                transient=False,
                outcome="unknown",
            )
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise OutboundError(
                f"Reading the response from {host!r} timed out.",
                transient=True,
                outcome="unknown",
            )
    return b"".join(chunks)
