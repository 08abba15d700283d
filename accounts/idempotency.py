"""`Idempotency-Key` for POST endpoints (Stripe's semantics).

- Same key, same request: the first response is replayed (with
  `Idempotent-Replayed: true`).
- Same key, another request (method, path or body): 422.
- Same key while the first request still runs: 409.
- Keys are per workspace and kept 24 hours. A 5xx is not stored, so the client
  can retry with the same key. A reservation left by a crashed process is taken
  over after IN_PROGRESS_TIMEOUT.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import IdempotencyKey
from config.exceptions import Conflict, Unprocessable, ValidationFailed, normalise, render_error

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
IN_PROGRESS_TIMEOUT = timedelta(minutes=5)


def fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    raw = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _reserve(workspace, key: str, print_: str) -> IdempotencyKey | Response:
    """Insert the reservation, or answer from the existing row."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                workspace=workspace,
                key=key,
                fingerprint=print_,
                created_at=now,
                expires_at=now + TTL,
            )
    except IntegrityError:
        pass
    with transaction.atomic():
        row = IdempotencyKey.objects.select_for_update().get(workspace=workspace, key=key)
        abandoned = not row.completed and row.created_at < now - IN_PROGRESS_TIMEOUT
        if row.expires_at <= now or abandoned:
            # Expired or orphaned: take the key over for this request.
            row.fingerprint, row.completed = print_, False
            row.response_status, row.response_body = None, None
            row.created_at, row.expires_at = now, now + TTL
            row.save()
            return row
    if row.fingerprint != print_:
        raise Unprocessable(
            "This Idempotency-Key was used with a different request.",
            code="idempotency_key_reused",
        )
    if not row.completed:
        raise Conflict(
            "A request with this Idempotency-Key is still in progress.",
            code="idempotency_key_in_progress",
        )
    replay = Response(row.response_body, status=row.response_status)
    replay["Idempotent-Replayed"] = "true"
    return replay


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a POST handler of a WorkspaceScopedMixin view."""

    @functools.wraps(view_method)
    def wrapper(self, request: Request, *args, **kwargs) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not key.strip() or len(key) > 255:
            raise ValidationFailed(
                "Idempotency-Key must be 1 to 255 characters.",
                fields={HEADER: ["Must be 1 to 255 characters."]},
            )
        reserved = _reserve(self.workspace, key, fingerprint(request))
        if isinstance(reserved, Response):
            return reserved
        try:
            response = view_method(self, request, *args, **kwargs)
        except Exception as exc:
            # Domain errors (4xx) are final answers and replay like successes;
            # anything else frees the key for a retry.
            error = normalise(exc)
            if error is None or error.status >= 500:
                IdempotencyKey.objects.filter(pk=reserved.pk).delete()
            else:
                _complete(reserved, error.status, render_error(request.path, error))
            raise
        if response.status_code >= 500:
            IdempotencyKey.objects.filter(pk=reserved.pk).delete()
        else:
            _complete(reserved, response.status_code, response.data)
        return response

    return wrapper


def _complete(row: IdempotencyKey, status: int, body) -> None:
    IdempotencyKey.objects.filter(pk=row.pk).update(
        completed=True, response_status=status, response_body=body
    )


def purge_expired() -> int:
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
