"""What an action will do, for a reviewer's eyes: the approval queue's preview.

`preview_of` turns an action's type and params into plain data (header rows
and a text body); `admin/outreach/includes/action_preview.html` renders it.
Nothing here is marked safe: params come from integrators and agents, so the
template autoescapes every value, and bodies keep their line breaks through
CSS (`white-space: pre-wrap`) rather than through HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contacts.models import LifecycleStage
from outreach.models import Action, ActionType


@dataclass
class Preview:
    kind: str  # email | sms | linkedin | call | lifecycle | task: the template's CSS class
    title: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body_label: str = ""
    body: str = ""
    note: str = ""  # a line under the body, e.g. an SMS's length


def _join(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _person(name: object, address: object) -> str:
    name, address = _join(name), _join(address)
    return f"{name} <{address}>" if name and address else name or address


def _sender(action: Action) -> str:
    identity = action.identity
    return _person(identity.display_name, identity.address)


def _present(rows: list[tuple[str, object]]) -> list[tuple[str, str]]:
    """Header rows with a value; optional params that are absent are left out."""
    return [(label, _join(value)) for label, value in rows if _join(value)]


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


def preview_of(action: Action) -> Preview:
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
            body=_join(p.get("body")),
        )
    if kind == ActionType.EMAIL_MESSAGE:
        return Preview(
            kind="email",
            title="Email reply in thread",
            headers=_present(
                [
                    ("From", _sender(action)),
                    ("Thread", p.get("thread_id")),
                    ("Subject", p.get("subject") or "(the thread's subject)"),
                ]
            ),
            body_label="Body",
            body=_join(p.get("body")),
        )
    if kind == ActionType.SEND_SMS:
        message = _join(p.get("message"))
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
            body=_join(p.get("message")),
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
            body=_join(p.get("script")) or "(no script)",
        )
    if kind == ActionType.UPDATE_LIFECYCLE_STAGE:
        stage = _join(p.get("stage"))
        label = LifecycleStage(stage).label if stage in LifecycleStage.values else stage
        return Preview(
            kind="lifecycle",
            title="Lifecycle stage change",
            headers=_present([("Contact", p.get("contact_id")), ("New stage", label)]),
            body_label="Reason",
            body=_join(p.get("reason")),
        )
    return Preview(
        kind="task",
        title="Task",
        headers=_present([("Title", p.get("title"))]),
        body_label="Note",
        body=_join(p.get("note")),
    )
