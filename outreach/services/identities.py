"""Every change to identities (the senders: a mailbox, a number, a LinkedIn
profile) goes through here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Workspace
from config.exceptions import Conflict, ValidationFailed
from contacts.normalise import LINKEDIN_PROFILE, normalise_email, normalise_phone
from outreach.models import Identity, IdentityChannel


def identity_clean_address(channel: str, address: str) -> str:
    try:
        if channel == IdentityChannel.EMAIL:
            return normalise_email(address)
        if channel in (IdentityChannel.SMS, IdentityChannel.PHONE):
            return normalise_phone(address)
        if channel == IdentityChannel.LINKEDIN:
            if not LINKEDIN_PROFILE.match(address.strip()):
                raise ValidationFailed(
                    "Must be a LinkedIn profile URL (https://www.linkedin.com/in/…)."
                )
            return address.strip()
    except ValidationFailed as exc:
        raise ValidationFailed(
            "Invalid identity address.", fields={"address": [exc.message]}
        ) from None
    raise ValidationFailed(
        f"Unknown channel {channel!r}.",
        fields={"channel": [f"Valid channels: {', '.join(IdentityChannel.values)}."]},
    )


def identity_create(
    *,
    workspace: Workspace,
    channel: str,
    address: str,
    display_name: str = "",
    owner: AbstractBaseUser | None = None,
    daily_limit: int | None = None,
    window_days: list[int] | None = None,
    window_start: dt.time | None = None,
    window_end: dt.time | None = None,
    timezone_name: str = "",
) -> Identity:
    address = identity_clean_address(channel, address)
    identity = Identity(
        workspace=workspace,
        channel=channel,
        address=address,
        display_name=display_name,
        owner=owner,
        daily_limit=daily_limit,
        window_start=window_start,
        window_end=window_end,
        timezone=timezone_name,
    )
    if window_days is not None:
        identity.window_days = sorted(set(window_days))
    try:
        with transaction.atomic():
            identity.save()
    except IntegrityError:
        raise Conflict(
            f"A {channel} identity with address {address} already exists.",
            code="duplicate_identity",
        ) from None
    return identity


IDENTITY_EDITABLE = {
    "display_name",
    "address",
    "daily_limit",
    "window_days",
    "window_start",
    "window_end",
    "timezone",
}


def identity_update(*, identity: Identity, changes: dict[str, Any]) -> Identity:
    unknown = set(changes) - IDENTITY_EDITABLE
    if unknown:
        raise ValidationFailed(fields={k: ["Not editable."] for k in sorted(unknown)})
    if "address" in changes:
        changes["address"] = identity_clean_address(identity.channel, changes["address"])
    if "window_days" in changes and changes["window_days"] is not None:
        changes["window_days"] = sorted(set(changes["window_days"]))
    for field, value in changes.items():
        setattr(identity, field, value)
    try:
        with transaction.atomic():
            identity.save()
    except IntegrityError:
        raise Conflict(
            "Another identity already has this address.", code="duplicate_identity"
        ) from None
    return identity


def identity_deactivate(*, identity: Identity) -> Identity:
    updated = Identity.objects.filter(pk=identity.pk, is_active=True).update(
        is_active=False, updated_at=timezone.now()
    )
    if not updated:
        raise Conflict("This identity is already deactivated.", code="already_deactivated")
    identity.is_active = False
    return identity
