"""The public unsubscribe link: signed token, confirmation page, form POST and
RFC 8058 one-click POST."""

from __future__ import annotations

import string

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from accounts.actors import Actor
from contacts.models import Contact, ContactEvent
from contacts.services import EventType, contact_create, contact_delete
from contacts.unsubscribe import (
    contact_from_token,
    unsubscribe_headers,
    unsubscribe_token,
    unsubscribe_url,
)

ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def contact(workspace):
    return contact_create(workspace=workspace, actor=Actor.system("test"), email="jane@example.com")


@pytest.fixture
def other_contact(workspace):
    return contact_create(workspace=workspace, actor=Actor.system("test"), email="joe@example.com")


@pytest.fixture
def foreign_contact(other_workspace):
    return contact_create(
        workspace=other_workspace, actor=Actor.system("test"), email="jane@example.com"
    )


@pytest.fixture
def csrf_client():
    """Like a mailbox provider or a browser without a CSRF cookie: checks enforced."""
    return Client(enforce_csrf_checks=True)


def path_for(token: str) -> str:
    return reverse("unsubscribe", kwargs={"token": token})


def suppression_events(contact: Contact):
    return ContactEvent.objects.filter(
        contact_public_id=contact.public_id, type=EventType.SUPPRESSION_CHANGED
    )


def assert_untouched(contact: Contact) -> None:
    contact.refresh_from_db()
    assert contact.unsubscribed is False
    assert contact.unsubscribed_at is None
    assert contact.unsubscribed_reason == ""
    assert not suppression_events(contact).exists()


def assert_private(response) -> None:
    assert response["X-Robots-Tag"].startswith("noindex")
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"


# --- The page ---------------------------------------------------------------------
def test_get_shows_confirmation_page_and_changes_nothing(client, contact):
    response = client.get(path_for(unsubscribe_token(contact)))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "j***@example.com" in body
    assert "jane@example.com" not in body
    assert '<form method="post">' in body
    assert "<button" in body
    assert "/admin/" not in body and "/static/" not in body  # standalone, no chrome or assets
    assert "csrfmiddlewaretoken" not in body
    assert_private(response)
    assert_untouched(contact)


def test_head_changes_nothing(client, contact):
    response = client.head(path_for(unsubscribe_token(contact)))

    assert response.status_code == 200
    assert_private(response)
    assert_untouched(contact)


def test_page_escapes_the_email(client, workspace):
    # The local part is masked; the domain is shown, escaped.
    contact = Contact.objects.create(workspace=workspace, email="x@<b>evil</b>.example.com")

    body = client.get(path_for(unsubscribe_token(contact))).content.decode()

    assert "<b>evil</b>" not in body
    assert "x***@&lt;b&gt;evil&lt;/b&gt;.example.com" in body


# --- Unsubscribing --------------------------------------------------------------
def test_form_post_unsubscribes_and_records_one_event(csrf_client, contact):
    response = csrf_client.post(
        path_for(unsubscribe_token(contact)), data={"confirm": "1"}, content_type=FORM
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "You are unsubscribed" in body
    assert "j***@example.com" in body
    assert_private(response)
    contact.refresh_from_db()
    assert contact.unsubscribed is True
    assert contact.unsubscribed_at is not None
    assert contact.unsubscribed_reason == "Unsubscribe link"
    assert contact.is_suppressed
    [event] = suppression_events(contact)
    assert event.data["flag"] == "unsubscribed"
    assert event.data["from"] is False and event.data["to"] is True
    assert event.actor_label == "system:unsubscribe-link"


def test_rfc8058_one_click_post_without_cookies_or_csrf_token(csrf_client, contact):
    response = csrf_client.post(
        path_for(unsubscribe_token(contact)), data=ONE_CLICK, content_type=FORM
    )

    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.unsubscribed is True
    assert contact.unsubscribed_reason == "One-click unsubscribe (RFC 8058)"
    [event] = suppression_events(contact)
    assert event.data["flag"] == "unsubscribed"


def test_one_click_post_as_multipart_and_empty_post_also_work(csrf_client, contact, other_contact):
    # RFC 8058 allows multipart/form-data; a POST with no body still names the
    # contact through its signed token, so it is honoured too.
    multipart = csrf_client.post(
        path_for(unsubscribe_token(contact)), data={"List-Unsubscribe": "One-Click"}
    )
    empty = csrf_client.post(path_for(unsubscribe_token(other_contact)))

    assert multipart.status_code == empty.status_code == 200
    contact.refresh_from_db()
    other_contact.refresh_from_db()
    assert contact.unsubscribed and other_contact.unsubscribed


def test_malformed_body_still_unsubscribes(csrf_client, contact):
    response = csrf_client.post(
        path_for(unsubscribe_token(contact)), data=b"--junk", content_type="multipart/form-data"
    )

    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.unsubscribed is True
    assert contact.unsubscribed_reason == "Unsubscribe link"


def test_repeated_posts_are_harmless(csrf_client, contact):
    path = path_for(unsubscribe_token(contact))
    first = csrf_client.post(path, data=ONE_CLICK, content_type=FORM)
    contact.refresh_from_db()
    unsubscribed_at = contact.unsubscribed_at

    second = csrf_client.post(path, data={"confirm": "1"}, content_type=FORM)

    assert first.status_code == second.status_code == 200
    assert "You are unsubscribed" in second.content.decode()
    contact.refresh_from_db()
    assert contact.unsubscribed_at == unsubscribed_at
    assert contact.unsubscribed_reason == "One-click unsubscribe (RFC 8058)"
    assert suppression_events(contact).count() == 1


def test_get_after_unsubscribing_says_so_without_a_button(client, csrf_client, contact):
    path = path_for(unsubscribe_token(contact))
    csrf_client.post(path, data=ONE_CLICK, content_type=FORM)

    response = client.get(path)

    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert "<form" not in response.content.decode()
    assert suppression_events(contact).count() == 1


def test_only_the_named_contact_is_unsubscribed(csrf_client, contact, other_contact):
    csrf_client.post(path_for(unsubscribe_token(contact)), data=ONE_CLICK, content_type=FORM)

    assert_untouched(other_contact)


# --- Bad tokens -------------------------------------------------------------------
def tampered_tokens(contact: Contact, other: Contact, foreign: Contact) -> dict[str, str]:
    token = unsubscribe_token(contact)
    ws_id, ct_id, signature = token.split(".")

    def flip(text: str, index: int) -> str:
        return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]

    return {
        "signature char changed": flip(token, len(token) - 5),
        "last char changed": flip(token, len(token) - 1),
        "contact id char changed": flip(token, len(ws_id) + 5),
        "workspace id char changed": flip(token, 4),
        "other contact's id, old signature": f"{ws_id}.{other.public_id}.{signature}",
        "other workspace's contact, old signature": (
            f"{foreign.workspace.public_id}.{foreign.public_id}.{signature}"
        ),
        "signature dropped": f"{ws_id}.{ct_id}",
        "truncated by one": token[:-1],
        "truncated to half": token[: len(token) // 2],
        "ids only, no signature": ct_id,
        "signed with the default salt": signing.Signer().sign(f"{ws_id}.{ct_id}"),
        "signed with a dots separator, default salt": signing.Signer(sep=".").sign(
            f"{ws_id}.{ct_id}"
        ),
        "very long": token + "A" * 5000,
    }


@pytest.mark.parametrize("method", ["get", "post"])
def test_tampered_tokens_are_404_and_change_nothing(
    client, csrf_client, contact, other_contact, foreign_contact, method
):
    for label, token in tampered_tokens(contact, other_contact, foreign_contact).items():
        assert contact_from_token(token) is None, label
        if method == "get":
            response = client.get(path_for(token))
        else:
            response = csrf_client.post(path_for(token), data=ONE_CLICK, content_type=FORM)
        assert response.status_code == 404, label
        assert "This link is not valid" in response.content.decode(), label
        assert_private(response)
    for someone in (contact, other_contact, foreign_contact):
        assert_untouched(someone)


def test_all_bad_tokens_get_the_same_answer(client, contact, other_contact, foreign_contact):
    """A forged token and a validly signed one for a deleted contact look alike."""
    deleted_token = unsubscribe_token(other_contact)
    contact_delete(contact=other_contact, actor=Actor.system("test"))
    forged = tampered_tokens(contact, other_contact, foreign_contact)["signature char changed"]

    responses = [client.get(path_for(t)) for t in (deleted_token, forged, "nonsense")]

    assert {r.status_code for r in responses} == {404}
    assert len({r.content for r in responses}) == 1


def test_token_of_deleted_contact_is_404(client, csrf_client, contact):
    token = unsubscribe_token(contact)
    contact_delete(contact=contact, actor=Actor.system("test"))

    assert contact_from_token(token) is None
    assert client.get(path_for(token)).status_code == 404
    assert csrf_client.post(path_for(token), data=ONE_CLICK, content_type=FORM).status_code == 404
    assert not ContactEvent.objects.filter(type=EventType.SUPPRESSION_CHANGED).exists()


def test_contact_from_token_refuses_non_strings_and_empty():
    assert contact_from_token("") is None
    assert contact_from_token(None) is None  # type: ignore[arg-type]


def test_contact_moved_to_another_workspace_is_404(client, contact, other_workspace):
    token = unsubscribe_token(contact)
    Contact.objects.filter(pk=contact.pk).update(workspace=other_workspace)

    assert contact_from_token(token) is None
    assert client.get(path_for(token)).status_code == 404


# --- Methods ------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["put", "delete", "patch", "options"])
def test_other_methods_are_405(client, contact, method):
    response = getattr(client, method)(path_for(unsubscribe_token(contact)))

    assert response.status_code == 405
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    assert_private(response)
    assert_untouched(contact)


# --- Tokens, URL and headers -----------------------------------------------------
def test_headers_for_outgoing_email(settings, contact):
    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    token = unsubscribe_token(contact)

    headers = unsubscribe_headers(contact)

    assert headers == {
        "List-Unsubscribe": f"<https://hub.example.com/u/{token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert unsubscribe_url(contact) == f"https://hub.example.com/u/{token}"


def test_url_round_trips_to_the_contact(settings, client, contact):
    url = unsubscribe_url(contact)

    assert url.startswith(f"{settings.PUBLIC_BASE_URL}/u/")
    path = url.removeprefix(settings.PUBLIC_BASE_URL)
    assert contact_from_token(path.removeprefix("/u/")) == contact
    assert client.get(path).status_code == 200


def test_tokens_are_url_safe_stable_and_distinct(contact, other_contact, foreign_contact):
    tokens = [unsubscribe_token(c) for c in (contact, other_contact, foreign_contact)]

    assert len(set(tokens)) == 3
    assert unsubscribe_token(contact) == tokens[0]  # stable: no expiry, no nonce
    for token in tokens:
        assert "/" not in token
        assert set(token) <= set(string.ascii_letters + string.digits + "._-")
        assert len(token) < 100
        assert "jane" not in token and "example" not in token  # no personal data


def test_tokens_survive_secret_key_rotation_with_fallbacks(settings, contact):
    token = unsubscribe_token(contact)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-for-this-test-0123456789-abcdefghijklmnop"

    assert contact_from_token(token) == contact
    settings.SECRET_KEY_FALLBACKS = []
    assert contact_from_token(token) is None
