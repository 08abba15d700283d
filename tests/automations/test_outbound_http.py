"""The SSRF-safe outbound client, against real HTTP(S) servers on loopback.

Loopback is private, so a test reaches its server only through
settings.OUTBOUND_HTTP_ALLOWLIST; names are made to resolve where a test wants by a fake
`socket.getaddrinfo` that answers for the test's names and defers to the real one for
everything else.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured

from automations import outbound
from automations.outbound import BlockedDestination, OutboundError, safe_request, vet
from tests.automations import LocalServer


class FakeResolver:
    """Answers getaddrinfo for the names in `answers` (a list of IPs, or a list of lists
    used one per call, the last one repeating) and defers to the real resolver otherwise."""

    def __init__(self, real: Callable) -> None:
        self.real = real
        self.answers: dict[str, list] = {}
        self.calls: list[str] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return self.real(host, port, family, type, proto, flags)
        self.calls.append(name)
        answer = self.answers[name]
        if answer and isinstance(answer[0], list):
            answer = answer[min(self.calls.count(name), len(answer)) - 1]
        port = int(port or 0)
        result = []
        for ip in answer:
            if ":" in ip:
                result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
            else:
                result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
        return result


@pytest.fixture
def resolver(monkeypatch) -> FakeResolver:
    fake = FakeResolver(socket.getaddrinfo)
    monkeypatch.setattr(outbound.socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def connections(monkeypatch) -> list:
    """Every TCP connection the client opens, as (host, port)."""
    seen: list = []
    real = socket.create_connection

    def recording(address, *args, **kwargs):
        seen.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording)
    return seen


# --- refused destinations ------------------------------------------------------------------
REFUSED_LITERALS = [
    ("127.0.0.1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "CGNAT"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - a target under test, not a bind address
    ("[::1]", "loopback"),
    ("[::ffff:127.0.0.1]", "loopback"),
    ("[::ffff:7f00:1]", "loopback"),
    ("[fe80::1]", "link-local"),
    ("[fc00::1]", "unique local"),
    ("[64:ff9b::a00:1]", "embedding a private"),
    ("2130706433", "loopback"),
    ("0177.0.0.1", "loopback"),
    ("0x7f.1", "loopback"),
    ("127.1", "loopback"),
    ("0x7f000001", "loopback"),
    ("127.0.0.1.", "loopback"),
    ("localhost", "loopback"),
    ("LOCALHOST", "loopback"),
]


@pytest.mark.parametrize(("host", "reason"), REFUSED_LITERALS)
def test_private_targets_are_refused_before_connecting(host, reason, connections):
    with pytest.raises(BlockedDestination) as excinfo:
        safe_request("GET", f"http://{host}:8080/latest/meta-data/", timeout=2)
    assert reason in str(excinfo.value)
    assert connections == []


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("[::7f00:1]", "IPv4-compatible"),
        ("[2002:a00:1::1]", "embedding a private"),  # 6to4 of 10.0.0.1
        ("[2002:7f00:1::1]", "embedding a loopback"),
        ("[64:ff9b::7f00:1]", "embedding a loopback"),  # NAT64 of 127.0.0.1
        ("[64:ff9b:1::a00:1]", "local-use NAT64"),
        ("[2001::1]", "Teredo"),
        ("[fec0::1]", "site-local"),
        ("[ff02::1]", "multicast"),
        ("[2001:db8::1]", "documentation"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("192.0.0.8", "IETF"),
        ("0.1.2.3", "unspecified"),
        ("[::]", "unspecified"),
        ("[::ffff:169.254.169.254]", "link-local"),
        ("[::ffff:a9fe:a9fe]", "link-local"),
    ],
)
def test_special_purpose_addresses_are_refused(host, reason):
    with pytest.raises(BlockedDestination, match=reason):
        vet(f"http://{host}/")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("93.184.216.34", "93.184.216.34"),
        ("[2606:4700:4700::1111]", "2606:4700:4700::1111"),
        ("[::ffff:93.184.216.34]", "93.184.216.34"),  # mapped: unwrapped to IPv4
        ("[64:ff9b::5db8:d822]", "64:ff9b::5db8:d822"),  # NAT64 of a public address
        ("1572395042", "93.184.216.34"),  # decimal notation of a public address
    ],
)
def test_public_literals_pass_vetting(host, expected):
    assert str(vet(f"http://{host}/").address) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "http://1.2.3.4.5/",
        "http://0x7g.1/",
        "http://256.0.0.1/",
        "http://[fe80::1%25eth0]/",
    ],
)
def test_other_schemes_and_malformed_hosts_are_refused(url):
    with pytest.raises((BlockedDestination, OutboundError)):
        safe_request("GET", url, timeout=1)


def test_credentials_in_the_url_are_refused():
    with pytest.raises(OutboundError, match="Credentials in the URL"):
        safe_request("GET", "http://user:pass@93.184.216.34/", timeout=1)


def test_a_name_resolving_to_a_private_address_is_refused(resolver, connections):
    resolver.answers["internal.example"] = ["10.0.0.5"]
    with pytest.raises(BlockedDestination) as excinfo:
        safe_request("GET", "http://internal.example/admin", timeout=2)
    message = str(excinfo.value)
    assert "internal.example" in message and "private" in message
    assert "10.0.0.5" not in message  # the address is for logs, not for the message
    assert excinfo.value.address == "10.0.0.5"
    assert connections == []


def test_one_private_address_among_public_ones_refuses_the_name(resolver, connections):
    resolver.answers["mixed.example"] = ["93.184.216.34", "2606:4700::1111", "169.254.169.254"]
    with pytest.raises(BlockedDestination, match="link-local"):
        safe_request("GET", "http://mixed.example/", timeout=2)
    assert connections == []


def test_a_name_resolving_to_a_mapped_or_nat64_private_address_is_refused(resolver):
    resolver.answers["v6.example"] = ["::ffff:10.1.2.3"]
    with pytest.raises(BlockedDestination, match="private"):
        vet("http://v6.example/")
    resolver.answers["nat64.example"] = ["64:ff9b::a9fe:a9fe"]
    with pytest.raises(BlockedDestination, match="link-local"):
        vet("http://nat64.example/")


def test_an_unresolvable_name_is_not_sent():
    with pytest.raises(OutboundError) as excinfo:
        safe_request("GET", "http://does-not-exist.invalid/", timeout=2)
    assert excinfo.value.outcome == "not_sent"


# --- allowed targets ------------------------------------------------------------------------
def test_allow_listed_local_server_is_reached(server, allow_loopback):
    server.reply("/hello", 201, b'{"ok": true}', Content_Type="application/json")
    response = safe_request(
        "POST", server.url("/hello?x=1"), headers={"X-Test": "1"}, content=b"ping", timeout=5
    )
    assert response.status_code == 201
    assert response.body == b'{"ok": true}'
    assert response.headers["content-type"] == "application/json"
    assert response.final_url == server.url("/hello?x=1")
    assert response.elapsed > 0
    [request] = server.requests
    assert request["method"] == "POST"
    assert request["path"] == "/hello?x=1"
    assert request["body"] == b"ping"
    assert request["headers"]["x-test"] == "1"
    assert request["headers"]["host"] == f"127.0.0.1:{server.port}"


def test_loopback_is_refused_without_the_allow_list(server, settings):
    settings.OUTBOUND_HTTP_ALLOWLIST = []
    server.reply("/hello", 200, b"secret")
    with pytest.raises(BlockedDestination):
        safe_request("GET", server.url("/hello"), timeout=5)
    assert server.requests == []


def test_allow_list_by_host_name(server, settings):
    """A listed name is allowed whatever it resolves to; `localhost` may answer ::1 first,
    which refuses the connection (the server listens on IPv4): the next vetted address of
    the same answer is tried, never a new lookup."""
    settings.OUTBOUND_HTTP_ALLOWLIST = ["localhost"]
    server.reply("/hi", 200, b"hi")
    response = safe_request("GET", server.url("/hi", host="localhost"), timeout=5)
    assert response.body == b"hi"
    assert server.requests[0]["headers"]["host"] == f"localhost:{server.port}"


def test_allow_list_wildcard_and_invalid_entries(settings, resolver):
    resolver.answers["crm.corp.example"] = ["10.9.8.7"]
    settings.OUTBOUND_HTTP_ALLOWLIST = ["*.corp.example"]
    assert str(vet("http://crm.corp.example/").address) == "10.9.8.7"
    settings.OUTBOUND_HTTP_ALLOWLIST = ["not a host!"]
    with pytest.raises(ImproperlyConfigured, match="OUTBOUND_HTTP_ALLOWLIST"):
        vet("http://crm.corp.example/")


# --- the allow-list's ports and the service's own address -----------------------------------
@pytest.fixture
def hub(settings, server) -> LocalServer:
    """The local server plays the hub itself: PUBLIC_BASE_URL names its port; the web
    process is taken to listen elsewhere (HOST/PORT)."""
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{server.port}"
    settings.LISTEN_HOST = "127.0.0.1"
    settings.LISTEN_PORT = 8000
    return server


@pytest.mark.parametrize(
    ("entry", "host"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "2130706433"),
        ("127.0.0.0/8", "127.0.0.2"),  # any loopback address reaches a server on 0.0.0.0
        ("localhost", "localhost"),
    ],
)
def test_a_port_less_entry_does_not_reach_the_service_itself(hub, settings, entry, host):
    settings.OUTBOUND_HTTP_ALLOWLIST = [entry]
    hub.reply("/v1/me", 200, b"the hub")
    with pytest.raises(BlockedDestination, match="this service's own address") as excinfo:
        safe_request("GET", hub.url("/v1/me", host=host), timeout=5)
    assert f"host:{hub.port}" in str(excinfo.value)
    assert hub.requests == []


def test_an_entry_naming_the_service_s_port_reaches_it(hub, settings):
    settings.OUTBOUND_HTTP_ALLOWLIST = [f"127.0.0.1:{hub.port}"]
    hub.reply("/v1/me", 200, b"the hub")
    assert safe_request("GET", hub.url("/v1/me"), timeout=5).body == b"the hub"
    settings.OUTBOUND_HTTP_ALLOWLIST = [f"localhost:{hub.port}"]
    assert safe_request("GET", hub.url("/v1/me", host="localhost"), timeout=5).body == b"the hub"


def test_an_entry_with_a_port_allows_that_port_only(server, settings):
    settings.OUTBOUND_HTTP_ALLOWLIST = ["127.0.0.1:9999"]
    assert vet("http://127.0.0.1:9999/").port == 9999
    with pytest.raises(BlockedDestination, match="loopback"):
        vet(server.url("/"))
    with pytest.raises(BlockedDestination, match="loopback"):
        vet("http://127.0.0.1/")  # port 80
    assert server.requests == []


def test_the_listen_port_is_refused_on_every_private_address_when_bound_to_all(settings):
    """Bound to 0.0.0.0 (the Procfile's default), any private address may be this
    machine's own, so the listen port needs naming on all of them."""
    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    settings.LISTEN_HOST = None
    settings.LISTEN_PORT = 8000
    settings.OUTBOUND_HTTP_ALLOWLIST = ["10.0.0.0/8"]
    with pytest.raises(BlockedDestination, match="own address"):
        vet("http://10.1.2.3:8000/")
    assert vet("http://10.1.2.3:8001/").port == 8001
    settings.OUTBOUND_HTTP_ALLOWLIST = ["10.0.0.0/8:8000"]
    assert vet("http://10.1.2.3:8000/").port == 8000
    # Bound to loopback only, a private address is someone else's.
    settings.LISTEN_HOST = "127.0.0.1"
    settings.OUTBOUND_HTTP_ALLOWLIST = ["10.0.0.0/8", "127.0.0.1"]
    assert vet("http://10.1.2.3:8000/").port == 8000
    with pytest.raises(BlockedDestination, match="own address"):
        vet("http://127.0.0.1:8000/")


def test_the_public_base_url_s_host_is_the_service_s_own(settings, resolver):
    settings.PUBLIC_BASE_URL = "http://hub.internal:8080"
    settings.LISTEN_HOST = "127.0.0.1"
    resolver.answers["hub.internal"] = ["10.0.0.5"]
    resolver.answers["crm.internal"] = ["10.0.0.6"]
    for entries in (["*.internal"], ["10.0.0.0/8"], ["hub.internal"]):
        settings.OUTBOUND_HTTP_ALLOWLIST = entries
        with pytest.raises(BlockedDestination, match="own address"):
            vet("http://hub.internal:8080/")
    settings.OUTBOUND_HTTP_ALLOWLIST = ["*.internal"]
    assert str(vet("http://crm.internal:8080/").address) == "10.0.0.6"
    assert str(vet("http://hub.internal:9090/").address) == "10.0.0.5"
    settings.OUTBOUND_HTTP_ALLOWLIST = ["hub.internal:8080"]
    assert str(vet("http://hub.internal:8080/").address) == "10.0.0.5"


def test_a_redirect_to_the_service_itself_is_refused(hub, settings):
    other = LocalServer()
    try:
        settings.OUTBOUND_HTTP_ALLOWLIST = ["127.0.0.1"]
        other.redirect("/go", hub.url("/v1/me"))
        with pytest.raises(BlockedDestination, match="own address"):
            safe_request("GET", other.url("/go"), timeout=5)
        assert hub.requests == []
    finally:
        other.close()


@pytest.mark.parametrize(
    "entry",
    [
        "crm.internal:8443",
        "*.corp.example:443",
        "10.1.2.3:80",
        "10.1.0.0/16:443",
        "[fd00::1]:8080",
        "[fd00::/8]",
        "fd00::1",
        "CRM.Internal.",
    ],
)
def test_allow_list_entries_with_and_without_ports_are_accepted(settings, entry):
    settings.OUTBOUND_HTTP_ALLOWLIST = [entry]
    assert outbound.Allowlist.from_settings().entries


@pytest.mark.parametrize(
    "entry",
    [
        "crm.internal:",
        "crm.internal:0",
        "crm.internal:65536",
        "crm.internal:http",
        "10.1.2.3:80:1",
        "[fd00::1",
        "[fd00::1]8080",
        "[nope]:80",
        "127.1:80",
        "a b:80",
    ],
)
def test_malformed_allow_list_entries_fail_loudly(settings, entry):
    settings.OUTBOUND_HTTP_ALLOWLIST = [entry]
    with pytest.raises(ImproperlyConfigured, match="OUTBOUND_HTTP_ALLOWLIST"):
        outbound.Allowlist.from_settings()


def test_redirect_chain_within_the_allow_list(server, allow_loopback):
    server.redirect("/a", "/b", 301)
    server.redirect("/b", server.url("/c"), 307)
    server.reply("/c", 200, b"done")
    response = safe_request("GET", server.url("/a"), timeout=5)
    assert response.status_code == 200
    assert response.body == b"done"
    assert response.final_url == server.url("/c")
    assert [r["path"] for r in server.requests] == ["/a", "/b", "/c"]


def test_303_turns_a_post_into_a_get_and_307_keeps_it(server, allow_loopback):
    server.redirect("/post-303", "/landing", 303)
    server.redirect("/post-307", "/landing", 307)
    server.reply("/landing", 200, b"ok")
    safe_request(
        "POST",
        server.url("/post-303"),
        content=b'{"a": 1}',
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert server.requests[1]["method"] == "GET"
    assert server.requests[1]["body"] == b""
    assert "content-type" not in server.requests[1]["headers"]
    safe_request("POST", server.url("/post-307"), content=b"keep", timeout=5)
    assert server.requests[3]["method"] == "POST"
    assert server.requests[3]["body"] == b"keep"


def test_too_many_redirects(server, allow_loopback):
    server.redirect("/loop", "/loop")
    with pytest.raises(OutboundError, match="Too many redirects") as excinfo:
        safe_request("GET", server.url("/loop"), timeout=5, max_redirects=3)
    assert not excinfo.value.transient
    assert len(server.requests) == 4


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.2:{port}/",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::1]:{port}/",
        "http://2130706434:{port}/",  # 127.0.0.2
        "http://0x7f.2:{port}/",
        "http://127.2:{port}/",
        "http://[::ffff:127.0.0.2]:{port}/",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_out_of_the_allow_list_is_refused(server, allow_loopback, location):
    server.redirect("/go", location.format(port=server.port))
    with pytest.raises(BlockedDestination):
        safe_request("GET", server.url("/go"), timeout=5)
    assert [r["path"] for r in server.requests] == ["/go"]


def test_a_redirect_to_a_name_resolving_privately_is_refused(server, allow_loopback, resolver):
    resolver.answers["evil.example"] = ["93.184.216.34", "10.0.0.1"]
    server.redirect("/go", "http://evil.example/steal")
    with pytest.raises(BlockedDestination, match=r"evil\.example"):
        safe_request("GET", server.url("/go"), timeout=5)


def test_a_cross_origin_redirect_drops_credentials(settings):
    settings.OUTBOUND_HTTP_ALLOWLIST = ["127.0.0.0/8"]
    first = LocalServer("127.0.0.1")
    try:
        second = LocalServer("127.0.0.2")
    except OSError:  # pragma: no cover - loopback aliases missing
        first.close()
        pytest.skip("127.0.0.2 is not available")
    try:
        first.redirect("/go", second.url("/land"), 307)
        second.reply("/land", 200, b"landed")
        response = safe_request(
            "POST",
            first.url("/go"),
            headers={"X-Api-Key": "k-123", "Accept": "application/json"},
            content=b"{}",
            auth=("user", "pw"),
            timeout=5,
        )
        assert response.body == b"landed"
        assert "authorization" in first.requests[0]["headers"]
        assert first.requests[0]["headers"]["x-api-key"] == "k-123"
        landed = second.requests[0]["headers"]
        assert "authorization" not in landed
        assert "x-api-key" not in landed
        assert landed["accept"] == "application/json"
        assert landed["host"] == f"127.0.0.2:{second.port}"
    finally:
        first.close()
        second.close()


# --- limits ---------------------------------------------------------------------------------
def test_declared_oversized_response_is_refused(server, allow_loopback):
    server.reply("/big", 200, b"x" * 2_000_000)
    with pytest.raises(OutboundError, match="larger than 1000000 bytes") as excinfo:
        safe_request("GET", server.url("/big"), timeout=5)
    assert not excinfo.value.transient


def test_streamed_oversized_response_is_cut_off(server, allow_loopback):
    server.reply("/stream", 200, (b"y" * 65536 for _ in range(64)))  # 4 MB, no length
    with pytest.raises(OutboundError, match="larger than 100000 bytes"):
        safe_request("GET", server.url("/stream"), timeout=5, max_response_bytes=100_000)


def test_response_within_the_cap(server, allow_loopback):
    server.reply("/stream", 200, (b"z" * 1000 for _ in range(10)))
    response = safe_request("GET", server.url("/stream"), timeout=5, max_response_bytes=10_000)
    assert response.body == b"z" * 10_000


def test_timeout_is_a_transient_error(server, allow_loopback):
    def slow(_request):
        time.sleep(3)
        return 200, {}, b"late"

    server.routes["/slow"] = slow
    started = time.monotonic()
    with pytest.raises(OutboundError, match="timed out") as excinfo:
        safe_request("GET", server.url("/slow"), timeout=0.5)
    assert excinfo.value.transient
    assert excinfo.value.outcome == "unknown"  # the request was sent
    assert time.monotonic() - started < 2.5


def test_a_dripping_server_is_cut_off_at_the_budget(server, allow_loopback):
    def drip():
        for _ in range(50):
            time.sleep(0.1)
            yield b"."

    server.routes["/drip"] = lambda _request: (200, {}, drip())
    started = time.monotonic()
    with pytest.raises(OutboundError, match="timed out") as excinfo:
        safe_request("GET", server.url("/drip"), timeout=0.5)
    assert excinfo.value.transient
    assert time.monotonic() - started < 2


def test_connection_refused_is_transient_and_not_sent(allow_loopback):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OutboundError) as excinfo:
        safe_request("GET", f"http://127.0.0.1:{port}/", timeout=2)
    assert excinfo.value.transient
    assert excinfo.value.outcome == "not_sent"


# --- pinning / DNS rebinding ----------------------------------------------------------------
def test_the_connection_is_pinned_to_the_vetted_address(server, allow_loopback, resolver):
    """The first answer (127.0.0.1, allow-listed) is used for the connection; a second
    lookup would answer 127.0.0.2 where nothing listens. The server sees the original
    name in the Host header."""
    resolver.answers["rebind.example"] = [["127.0.0.1"], ["127.0.0.2"]]
    server.reply("/whoami", 200, b"me")
    response = safe_request("GET", server.url("/whoami", host="rebind.example"), timeout=5)
    assert response.body == b"me"
    assert resolver.calls == ["rebind.example"]
    assert server.requests[0]["headers"]["host"] == f"rebind.example:{server.port}"
    assert response.final_url == server.url("/whoami", host="rebind.example")


def test_dns_rebinding_public_then_loopback_connects_to_the_public_address(resolver, monkeypatch):
    resolver.answers["rebind2.example"] = [["93.184.216.34"], ["127.0.0.1"]]
    attempts: list = []

    def no_network(address, *args, **kwargs):
        attempts.append(address)
        raise ConnectionRefusedError("no network in tests")

    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(OutboundError) as excinfo:
        safe_request("GET", "http://rebind2.example:8080/", timeout=2)
    assert excinfo.value.transient and excinfo.value.outcome == "not_sent"
    assert attempts == [("93.184.216.34", 8080)]
    assert resolver.calls == ["rebind2.example"]


# --- TLS: pinned address, original name for SNI and certificate checks ----------------------
def _tls_material(tmp_path, hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext, list]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("Test CA"))
        .issuer_name(name("Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    sni_seen: list = []
    server_context.sni_callback = lambda _sock, server_name, _ctx: sni_seen.append(server_name)
    client_context = ssl.create_default_context(
        cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    )
    return server_context, client_context, sni_seen


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[LocalServer, ssl.SSLContext, list]]:
    server_context, client_context, sni_seen = _tls_material(tmp_path, "secure.example")
    srv = LocalServer(ssl_context=server_context)
    yield srv, client_context, sni_seen
    srv.close()


def test_https_is_pinned_and_verified_against_the_original_name(
    tls_server, allow_loopback, resolver
):
    srv, client_context, sni_seen = tls_server
    resolver.answers["secure.example"] = [["127.0.0.1"], ["127.0.0.2"]]
    srv.reply("/tls", 200, b"encrypted hello")
    response = safe_request(
        "GET", srv.url("/tls", host="secure.example"), timeout=5, verify=client_context
    )
    assert response.body == b"encrypted hello"
    assert sni_seen == ["secure.example"]
    assert srv.requests[0]["headers"]["host"] == f"secure.example:{srv.port}"
    assert resolver.calls == ["secure.example"]


def test_https_certificate_for_another_name_is_refused(tls_server, allow_loopback, resolver):
    srv, client_context, _ = tls_server
    resolver.answers["impostor.example"] = ["127.0.0.1"]
    with pytest.raises(OutboundError, match="certificate verification failed") as excinfo:
        safe_request(
            "GET", srv.url("/tls", host="impostor.example"), timeout=5, verify=client_context
        )
    assert not excinfo.value.transient
    assert srv.requests == []


# --- address helpers ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("0", "0.0.0.0"),  # noqa: S104 - a parsed value, not a bind address
        ("0x", "0.0.0.0"),  # noqa: S104
        ("127.0.0.1.", "127.0.0.1"),
        ("example.com", None),
        ("1.2.3.example", None),
    ],
)
def test_parse_ipv4_literal(literal, expected):
    result = outbound.parse_ipv4_literal(literal)
    assert (str(result) if result else None) == expected


@pytest.mark.parametrize("literal", ["1.2.3.4.5", "256.1.1.1", "1.2.3.256", "08.1.1.1", "0x1g.1"])
def test_parse_ipv4_literal_rejects_invalid_numbers(literal):
    with pytest.raises(ValueError):
        outbound.parse_ipv4_literal(literal)


def test_refusal_reason_of_a_public_address_is_none():
    assert outbound.refusal_reason(ipaddress.ip_address("93.184.216.34")) is None
    assert outbound.refusal_reason(ipaddress.ip_address("2606:4700::1111")) is None


@pytest.mark.parametrize("url", ["http://93.184.216.34/", "https://crm.example.com/x"])
def test_with_public_destinations_off_only_the_allow_list_is_reached(settings, resolver, url):
    settings.OUTBOUND_HTTP_PUBLIC = False
    settings.OUTBOUND_HTTP_ALLOWLIST = []
    resolver.answers["crm.example.com"] = ["93.184.216.34"]
    with pytest.raises(BlockedDestination, match="OUTBOUND_HTTP_PUBLIC=0"):
        vet(url)
    assert resolver.calls == []  # refused before any DNS lookup


def test_with_public_destinations_off_an_allow_listed_server_is_still_reached(
    server, allow_loopback, settings
):
    settings.OUTBOUND_HTTP_PUBLIC = False
    server.reply("/hello", 200, b"ok")
    assert safe_request("GET", server.url("/hello"), timeout=5).status_code == 200
