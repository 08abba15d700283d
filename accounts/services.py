"""Every write to workspaces, memberships and API keys goes through here."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import API_KEY_PREFIX, ApiKey, Membership, Role, Scope, Workspace
from config.exceptions import Conflict, ValidationFailed

# A key's last_used_at is refreshed at most this often, so a busy integration
# does not turn every read into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_secret(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough: there is nothing
    # to brute-force, and lookups stay cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(raw: str | list[str]) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    scopes = [item.strip() for item in items if item and item.strip()]
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValidationFailed(
            f"Unknown scope(s): {', '.join(unknown)}. Valid scopes: {', '.join(Scope.values)}.",
            fields={"scopes": [f"Unknown scope {s!r}." for s in unknown]},
        )
    if not scopes:
        raise ValidationFailed("At least one scope is required.", fields={"scopes": ["Required."]})
    return sorted(set(scopes), key=Scope.values.index)


def workspace_get_or_create(*, name: str, timezone_name: str = "UTC") -> tuple[Workspace, bool]:
    return Workspace.objects.get_or_create(name=name, defaults={"timezone": timezone_name})


def user_get_or_create(*, email: str) -> tuple[AbstractUser, bool]:
    User = get_user_model()
    email = User.objects.normalize_email(email).strip()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        return user, False
    user = User.objects.create_user(username=email.lower(), email=email)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return user, True


def membership_ensure(*, workspace: Workspace, user: AbstractUser, role: Role | None) -> Membership:
    """Make `user` a member. A given role is applied; None keeps an existing one
    (a new membership then gets the member role)."""
    membership, created = Membership.objects.get_or_create(
        workspace=workspace, user=user, defaults={"role": role or Role.MEMBER}
    )
    if not created and role is not None and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def api_key_create(
    *, workspace: Workspace, user: AbstractUser, name: str, scopes: list[str]
) -> tuple[ApiKey, str]:
    """Create a key and return it with the full secret, which is never stored."""
    scopes = parse_scopes(scopes)
    if not Membership.objects.filter(workspace=workspace, user=user).exists():
        raise ValidationFailed(
            "The key's user is not a member of the workspace.",
            fields={"user": ["Not a member of this workspace."]},
        )
    for _ in range(5):
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    workspace=workspace,
                    user=user,
                    name=name,
                    scopes=scopes,
                    prefix=prefix,
                    secret_hash=hash_secret(secret),
                )
        except IntegrityError:  # prefix collision, vanishingly rare: draw again
            continue
        return key, f"{API_KEY_PREFIX}_{prefix}_{secret}"
    raise RuntimeError("Could not draw a unique API key prefix.")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    now = timezone.now()
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
    if updated == 0:
        raise Conflict("This API key is already revoked.", code="already_revoked")
    api_key.revoked_at = now
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use. One conditional UPDATE per request whatever the outcome, so
    a request's query count does not depend on when the key was last used."""
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)


def api_keys_purge_revoked(*, older_than: timedelta = timedelta(days=90)) -> int:
    deleted, _ = ApiKey.objects.filter(revoked_at__lt=timezone.now() - older_than).delete()
    return deleted


def membership_approval_emails_set(*, membership: Membership, enabled: bool) -> Membership:
    """Turn a reviewer's approval request emails on or off (the admin, or the
    signed link in every approval email's footer). Idempotent."""
    Membership.objects.filter(pk=membership.pk).update(approval_emails=enabled)
    membership.approval_emails = enabled
    return membership
