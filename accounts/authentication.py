"""`Authorization: Bearer <key>` for every REST facade."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import ApiKey
from accounts.selectors import api_key_from_token
from accounts.services import api_key_touch


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[object, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None  # no credentials: IsAuthenticated answers 401
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: use 'Bearer <api key>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid API key.") from None
        key = api_key_from_token(token)
        if key is None:
            raise AuthenticationFailed("Invalid or revoked API key.")
        api_key_touch(api_key=key)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        # Having a challenge makes DRF answer 401, not 403, without credentials.
        return 'Bearer realm="api"'
