"""Reading settings from the environment.

Every helper fails loudly with ImproperlyConfigured on a malformed value: a typo
in production must stop the process at start-up, not surface as odd behaviour
hours later. settings.py is the only caller.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.allowlist import AllowlistError, parse_entries

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql"}
REDIS_SCHEMES = {"redis", "rediss"}
EMAIL_SCHEMES = {
    "smtp",
    "smtps",
    "smtp+tls",
    "smtp+ssl",
    "consolemail",
    "filemail",
    "memorymail",
    "dummymail",
}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off."
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}.")
    return number


def env_port(name: str, default: int) -> int:
    number = env_int(name, default, minimum=1)
    if number > 65535:
        raise ImproperlyConfigured(f"{name}={number} is not a TCP port (1 to 65535).")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int_map(name: str, default: dict[str, int], *, minimum: int = 1) -> dict[str, int]:
    """`key=number` pairs, comma-separated (e.g. `twilio=16,linkedin=8`)."""
    value = _raw(name)
    if value is None:
        return dict(default)
    found: dict[str, int] = {}
    for item in value.split(","):
        key, sep, number = item.strip().partition("=")
        if not item.strip():
            continue
        if not sep or not key.strip():
            raise ImproperlyConfigured(f"{name}: {item.strip()!r} is not key=number.")
        try:
            found[key.strip()] = int(number)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {number.strip()!r} is not an integer.") from None
        if found[key.strip()] < minimum:
            raise ImproperlyConfigured(f"{name}: {key.strip()} must be at least {minimum}.")
    return found


def outbound_allowlist(name: str) -> list[str]:
    """Comma-separated `host`, `*.suffix`, `IP`, `CIDR` or `[IPv6]` entries, each with an
    optional `:port` (grammar in config.allowlist), checked here so a typo stops the
    process instead of refusing (or allowing) ApiCalls later."""
    entries = env_list(name, [])
    try:
        parse_entries(entries)
    except AllowlistError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
    return entries


def _scheme(name: str, url: str, allowed: set[str]) -> str:
    scheme = urlsplit(url).scheme.lower()
    if "://" not in url or scheme not in allowed:
        raise ImproperlyConfigured(
            f"{name} must be a URL with one of the schemes {sorted(allowed)}; got {url!r}."
        )
    return scheme


def url(name: str, default: str) -> str:
    """An absolute http(s) base URL, without a trailing slash."""
    value = env_str(name, default)
    assert value is not None
    _scheme(name, value, {"http", "https"})
    if not urlsplit(value).netloc:
        raise ImproperlyConfigured(f"{name}={value!r} names no host.")
    return value.rstrip("/")


def database_config(name: str, default: str) -> dict:
    """Parse DATABASE_URL (``postgres://user@host:5432/db`` or ``sqlite:////abs/path``)."""
    url = env_str(name, default)
    assert url is not None
    scheme = _scheme(name, url, DATABASE_SCHEMES)
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # environ raises a zoo of types on junk
        raise ImproperlyConfigured(f"{name}={url!r} cannot be parsed: {exc}") from exc
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name}={url!r} names no database.")
    if scheme != "sqlite" and not config.get("HOST"):
        raise ImproperlyConfigured(f"{name}={url!r} names no host.")
    return config


def redis_url(name: str) -> str | None:
    url = env_str(name)
    if url is not None:
        _scheme(name, url, REDIS_SCHEMES)
    return url


def email_config(name: str, default: str) -> dict:
    """Parse EMAIL_URL the django-environ way (``smtp+tls://user:pass@host:587``)."""
    url = env_str(name, default)
    assert url is not None
    _scheme(name, url, EMAIL_SCHEMES)
    try:
        return environ.Env.email_url_config(url)
    except Exception as exc:
        raise ImproperlyConfigured(f"{name}={url!r} cannot be parsed: {exc}") from exc


def fernet_keys(name: str, fallback: list[str] | None) -> list[str]:
    """Comma-separated Fernet keys: the first encrypts, all decrypt (rotation)."""
    keys = env_list(name, [])
    if not keys:
        if fallback is None:
            raise ImproperlyConfigured(
                f"{name} is required when DEBUG is off: generate one with "
                '`python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"`.'
            )
        return fallback
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{name}: key #{position} is not a valid Fernet key (32 url-safe base64 bytes)."
            ) from None
    return keys
