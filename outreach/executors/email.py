"""Email executor: `send_email` and `email_message` through Django's email backends.

The backend is whatever `settings.EMAIL_BACKEND` names: SMTP by default
(`EMAIL_URL`), an anymail ESP when `ANYMAIL_ESP` is set. The connection is
opened with `timeout=PROVIDER_TIMEOUT_SECONDS` (honoured by SMTP and anymail's
HTTP backends, ignored by the others).

Decisions:

- **Message-ID is the idempotency key**: `<{context.idempotency_key}@{domain of
  the identity}>`, e.g. `<action-3f2c…@acme.example.com>`, identical on every
  attempt, so a resend after a crash carries the same id and receivers can
  de-duplicate it. `message_id_for(context)` computes it.
- **A stored send is never repeated**: before sending, an outbound Message with
  that Message-ID in the workspace means an earlier attempt was delivered and
  recorded (the worker died before marking the action completed); the executor
  returns success without sending again (`detail["already_sent"]`).
- **anymail**: `message.metadata = {"action_id", "idempotency_key"}` (shown in
  the ESP's logs and echoed in its webhooks) and the Message-ID header. No
  `esp_extra`: ESPs' idempotency features differ and none is needed while the
  Message-ID is stable. An ESP that does not support metadata (postal) gets the
  message without it. The action's provider id is the ESP's message id when
  anymail reports exactly one (`anymail_status.message_id`), else the Message-ID.
- **What is stored**: after a send, a `contacts.Message` (outbound) whose
  `provider_message_id` is always the RFC Message-ID (what later replies need in
  In-Reply-To/References; the ESP id stays on the action). It goes into the
  thread for `thread_id`; otherwise a new email Conversation of the recipient
  contact (every `send_email` without `thread_id` starts a new thread, as a
  fresh email does in any mail client). A send to no known contact and no
  thread is not stored. A failure to store after a successful send is logged
  and does not fail the action: failing it would send the email again.
- **Recipient contact**: for `email_message` the thread's contact; for
  `send_email` `context.contact`, else the thread's contact when it is the `to`
  address, else the workspace's contact whose email is `to` (matched at send
  time, so a contact created after the action counts). It gets `List-Unsubscribe` (one-click,
  RFC 8058), and a suppressed one (unsubscribed, bounced, do not contact) fails
  the action permanently: `email_message` actions carry no contact of their own,
  so the worker's suppression check cannot see the thread's contact.
- **Replies** (`email_message`, or `send_email` with `thread_id`): the thread is
  a `th_…` email Conversation of the action's workspace, else PermanentError.
  In-Reply-To is the latest message id of the thread, References its chain (the
  first id and the last 19); ids are normalised to `<…>` and ones that are not
  message ids (no "@") are skipped. The subject is `params.subject` or
  "Re: <thread subject>", never "Re: Re:".
- **Errors**: 5xx SMTP answers, refused recipients or sender, bad headers and
  ESP 4xx are permanent; 4xx SMTP answers, timeouts, connection errors, ESP 429,
  5xx or no answer are transient. If every refused recipient got a 4xx (e.g.
  greylisting), that is transient too. Messages carry the server's code and
  text, never credentials or ESP response bodies.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.utils import formataddr

from anymail.backends.base import AnymailBaseBackend
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection
from django.core.mail.message import sanitize_address
from django.db import transaction
from django.utils import timezone

from config.queue import ExecutionError, PermanentError, TransientError
from contacts.models import Conversation, ConversationChannel, Direction, Message
from contacts.selectors import contact_for_recipient
from contacts.services import conversation_open, conversation_touch, message_record
from contacts.unsubscribe import unsubscribe_headers
from outreach.executors import (
    ExecutionContext,
    ExecutionResult,
    PermanentCode,
    Prepared,
    execute_whole,
    register,
)

log = logging.getLogger(__name__)

REFERENCES_LIMIT = 20
MAX_SERVER_TEXT = 300
_REPLY_PREFIX = re.compile(r"^\s*re\s*(\[\d+\])?\s*:", re.IGNORECASE)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


# --- ids and threading ------------------------------------------------------
def _domain_of(address: str) -> str:
    domain = address.rpartition("@")[2].strip().rstrip(".")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = ""
    return domain.lower() or "localhost"


def message_id_for(context: ExecutionContext) -> str:
    """The Message-ID of the action's email: the same on every attempt."""
    local = _ID_UNSAFE.sub("-", context.idempotency_key) or str(context.action.uuid)
    return f"<{local}@{_domain_of(context.identity.address)}>"


def normalise_message_id(value: str | None) -> str | None:
    """`<id@host>` from a stored id with or without brackets; None if it is not one."""
    value = (value or "").strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    if not value or "@" not in value or any(c.isspace() or c in "<>" for c in value):
        return None
    return f"<{value}>"


def reply_subject(subject: str) -> str:
    """The reply subject: "Re: <subject>", without stacking prefixes."""
    subject = " ".join(subject.split())  # stored subjects may hold folded lines
    if not subject or _REPLY_PREFIX.match(subject):
        return subject
    return f"Re: {subject}"


def _thread_references(conversation) -> list[str]:
    """The thread's message ids, oldest first: the first and the last ones."""
    with_ids = conversation.messages.exclude(provider_message_id="")
    first = with_ids.order_by("sent_at", "id").values_list("provider_message_id", flat=True)[:1]
    recent = with_ids.order_by("-sent_at", "-id").values_list("provider_message_id", flat=True)[
        : REFERENCES_LIMIT * 2
    ]
    ids: list[str] = []
    for raw in [*first, *reversed(list(recent))]:
        normalised = normalise_message_id(raw)
        if normalised and normalised not in ids:
            ids.append(normalised)
    if len(ids) > REFERENCES_LIMIT:
        ids = [ids[0], *ids[-(REFERENCES_LIMIT - 1) :]]
    return ids


# --- the outgoing email ------------------------------------------------------
@dataclass
class _Outgoing:
    to: list[str]
    subject: str
    body: str
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    conversation: object | None = None  # contacts.Conversation replied into
    contact: object | None = None  # contacts.Contact the email reaches
    references: list[str] = field(default_factory=list)


def _conversation(context: ExecutionContext, thread_id: str):
    conversation = (
        Conversation.objects.for_workspace(context.action.workspace)
        .select_related("contact")
        .filter(public_id=thread_id)
        .first()
    )
    if conversation is None:
        raise PermanentError(
            f"Thread {thread_id} does not exist in this workspace.",
            code=PermanentCode.INVALID_ACTION,
        )
    if conversation.channel != ConversationChannel.EMAIL:
        raise PermanentError(
            f"Thread {thread_id} is a {conversation.channel} conversation, not an email thread.",
            code=PermanentCode.INVALID_ACTION,
        )
    return conversation


def _outgoing(context: ExecutionContext) -> _Outgoing:
    action = context.action
    params = action.params
    conversation = _conversation(context, params["thread_id"]) if params.get("thread_id") else None

    if action.type == "email_message":
        contact = conversation.contact
        if contact is None or not contact.email:
            raise PermanentError(
                f"Thread {conversation.public_id} has no contact with an email address to "
                "reply to.",
                code=PermanentCode.INVALID_RECIPIENT,
            )
        base = conversation.subject or (
            conversation.messages.exclude(subject="")
            .order_by("-sent_at", "-id")
            .values_list("subject", flat=True)
            .first()
            or ""
        )
        outgoing = _Outgoing(
            to=[contact.email],
            subject=params.get("subject") or reply_subject(base),
            body=params["body"],
            contact=contact,
        )
    else:
        contact = context.contact
        thread_contact = conversation.contact if conversation is not None else None
        to = params["to"].lower()
        if contact is None and thread_contact and thread_contact.email.lower() == to:
            contact = thread_contact
        if contact is None and not context.recipient_resolved:
            contact = contact_for_recipient(workspace=action.workspace, params={"to": params["to"]})
        outgoing = _Outgoing(
            to=[params["to"]],
            subject=params["subject"],
            body=params["body"],
            cc=list(params.get("cc") or []),
            bcc=list(params.get("bcc") or []),
            reply_to=[params["reply_to"]] if params.get("reply_to") else [],
            contact=contact,
        )
    outgoing.conversation = conversation
    if conversation is not None:
        outgoing.references = _thread_references(conversation)
    if outgoing.contact is not None and outgoing.contact.is_suppressed:
        raise PermanentError(
            f"Recipient {outgoing.contact.public_id} is suppressed "
            f"({outgoing.contact.suppression_reason}).",
            code=PermanentCode.SUPPRESSED,
        )
    return outgoing


def _from_address(identity) -> str:
    if identity.display_name:
        return formataddr((identity.display_name, identity.address))
    return identity.address


def _build(context: ExecutionContext, outgoing: _Outgoing, message_id: str):
    headers = {"Message-ID": message_id, "X-Outreach-Action-Id": context.action.public_id}
    if outgoing.references:
        headers["In-Reply-To"] = outgoing.references[-1]
        headers["References"] = " ".join(outgoing.references)
    if outgoing.contact is not None:
        headers.update(unsubscribe_headers(outgoing.contact))
    message = EmailMultiAlternatives(
        subject=outgoing.subject,
        body=outgoing.body,
        from_email=_from_address(context.identity),
        to=outgoing.to,
        cc=outgoing.cc,
        bcc=outgoing.bcc,
        reply_to=outgoing.reply_to,
        headers=headers,
    )
    # Render it now, so a header injection or a malformed address fails before
    # any connection is opened, and never reaches the wire.
    try:
        encoding = message.encoding or settings.DEFAULT_CHARSET
        sanitize_address(message.from_email, encoding)
        for address in message.recipients():
            sanitize_address(address, encoding)
        rendered = message.message()
    except BadHeaderError as exc:
        raise PermanentError(
            f"Refused to send: a header contains a line break ({exc}).",
            code=PermanentCode.INVALID_ACTION,
        ) from None
    except ValueError as exc:  # an address Django cannot put on the wire
        raise PermanentError(
            f"Refused to send: {exc}", code=PermanentCode.INVALID_RECIPIENT
        ) from None
    # The backend renders the message again when it sends it; it gets this
    # rendering instead (the send threads then only write bytes). An ESP
    # backend builds its own payload and does not call message().
    message.message = lambda: rendered
    return message


# --- sending ---------------------------------------------------------------
def _connection():
    try:
        return get_connection(timeout=settings.PROVIDER_TIMEOUT_SECONDS)
    except TypeError:  # a backend that takes no timeout
        return get_connection()


def provider_name() -> str:
    """The provider gate of email: `smtp`, the ESP's name, or the backend's."""
    backend = settings.EMAIL_BACKEND
    if backend.startswith("anymail."):
        return settings.ANYMAIL_ESP or "esp"
    if backend == "django.core.mail.backends.smtp.EmailBackend":
        return "smtp"
    return backend.rsplit(".", 2)[-2]  # e.g. locmem, console


class EmailSession:
    """One email backend connection serving many messages (for SMTP one
    session: EHLO, STARTTLS and AUTH once). Each message goes alone through
    `send_messages([message])`, so each gets its own answer; after an error the
    connection is closed and the next message reopens it."""

    def __init__(self) -> None:
        self.connection = None

    def _open(self):
        if self.connection is None:
            try:
                connection = _connection()
            except ImproperlyConfigured as exc:
                raise PermanentError(
                    f"The email backend is misconfigured: {_text(str(exc))}",
                    code=PermanentCode.NOT_CONFIGURED,
                ) from None
            try:
                connection.open()  # kept open: send_messages will not close it
            except (smtplib.SMTPException, OSError) as exc:
                raise _smtp_error(exc) from None
            self.connection = connection
        return self.connection

    def send(self, payload: tuple) -> object:
        message, metadata = payload
        try:
            return self._send(message, metadata)
        except ExecutionError:
            self.close()
            raise

    def _send(self, message, metadata: dict):
        connection = self._open()
        is_anymail = isinstance(connection, AnymailBaseBackend)
        if is_anymail:
            message.metadata = metadata
        try:
            try:
                sent = connection.send_messages([message])
            except AnymailUnsupportedFeature as exc:
                # Raised while building the ESP's payload, so nothing was sent yet.
                if not (is_anymail and "metadata" in str(exc)):
                    raise
                del message.metadata
                sent = connection.send_messages([message])
        except AnymailError as exc:
            raise _anymail_error(exc) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise _smtp_error(exc) from None
        except BadHeaderError as exc:
            raise PermanentError(
                f"Refused to send: a header contains a line break ({exc}).",
                code=PermanentCode.INVALID_ACTION,
            ) from None
        if not sent:
            raise TransientError("The email backend reported that nothing was sent.")
        return message

    def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # a broken connection may fail to QUIT: it is gone anyway
                log.debug("closing the email connection failed", exc_info=True)


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return " ".join(value.split())[:MAX_SERVER_TEXT]


def _by_code(
    code: int, message: str, detail: dict, refused: str = PermanentCode.PROVIDER_REJECTED
) -> ExecutionError:
    """An SMTP reply: 5xx is permanent (`refused` says what was refused), else transient."""
    if code >= 500:
        return PermanentError(message, code=refused, detail=detail)
    return TransientError(message, detail=detail)


def _timed_out() -> TransientError:
    return TransientError(
        f"The mail server did not answer within {settings.PROVIDER_TIMEOUT_SECONDS}s."
    )


def _smtp_error(exc: Exception) -> ExecutionError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = {addr: (code, _text(text)) for addr, (code, text) in exc.recipients.items()}
        summary = "; ".join(f"{addr}: {code} {text}" for addr, (code, text) in refused.items())
        detail = {"smtp_refused": {addr: code for addr, (code, _) in refused.items()}}
        worst = max((code for code, _ in refused.values()), default=550)
        return _by_code(
            worst,
            f"Recipient refused by the mail server: {summary}",
            detail,
            refused=PermanentCode.INVALID_RECIPIENT,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if isinstance(exc.__context__, TimeoutError):  # how smtplib reports a read timeout
            return _timed_out()
        return TransientError(f"The mail server disconnected: {_text(str(exc))}")
    if isinstance(exc, smtplib.SMTPConnectError):
        return TransientError(
            f"Could not connect to the mail server: {exc.smtp_code} {_text(exc.smtp_error)}"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        what = {
            smtplib.SMTPSenderRefused: "Sender refused by the mail server",
            smtplib.SMTPDataError: "Message refused by the mail server",
            smtplib.SMTPAuthenticationError: "Mail server authentication failed",
            smtplib.SMTPHeloError: "The mail server refused HELO",
        }.get(type(exc), "The mail server answered")
        code = exc.smtp_code
        refused = (
            PermanentCode.NOT_CONFIGURED  # our credentials are wrong, not the message
            if isinstance(exc, smtplib.SMTPAuthenticationError)
            else PermanentCode.PROVIDER_REJECTED
        )
        return _by_code(
            code, f"{what}: {code} {_text(exc.smtp_error)}", {"smtp_code": code}, refused
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(
            f"The mail server does not support it: {_text(str(exc))}",
            code=PermanentCode.PROVIDER_REJECTED,
        )
    if isinstance(exc, smtplib.SMTPException):
        return TransientError(f"SMTP error: {_text(str(exc))}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(
            f"The mail server's TLS certificate is not trusted: {exc.reason}",
            code=PermanentCode.NOT_CONFIGURED,
        )
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return _timed_out()
    return TransientError(f"Could not reach the mail server: {_text(str(exc))}")


def _retry_after(response) -> float | None:
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _anymail_error(exc: AnymailError) -> ExecutionError:
    esp = exc.esp_name or "ESP"
    if isinstance(exc, AnymailRecipientsRefused):
        statuses = getattr(getattr(exc.email_message, "anymail_status", None), "recipients", {})
        refused = {addr: status.status for addr, status in (statuses or {}).items()}
        summary = ", ".join(f"{addr}: {status}" for addr, status in refused.items())
        return PermanentError(
            f"{esp} refused every recipient" + (f" ({summary})" if summary else "") + ".",
            code=PermanentCode.INVALID_RECIPIENT,
            detail={"esp_refused": refused},
        )
    if isinstance(exc, AnymailAPIError):
        status = exc.status_code
        response = exc.response
        reason = _text(getattr(response, "reason", "") or "") if response is not None else ""
        message = f"{esp} API error" + (f" {status}" if status else " (no response)")
        message += f": {reason}" if reason else ""
        detail = {"esp_status": status}
        if status is None or status == 429 or status >= 500:
            return TransientError(message, retry_after=_retry_after(response), detail=detail)
        return PermanentError(message, code=PermanentCode.PROVIDER_REJECTED, detail=detail)
    codes = {
        AnymailInvalidAddress: PermanentCode.INVALID_RECIPIENT,
        AnymailUnsupportedFeature: PermanentCode.INVALID_ACTION,
        AnymailSerializationError: PermanentCode.INVALID_ACTION,
        ImproperlyConfigured: PermanentCode.NOT_CONFIGURED,
    }
    for kind, code in codes.items():
        if isinstance(exc, kind):
            message = f"{esp} cannot send this message: {type(exc).__name__}."
            return PermanentError(message, code=code)
    return TransientError(f"{esp} error: {type(exc).__name__}.")


# --- recording ---------------------------------------------------------------
def _already_sent(contexts: list[ExecutionContext], message_ids: list[str]) -> dict:
    """Message-ID → an outbound Message already stored with it, for a batch's
    emails, in one query."""
    wanted = {(c.action.workspace_id, m) for c, m in zip(contexts, message_ids, strict=True)}
    spellings = {spelling for _, m in wanted for spelling in (m, m[1:-1])}
    found: dict[tuple[int, str], object] = {}
    for message in (
        Message.objects.filter(
            workspace_id__in={w for w, _ in wanted},
            direction=Direction.OUTBOUND,
            provider_message_id__in=spellings,
        )
        .select_related("conversation")
        .order_by("-id")
    ):
        normalised = normalise_message_id(message.provider_message_id)
        found[(message.workspace_id, normalised)] = message  # the oldest wins
    return found


def _store(context: ExecutionContext, outgoing: _Outgoing, message_id: str):
    """The sent email as an outbound Message in its conversation, or None."""
    if outgoing.conversation is None and outgoing.contact is None:
        return None
    now = timezone.now()
    with transaction.atomic():
        conversation = outgoing.conversation
        if conversation is None:
            conversation = conversation_open(
                workspace_id=context.action.workspace_id,
                contact=outgoing.contact,
                channel=ConversationChannel.EMAIL,
                subject=outgoing.subject[:998],
                last_message_at=now,
            )
        else:
            conversation_touch(conversation=conversation, at=now)
        message_record(
            conversation=conversation,
            direction=Direction.OUTBOUND,
            from_address=context.identity.address,
            to_address=", ".join(outgoing.to + outgoing.cc)[:1000],
            subject=outgoing.subject[:998],
            body=outgoing.body,
            sent_at=now,
            provider_message_id=message_id,
        )
    return conversation


def _esp_message_id(message) -> str:
    status = getattr(message, "anymail_status", None)
    esp_id = getattr(status, "message_id", None)
    return str(esp_id) if isinstance(esp_id, str | int) and str(esp_id) else ""


@register
class EmailExecutor:
    """A SendingExecutor (outreach.executors): prepare builds the message on
    the worker's thread, the batch's sends share one EmailSession per identity
    on send threads, record stores the sent Message."""

    types = ("send_email", "email_message")

    def execute(self, context: ExecutionContext) -> ExecutionResult:
        return execute_whole(self, context)

    def prepare(self, context: ExecutionContext) -> Prepared | ExecutionResult:
        [prepared] = self.prepare_batch([context])
        if isinstance(prepared, ExecutionError):
            raise prepared
        return prepared

    def prepare_batch(
        self, contexts: list[ExecutionContext]
    ) -> list[Prepared | ExecutionResult | ExecutionError]:
        message_ids = [message_id_for(context) for context in contexts]
        sent = _already_sent(contexts, message_ids)
        provider = provider_name()
        prepared: list[Prepared | ExecutionResult | ExecutionError] = []
        for context, message_id in zip(contexts, message_ids, strict=True):
            previous = sent.get((context.action.workspace_id, message_id))
            if previous is not None:
                prepared.append(
                    ExecutionResult(
                        provider_message_id=message_id,
                        detail={
                            "message_id": message_id,
                            "already_sent": True,
                            "conversation_id": previous.conversation.public_id,
                        },
                    )
                )
                continue
            try:
                outgoing = _outgoing(context)
                message = _build(context, outgoing, message_id)
            except ExecutionError as exc:
                prepared.append(exc)
                continue
            metadata = {
                "action_id": context.action.public_id,
                "idempotency_key": context.idempotency_key,
            }
            prepared.append(
                Prepared(
                    provider=provider,
                    session_key=("email", context.identity.pk),
                    payload=(message, metadata),
                    extra={"outgoing": outgoing, "message_id": message_id},
                )
            )
        return prepared

    def open_session(self, prepared: Prepared) -> EmailSession:
        return EmailSession()

    def record(
        self, context: ExecutionContext, prepared: Prepared, answer: object
    ) -> ExecutionResult:
        outgoing: _Outgoing = prepared.extra["outgoing"]
        message_id: str = prepared.extra["message_id"]
        detail: dict = {"message_id": message_id, "to": outgoing.to, "subject": outgoing.subject}
        if outgoing.cc:
            detail["cc"] = outgoing.cc
        if outgoing.bcc:
            detail["bcc_count"] = len(outgoing.bcc)
        esp_id = _esp_message_id(answer)
        if esp_id:
            detail["esp_message_id"] = esp_id
        try:
            conversation = _store(context, outgoing, message_id)
        except Exception:  # the email is gone: failing now would send it twice
            log.exception("Sent %s but could not store it", context.action.public_id)
            detail["stored"] = False
        else:
            detail["stored"] = conversation is not None
            if conversation is not None:
                detail["conversation_id"] = conversation.public_id
        return ExecutionResult(provider_message_id=esp_id or message_id, detail=detail)
