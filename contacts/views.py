"""Public (unauthenticated) pages for contacts: the unsubscribe link.

``/u/<token>`` (token from contacts.unsubscribe):

- GET/HEAD shows a confirmation page with one button and changes nothing: mail
  security scanners and link previewers fetch every URL in a message, so a GET
  that unsubscribed would unsubscribe people who never clicked.
- POST unsubscribes and shows "you are unsubscribed". It comes from the page's
  form, or straight from a mailbox provider as an RFC 8058 one-click POST (body
  ``List-Unsubscribe=One-Click``, no cookies, no CSRF token). The body is not
  required: a valid token is enough, since failing to honour an unsubscribe is
  worse than honouring an odd one. Repeated POSTs are harmless: the service
  changes the flag once and writes one event.
- Any other method is a 405; a forged, mangled or stale token is a plain 404
  that looks the same whatever the reason, so it says nothing about which
  contacts exist.

The view is ``csrf_exempt`` on purpose: the signed token in the URL is the
credential (a cross-site page cannot forge it), and one-click posters send no
CSRF token or cookie, so CSRF protection would only break RFC 8058.

Every answer carries ``X-Robots-Tag: noindex``, ``Cache-Control: no-store`` and
``Referrer-Policy: no-referrer`` (the URL is a credential: it must not be
indexed, cached by a proxy, or sent onwards in a Referer), and a CSP that allows
no external resources.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from accounts.actors import Actor
from contacts.models import Contact
from contacts.services import contact_suppress
from contacts.unsubscribe import ONE_CLICK_FIELD, ONE_CLICK_VALUE, contact_from_token

ALLOWED_METHODS = ("GET", "HEAD", "POST")
ACTOR = Actor.system("unsubscribe-link")
REASON_ONE_CLICK = "One-click unsubscribe (RFC 8058)"
REASON_PAGE = "Unsubscribe link"

SECURITY_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def mask_email(email: str) -> str:
    """``jane@example.com`` → ``j***@example.com``: enough for the reader to
    recognise their address, not enough to harvest it from a forwarded link."""
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def _secure(response: HttpResponse) -> HttpResponse:
    for name, value in SECURITY_HEADERS.items():
        response[name] = value
    return response


def _page(request: HttpRequest, template: str, contact: Contact | None, status: int = 200):
    context = {"masked_email": mask_email(contact.email) if contact else ""}
    return _secure(render(request, template, context, status=status))


def _is_one_click(request: HttpRequest) -> bool:
    """An RFC 8058 POST from a mailbox provider rather than our page's form (which
    sends ``confirm``); only decides the reason recorded."""
    try:
        data = request.POST
    except Exception:  # malformed or oversized body: still a valid unsubscribe
        return False
    return data.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE and "confirm" not in data


@csrf_exempt
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in ALLOWED_METHODS:
        return _secure(HttpResponseNotAllowed(ALLOWED_METHODS))
    contact = contact_from_token(token)
    if contact is None:
        return _page(request, "contacts/unsubscribe_not_found.html", None, status=404)
    if request.method == "POST":
        reason = REASON_ONE_CLICK if _is_one_click(request) else REASON_PAGE
        contact_suppress(contact=contact, flag="unsubscribed", reason=reason, actor=ACTOR)
        return _page(request, "contacts/unsubscribed.html", contact)
    if contact.unsubscribed:
        return _page(request, "contacts/unsubscribed.html", contact)
    return _page(request, "contacts/unsubscribe.html", contact)
