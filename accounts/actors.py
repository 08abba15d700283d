"""Who did something, for audit trails: a person in the admin, an API key, or
the system itself."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from accounts.models import ApiKey


@dataclass(frozen=True)
class Actor:
    label: str
    user: AbstractBaseUser | None = None
    api_key: ApiKey | None = None

    @classmethod
    def for_api_key(cls, key: ApiKey) -> Actor:
        return cls(
            label=f"api:{key.public_id} ({key.user.get_username()})", user=key.user, api_key=key
        )

    @classmethod
    def for_user(cls, user: AbstractBaseUser) -> Actor:
        return cls(label=f"admin:{user.get_username()}", user=user)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(label=f"system:{name}")
