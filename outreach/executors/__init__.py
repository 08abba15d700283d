"""Executors: one per action type, found through a registry.

An executor performs the side effect of an action (send the email, the SMS,
the LinkedIn message, change the stage) and reports what happened by its
return value or the exception it raises. It never touches the action's status:
the batch worker (outreach.execution) does that, around it.

Two shapes (outreach.execution runs both):

- **Executor**: `execute(context)` does everything in the worker's main thread.
  Internal types (a lifecycle stage change) are this: database work, no wire.
- **SendingExecutor**: the provider call is split out so a batch's calls run
  concurrently on send threads, which never touch the database:
  `prepare(context)` (main thread: reads, builds the request; returns a
  Prepared, or an ExecutionResult when there is nothing to send, e.g. an email
  already recorded as sent), `open_session(prepared)` (send thread: one
  session serves every Prepared of one `session_key` in a batch, e.g. one SMTP
  connection per identity; pooled HTTP clients for Twilio and webhooks), then
  `session.send(payload)` (network only, raises TransientError/PermanentError)
  and `record(context, prepared, answer)` (main thread: store the Message,
  return the result). `execute` is `execute_whole`: the same four steps in one
  thread, for callers that run one action.

- Return an ExecutionResult on success, with the provider's message id.
- Raise TransientError for failures worth retrying (network errors, timeouts,
  5xx, 429): the worker retries with exponential backoff up to the limit.
  (Both errors are config.queue's: automations' steps raise them too.)
- Raise PermanentError for failures that will not get better (4xx, invalid
  recipient): the action fails at once with the message as its reason and
  the error's `code` as its `failure_code` (outreach.models.FailureCode:
  invalid_recipient, invalid_action, provider_rejected, not_configured,
  suppressed; none given is `other`).

Every provider call carries `context.idempotency_key` (derived from the action's
uuid, stable across retries and reclaimed leases) where the provider accepts
one; for email it is the Message-ID.

Adding a channel is one module: write a class with `types` and `execute`,
decorate it with `@register`, and import the module at the bottom of this file.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from config.queue import PermanentError

if TYPE_CHECKING:
    from contacts.models import Contact
    from outreach.models import Action, Identity


class PermanentCode:
    """PermanentError codes: values of outreach.models.FailureCode."""

    SUPPRESSED = "suppressed"  # the recipient is suppressed
    INVALID_RECIPIENT = "invalid_recipient"  # the provider refused the address or number
    INVALID_ACTION = "invalid_action"  # the message cannot be sent as it is built
    PROVIDER_REJECTED = "provider_rejected"  # the provider refused it for another reason
    NOT_CONFIGURED = "not_configured"  # the operator must configure the provider


@dataclass
class ExecutionContext:
    action: Action
    identity: Identity
    contact: Contact | None
    attempt: int  # 1 for the first try
    idempotency_key: str
    # True when the engine already matched the recipient to a contact (None
    # then means none matched): executors need not look it up again.
    recipient_resolved: bool = False


@dataclass
class ExecutionResult:
    provider_message_id: str = ""
    detail: dict = field(default_factory=dict)


class Executor(Protocol):
    types: tuple[str, ...]

    def execute(self, context: ExecutionContext) -> ExecutionResult: ...


@dataclass
class Prepared:
    """A provider call built on the main thread, to be made on a send thread."""

    provider: str  # the gate it goes through (caps, Retry-After): "smtp", "twilio", …
    session_key: Hashable  # Prepared with one key share a session within a batch
    payload: Any  # what the session's `send` needs; opaque to the engine
    extra: dict = field(default_factory=dict)  # what `record` needs besides the answer


class Session(Protocol):
    def send(self, payload: Any) -> Any:
        """Make one provider call; the provider's answer, or raise an ExecutionError.
        A session that failed must reopen itself on the next send."""
        ...

    def close(self) -> None: ...


class SendingExecutor(Executor, Protocol):
    def prepare(self, context: ExecutionContext) -> Prepared | ExecutionResult: ...

    # Optional: `prepare_batch(contexts)` returns, per context, what `prepare`
    # would (or the ExecutionError it would raise), with a constant number of
    # queries for the batch. The engine uses it when an executor has it.

    def open_session(self, prepared: Prepared) -> Session: ...

    def record(
        self, context: ExecutionContext, prepared: Prepared, answer: Any
    ) -> ExecutionResult: ...


def is_sending(executor: Executor) -> bool:
    return callable(getattr(executor, "prepare", None))


def execute_whole(executor: SendingExecutor, context: ExecutionContext) -> ExecutionResult:
    """A SendingExecutor's four steps for one action, in this thread."""
    prepared = executor.prepare(context)
    if isinstance(prepared, ExecutionResult):
        return prepared
    session = executor.open_session(prepared)
    try:
        answer = session.send(prepared.payload)
    finally:
        session.close()
    return executor.record(context, prepared, answer)


REGISTRY: dict[str, Executor] = {}


def register(cls: type) -> type:
    instance = cls()
    for action_type in cls.types:
        if action_type in REGISTRY:
            raise RuntimeError(f"Two executors for {action_type!r}")
        REGISTRY[action_type] = instance
    return cls


def executor_for(action_type: str) -> Executor:
    try:
        return REGISTRY[action_type]
    except KeyError:
        raise PermanentError(
            f"No executor for action type {action_type!r}.", code=PermanentCode.INVALID_ACTION
        ) from None


def idempotency_key_for(action: Action) -> str:
    return f"action-{action.uuid}"


# Importing the executor modules registers them.
from outreach.executors import email, internal, linkedin, twilio  # noqa: E402, F401
