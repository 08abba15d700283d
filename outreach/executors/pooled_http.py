"""One pooled HTTP client per provider per process, for the HTTP executors (Twilio, LinkedIn).

Why pooled: a worker's batch makes its provider calls concurrently on send threads (up to
WORKER_SEND_CONCURRENCY). A client per call would pay a TCP (and TLS) handshake per
message and leave as many sockets in TIME_WAIT; one `httpx.Client` per provider keeps
up to WORKER_SEND_CONCURRENCY connections alive and shares them between the threads
(httpx's connection pool is thread-safe).

Why this shape:

- **Lazy and keyed by pid.** Celery's prefork pool forks its children after importing
  this module. A child that reused its parent's client would write into the parent's
  sockets (two processes interleaving HTTP on one connection, or TLS records out of
  sequence). So nothing is created at import; clients are created on first use and
  keyed by `os.getpid()`, and an `os.register_at_fork` hook forgets the parent's
  clients (without closing them: the sockets are the parent's) and replaces the lock,
  which another thread may have held at the moment of the fork.
- **Nothing per-call baked in.** Credentials, URL and timeout travel with each request
  (settings change under `override_settings` in tests, and an operator may rotate
  them), so the client only holds what is process-wide: the pool size. The pool is
  also keyed by that size, so a changed WORKER_SEND_CONCURRENCY gets a pool of its own.
- **No cookies.** A shared client would otherwise carry a provider's Set-Cookie from one
  action into the next; the per-call clients this replaces never did.
- **Redirects are not followed** (a signed webhook body must not be replayed elsewhere;
  Twilio never redirects its API).
"""

from __future__ import annotations

import http.cookiejar
import os
import threading
from urllib.request import Request

import httpx
from django.conf import settings

DEFAULT_SEND_CONCURRENCY = 32


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Neither store nor send cookies: each provider call stands alone."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Request) -> bool:
        return False


_lock = threading.Lock()
_clients: dict[tuple[int, str, int], httpx.Client] = {}


def send_concurrency() -> int:
    # getattr: the setting is new, and the engine that defines it may not have yet.
    return max(1, int(getattr(settings, "WORKER_SEND_CONCURRENCY", DEFAULT_SEND_CONCURRENCY)))


def pooled_client(provider: str) -> httpx.Client:
    """This process's client for `provider`, created on first use."""
    key = (os.getpid(), provider, send_concurrency())
    client = _clients.get(key)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(key)
        if client is None:
            size = key[2]
            client = httpx.Client(
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                # Every request passes its own timeout; this is only the fallback.
                timeout=settings.PROVIDER_TIMEOUT_SECONDS,
                follow_redirects=False,
                cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
            )
            _clients[key] = client
    return client


def close_pools() -> None:
    """Close this process's clients (worker shutdown, tests). Clients another thread is
    using are closed too: call it when no send is in flight."""
    with _lock:
        mine = [key for key in _clients if key[0] == os.getpid()]
        clients = [_clients.pop(key) for key in mine]
    for client in clients:
        client.close()


def _forget_after_fork() -> None:
    """In a forked child: drop the parent's clients without `close()` (that would end
    connections the parent still uses; dropping them only closes the child's copies of
    the descriptors) and take a fresh lock (the parent's may be held forever)."""
    global _lock
    _lock = threading.Lock()
    _clients.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
