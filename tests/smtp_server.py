"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, in a thread, on a free port.

It records every accepted message and can be told to misbehave, so executors
and the worker are tested against real SMTP conversations rather than a mock::

    with SMTPTestServer() as server:
        use_smtp_server(settings, server)     # pytest-django `settings` fixture
        server.fail_next(1, code=451, message="try later")   # next DATA answers 451
        server.reject_recipient("bad@example.com", 550)      # RCPT TO answers 550
        server.delay_next(1, seconds=3)                      # next DATA answers late
        server.delay_every(0.2)          # every DATA answers 200 ms late, from now on
        ...
        server.messages[0].message["Subject"]

Everything is thread-safe: the server's event loop runs in its own thread while
the test (or a worker thread) sends. `wait_for(n)` blocks until n messages
arrived, for senders that run in other threads.

It serves many sessions at once (one asyncio task each; a delay is an
`asyncio.sleep`, so 200 slow sessions overlap instead of queueing), and a
message is only stored as bytes when it arrives: parsing (about 1 ms with
email.policy.default) happens when a test first reads it, so thousands of
messages a second do not make the event loop the bottleneck. `header(name)`
reads one raw header from a cheaper header-only parse, for counting thousands.
"""

from __future__ import annotations

import asyncio
import email
import email.message
import email.parser
import email.policy
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cached_property
from typing import Any, Literal

from aiosmtpd.controller import Controller

Stage = Literal["mail", "rcpt", "data"]
STAGES = ("mail", "rcpt", "data")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (also the "server down" port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    received_at: float  # time.monotonic() when the server accepted it

    @cached_property
    def message(self) -> EmailMessage:
        """The message parsed with email.policy.default (on first use)."""
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    @cached_property
    def _headers(self) -> email.message.Message:
        return email.parser.BytesHeaderParser().parsebytes(self.data)

    def header(self, name: str) -> str | None:
        """One header's raw value (unfolded, not decoded): cheap enough to count
        ten thousand messages by Message-ID."""
        value = self._headers[name]
        return None if value is None else " ".join(str(value).split())

    def __getitem__(self, header: str) -> Any:
        return self.message[header]

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        content = part.get_content() if part is not None else ""
        return content.replace("\r\n", "\n")  # the wire has CRLF line ends


@dataclass
class _Failure:
    code: int
    message: str


class _Handler:
    def __init__(self, owner: SMTPTestServer) -> None:
        self.owner = owner

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        failure = self.owner._take_failure("mail")
        if failure:
            return f"{failure.code} {failure.message}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        rejected = self.owner._rejection_for(address)
        if rejected:
            return f"{rejected.code} {rejected.message}"
        failure = self.owner._take_failure("rcpt")
        if failure:
            return f"{failure.code} {failure.message}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # The whole message (up to the final ".") has arrived: a client killed
        # during the delay leaves a message the server still accepts, as a real
        # server that got the final dot would.
        self.owner._data_started()
        try:
            delay = self.owner._take_delay()
            if delay:
                await asyncio.sleep(delay)
            failure = self.owner._take_failure("data")
            if failure:
                return f"{failure.code} {failure.message}"
            self.owner._record(envelope)
            return "250 Message accepted for delivery"
        finally:
            self.owner._data_finished()


class SMTPTestServer:
    """An aiosmtpd server on 127.0.0.1 and a free port; a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Condition()
        self._messages: list[ReceivedMessage] = []
        self._failures: dict[str, deque[_Failure]] = {stage: deque() for stage in STAGES}
        self._rejections: dict[str, _Failure] = {}
        self._delays: deque[float] = deque()
        self._steady_delay = 0.0
        self._in_data = 0
        self._peak_in_data = 0
        self._controller: Controller | None = None

    # --- lifecycle ---------------------------------------------------------
    def start(self) -> SMTPTestServer:
        # aiosmtpd logs every SMTP command at INFO; keep test output readable.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        last_error: OSError | None = None
        for _ in range(5):  # a free port can be taken between probing and binding
            port = self.port or free_port(self.host)
            controller = Controller(_Handler(self), hostname=self.host, port=port)
            try:
                controller.start()
            except OSError as exc:
                last_error = exc
                if self.port:
                    raise
                continue
            self._controller, self.port = controller, port
            return self
        raise RuntimeError(f"Could not start the test SMTP server: {last_error}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SMTPTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- behaviour ---------------------------------------------------------
    def fail_next(
        self, n: int = 1, *, code: int = 451, message: str = "try later", stage: Stage = "data"
    ) -> None:
        """Answer the next `n` MAIL, RCPT or DATA commands with `code message`."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}")
        with self._lock:
            self._failures[stage].extend(_Failure(code, message) for _ in range(n))

    def reject_recipient(
        self, address: str, code: int = 550, message: str = "No such user here"
    ) -> None:
        """Answer RCPT TO for `address` (any case) with `code message`, always."""
        with self._lock:
            self._rejections[address.lower()] = _Failure(code, message)

    def delay_next(self, n: int = 1, *, seconds: float) -> None:
        """Wait `seconds` before answering the next `n` DATA commands (client timeouts)."""
        with self._lock:
            self._delays.extend(seconds for _ in range(n))

    def delay_every(self, seconds: float) -> None:
        """Wait `seconds` before answering every DATA command from now on (a slow
        provider: each message takes that long, however many sessions send at
        once). A delay queued by delay_next takes precedence; 0 turns it off."""
        with self._lock:
            self._steady_delay = seconds

    def reset(self) -> None:
        """Forget received messages and every failure, rejection and delay."""
        with self._lock:
            self._messages.clear()
            for queue in self._failures.values():
                queue.clear()
            self._rejections.clear()
            self._delays.clear()
            self._steady_delay = 0.0
            self._peak_in_data = self._in_data

    # --- what arrived ------------------------------------------------------
    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def peak_in_flight(self) -> int:
        """The most DATA commands answered at once so far (sends in flight at the
        server: with a delay, how concurrently the clients really sent)."""
        with self._lock:
            return self._peak_in_data

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages arrived; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"Expected {count} messages, got {len(self._messages)} in {timeout}s"
                    )
                self._lock.wait(remaining)
            return list(self._messages)

    # --- called by the handler, on the server's thread ----------------------
    def _take_failure(self, stage: str) -> _Failure | None:
        with self._lock:
            queue = self._failures[stage]
            return queue.popleft() if queue else None

    def _rejection_for(self, address: str) -> _Failure | None:
        with self._lock:
            return self._rejections.get(address.lower())

    def _data_started(self) -> None:
        with self._lock:
            self._in_data += 1
            self._peak_in_data = max(self._peak_in_data, self._in_data)

    def _data_finished(self) -> None:
        with self._lock:
            self._in_data -= 1

    def _take_delay(self) -> float:
        with self._lock:
            return self._delays.popleft() if self._delays else self._steady_delay

    def _record(self, envelope: Any) -> None:
        received = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=envelope.original_content or b"",
            received_at=time.monotonic(),
        )
        with self._lock:
            self._messages.append(received)
            self._lock.notify_all()


def use_smtp_server(settings: Any, server: SMTPTestServer) -> None:
    """Point Django's SMTP backend at `server` (pass pytest-django's `settings`)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False


@contextmanager
def running_smtp_server(settings: Any) -> Iterator[SMTPTestServer]:
    """Start a server and point Django at it, for a pytest fixture::

    @pytest.fixture
    def smtp_server(settings):
        with running_smtp_server(settings) as server:
            yield server
    """
    with SMTPTestServer() as server:
        use_smtp_server(settings, server)
        yield server
