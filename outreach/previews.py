"""What an action will do, for a reviewer's eyes: the approval queue's preview.

`preview_of` turns an action's type and params into plain data (header rows,
a text body and when it goes out); `admin/outreach/includes/action_preview.html`
renders it. Nothing here is marked safe: params come from integrators and
agents, so the template autoescapes every value, and bodies keep their line
breaks through CSS (`white-space: pre-wrap`) rather than through HTML.

A drafted reply (`email_message`, e.g. an automation's Reply step, whose
params are only `thread_id` and `body`) names neither recipient nor subject:
both come from the thread it replies into, resolved here exactly as the email
executor resolves them when sending (the thread's contact's address; the
params' subject, else "Re: " + the thread's subject or its latest message's).
Lists resolve every row's thread in one query (`attach_reply_threads`); a
single preview looks its thread up itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from contacts.models import Contact, Conversation, ConversationChannel, LifecycleStage, Message
from outreach.executors.email import reply_subject
from outreach.models import Action, ActionStatus, ActionType
from outreach.params import recipient_of, summary_of


@dataclass
class Preview:
    kind: str  # email | sms | linkedin | call | lifecycle | task: the template's CSS class
    title: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body_label: str = ""
    body: str = ""
    note: str = ""  # a line under the body, e.g. an SMS's length
    due: dt.datetime | None = None  # when it goes out (rendered in the reviewer's zone)
    due_note: str = ""  # e.g. "overdue: goes out as soon as approved"
    warning: str = ""  # why it will not go out as shown, e.g. a reply to a missing thread


# --- Drafted replies: the thread they reply into -------------------------------
@dataclass(frozen=True)
class ReplyThread:
    """What an `email_message` sends to, from its thread (see the module docstring)."""

    public_id: str
    channel: str
    subject: str  # the thread's subject, else its latest message's ("" if none)
    contact: Contact | None

    @property
    def to(self) -> str:
        return self.contact.email if self.contact is not None else ""


_NOT_LOOKED_UP = object()


def _threads(workspace_thread_ids: set[tuple[int, str]]) -> dict[tuple[int, str], ReplyThread]:
    """The threads (workspace id, thread id), with their contacts, in one query."""
    if not workspace_thread_ids:
        return {}
    latest_subject = (
        Message.objects.filter(conversation=OuterRef("pk"))
        .exclude(subject="")
        .order_by("-sent_at", "-id")
        .values("subject")[:1]
    )
    rows = (
        Conversation.objects.filter(public_id__in={tid for _, tid in workspace_thread_ids})
        .select_related("contact")
        .annotate(latest_subject=Subquery(latest_subject))
    )
    return {
        (row.workspace_id, row.public_id): ReplyThread(
            public_id=row.public_id,
            channel=row.channel,
            subject=row.subject or row.latest_subject or "",
            contact=row.contact,
        )
        for row in rows
        # Thread ids are unique, but a reply only ever goes into its own workspace's.
        if (row.workspace_id, row.public_id) in workspace_thread_ids
    }


def attach_reply_threads(actions: Iterable[Action]) -> None:
    """Set `reply_thread` (a ReplyThread, or None when it does not exist) on every
    `email_message` among `actions`, in one query whatever their number."""
    replies = [
        a
        for a in actions
        if a.type == ActionType.EMAIL_MESSAGE and (a.params or {}).get("thread_id")
    ]
    found = _threads({(a.workspace_id, str(a.params["thread_id"])) for a in replies})
    for action in replies:
        action.reply_thread = found.get((action.workspace_id, str(action.params["thread_id"])))


def reply_thread_of(action: Action) -> ReplyThread | None:
    """The thread an `email_message` replies into (looked up unless attached)."""
    thread = getattr(action, "reply_thread", _NOT_LOOKED_UP)
    if thread is _NOT_LOOKED_UP:
        attach_reply_threads([action])
        thread = getattr(action, "reply_thread", None)
    return thread


def thread_reply_subject(action: Action) -> str:
    """The subject a drafted reply gets when its params name none ("Re: ...")."""
    thread = reply_thread_of(action)
    return reply_subject(thread.subject) if thread is not None else ""


def _reply_subject(action: Action, thread: ReplyThread | None) -> str:
    subject = (action.params or {}).get("subject")
    if subject:
        return str(subject)
    return reply_subject(thread.subject) if thread is not None else ""


def _reply_warning(action: Action, thread: ReplyThread | None) -> str:
    """Why a drafted reply will fail when sent (the executor's PermanentErrors)."""
    thread_id = (action.params or {}).get("thread_id", "")
    if thread is None:
        return f"Thread {thread_id} does not exist in this workspace: this reply will fail."
    if thread.channel != ConversationChannel.EMAIL:
        return f"Thread {thread_id} is a {thread.channel} conversation: this reply will fail."
    if not thread.to:
        return f"Thread {thread_id} has no contact with an email address: this reply will fail."
    if thread.contact.is_suppressed:
        return (
            f"The recipient is suppressed ({thread.contact.suppression_reason}): "
            "this reply will fail."
        )
    return ""


# --- Columns shared by the queue and the action list ----------------------------
def recipient_label(action: Action) -> str:
    """Who the action reaches: a drafted reply's thread contact when attached or
    looked up (lists attach them in one query, see `attach_reply_threads`)."""
    if action.type == ActionType.EMAIL_MESSAGE and hasattr(action, "reply_thread"):
        thread = action.reply_thread
        if thread is not None and thread.to:
            return thread.to
    return recipient_of(action.type, action.params or {})


def subject_label(action: Action) -> str:
    """A drafted reply's subject as it will be sent, when its thread is attached."""
    if action.type == ActionType.EMAIL_MESSAGE and hasattr(action, "reply_thread"):
        return _reply_subject(action, action.reply_thread)
    return str((action.params or {}).get("subject") or "")


def summary(action: Action) -> str:
    """A one-line summary, e.g. a page title; a drafted reply names its recipient
    when its thread is attached (see `recipient_label`)."""
    if action.type == ActionType.EMAIL_MESSAGE:
        to = recipient_label(action)
        thread_id = str((action.params or {}).get("thread_id", ""))
        if to and to != thread_id:
            return f"Email reply to {to} in thread {thread_id}"
    return summary_of(action.type, action.params or {})


def param_text(value: object) -> str:
    """A param's value as a reviewer reads it (and edits it: the queue's form)."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _person(name: object, address: object) -> str:
    name, address = param_text(name), param_text(address)
    return f"{name} <{address}>" if name and address else name or address


def _sender(action: Action) -> str:
    identity = action.identity
    return _person(identity.display_name, identity.address)


def _present(rows: list[tuple[str, object]]) -> list[tuple[str, str]]:
    """Header rows with a value; optional params that are absent are left out."""
    return [(label, param_text(value)) for label, value in rows if param_text(value)]


def sms_segments(text: str) -> int:
    """How many SMS parts a text takes: GSM-7 fits 160 (153 per part when split),
    anything outside GSM-7's basic set is UCS-2 with 70 (67)."""
    if not text:
        return 0
    gsm = set(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    )
    extended = set("^{}\\[~]|€\f")
    if all(ch in gsm or ch in extended for ch in text):
        units = sum(2 if ch in extended else 1 for ch in text)
        single, multi = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else -(-units // multi)


def _due(action: Action) -> tuple[dt.datetime | None, str]:
    """When it goes out, and, while it awaits approval, why sooner than its time."""
    if action.status != ActionStatus.PENDING_APPROVAL:
        return action.scheduled_time, ""
    if action.direct:
        return action.scheduled_time, "direct: goes out as soon as approved"
    if action.scheduled_time is not None and action.scheduled_time <= timezone.now():
        return action.scheduled_time, "overdue: goes out as soon as approved"
    return action.scheduled_time, ""


def preview_of(action: Action) -> Preview:
    preview = _preview_of(action)
    preview.due, preview.due_note = _due(action)
    return preview


def _preview_of(action: Action) -> Preview:
    p = action.params or {}
    kind = action.type
    if kind == ActionType.SEND_EMAIL:
        return Preview(
            kind="email",
            title="Email",
            headers=_present(
                [
                    ("From", _sender(action)),
                    ("To", p.get("to")),
                    ("Cc", p.get("cc")),
                    ("Bcc", p.get("bcc")),
                    ("Reply-To", p.get("reply_to")),
                    ("Thread", p.get("thread_id")),
                    ("Subject", p.get("subject")),
                ]
            ),
            body_label="Body",
            body=param_text(p.get("body")),
        )
    if kind == ActionType.EMAIL_MESSAGE:
        thread = reply_thread_of(action)
        return Preview(
            kind="email",
            title="Email reply in thread",
            headers=_present(
                [
                    ("From", _sender(action)),
                    ("To", thread.to if thread is not None else ""),
                    ("Thread", p.get("thread_id")),
                    ("Subject", _reply_subject(action, thread)),
                ]
            ),
            body_label="Body",
            body=param_text(p.get("body")),
            warning=_reply_warning(action, thread),
        )
    if kind == ActionType.SEND_SMS:
        message = param_text(p.get("message"))
        segments = sms_segments(message)
        return Preview(
            kind="sms",
            title="SMS",
            headers=_present(
                [
                    ("From", _sender(action)),
                    ("To", _person(p.get("recipient_name"), p.get("recipient_phone"))),
                ]
            ),
            body_label="Text",
            body=message,
            note=f"{len(message)} characters, {segments} SMS part{'s' if segments != 1 else ''}",
        )
    if kind == ActionType.LINKEDIN_MESSAGE:
        return Preview(
            kind="linkedin",
            title="LinkedIn message",
            headers=_present([("From", _sender(action)), ("To", p.get("profile_url"))]),
            body_label="Message",
            body=param_text(p.get("message")),
        )
    if kind == ActionType.CALL_CONTACT:
        return Preview(
            kind="call",
            title="Phone call",
            headers=_present(
                [
                    ("From", _sender(action)),
                    ("To", _person(p.get("recipient_name"), p.get("recipient_phone"))),
                ]
            ),
            body_label="Script",
            body=param_text(p.get("script")) or "(no script)",
        )
    if kind == ActionType.UPDATE_LIFECYCLE_STAGE:
        stage = param_text(p.get("stage"))
        label = LifecycleStage(stage).label if stage in LifecycleStage.values else stage
        return Preview(
            kind="lifecycle",
            title="Lifecycle stage change",
            headers=_present([("Contact", p.get("contact_id")), ("New stage", label)]),
            body_label="Reason",
            body=param_text(p.get("reason")),
        )
    return Preview(
        kind="task",
        title="Task",
        headers=_present([("Title", p.get("title"))]),
        body_label="Note",
        body=param_text(p.get("note")),
    )
