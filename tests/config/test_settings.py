"""Settings fail loudly on malformed values. Each case loads settings in a fresh
interpreter, exactly as a process start would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "TJTrhVDZyKgZdTWK6e-nL004YAmQQlEemlN5mT_LCOw="

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "p" * 20 + "-a-long-random-production-secret-key-0123456789",
    "ALLOWED_HOSTS": "hub.example.com",
    "FIELD_ENCRYPTION_KEYS": GOOD_KEY,
    "DATABASE_URL": "postgres://hub@db.internal:5432/hub",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
    "DEFAULT_FROM_EMAIL": "hub@example.com",
}


def load_settings(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "HTTPS"}
    env.update({"DATA_DIR": str(tmp_path), "DEBUG": "1", **overrides})
    code = (
        "import django, json; from django.conf import settings; django.setup();"
        "print(json.dumps({'debug': settings.DEBUG, 'db': settings.DATABASES['default'],"
        " 'broker': settings.CELERY_BROKER_URL, 'email': settings.EMAIL_BACKEND,"
        " 'email_tls': settings.EMAIL_USE_TLS}, default=str))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("DATABASE_URL", "not a url", "DATABASE_URL must be a URL"),
        ("DATABASE_URL", "mysql://root@localhost/hub", "DATABASE_URL must be a URL"),
        ("DATABASE_URL", "postgres://", "DATABASE_URL"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL must be a URL"),
        ("EMAIL_URL", "smtp.example.com", "EMAIL_URL must be a URL"),
        ("FIELD_ENCRYPTION_KEYS", f"{GOOD_KEY},not-a-key", "key #2 is not a valid Fernet key"),
        ("CONN_MAX_AGE", "-1", "CONN_MAX_AGE=-1 must be at least 0"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD' is not a logging level"),
        ("PUBLIC_BASE_URL", "hub.example.com", "PUBLIC_BASE_URL must be a URL"),
        ("OUTBOUND_HTTP_ALLOWLIST", "crm.internal:99999", "OUTBOUND_HTTP_ALLOWLIST: 'crm"),
        ("OUTBOUND_HTTP_ALLOWLIST", "10.0.0.0/8,not a host!", "OUTBOUND_HTTP_ALLOWLIST: 'not"),
        ("OUTBOUND_HTTP_ALLOWLIST", "[fd00::1]8080", "OUTBOUND_HTTP_ALLOWLIST: '[fd00"),
        ("PORT", "http", "PORT='http' is not an integer"),
        ("PORT", "70000", "PORT=70000 is not a TCP port"),
    ],
)
def test_it_fails_loudly_on_a_malformed_value(tmp_path, variable, value, complaint):
    overrides = {variable: value}
    if variable == "CONN_MAX_AGE":
        overrides["DATABASE_URL"] = "postgres://u@localhost:5432/x"
    result = load_settings(tmp_path, **overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr


def test_production_requires_a_secret_key_and_encryption_keys(tmp_path):
    result = load_settings(tmp_path, DEBUG="0")
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr
    result = load_settings(tmp_path, DEBUG="0", SECRET_KEY="x" * 50)
    assert "FIELD_ENCRYPTION_KEYS is required when DEBUG is off" in result.stderr


def test_embedded_defaults_use_sqlite_in_wal_mode_and_the_filesystem_broker(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"broker": "filesystem://localhost//"' in result.stdout
    assert "journal_mode=WAL" in result.stdout
    assert "IMMEDIATE" in result.stdout
    assert (tmp_path / "broker" / "queue").is_dir()
    assert (tmp_path / "broker" / "control").is_dir()


def test_urls_switch_to_postgresql_redis_and_smtp(tmp_path):
    result = load_settings(
        tmp_path,
        DATABASE_URL="postgres://hub:pw@db.internal:5433/hub",
        REDIS_URL="redis://cache.internal:6379/2",
        EMAIL_URL="smtp+tls://u:p@smtp.example.com:587",
    )
    assert result.returncode == 0, result.stderr
    assert "django.db.backends.postgresql" in result.stdout
    assert '"broker": "redis://cache.internal:6379/2"' in result.stdout
    assert "smtp.EmailBackend" in result.stdout
    assert '"email_tls": true' in result.stdout


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HTTPS"}
    env.update(PRODUCTION, DATA_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_allow_list_entries_may_name_ports(tmp_path):
    result = load_settings(
        tmp_path,
        OUTBOUND_HTTP_ALLOWLIST="crm.internal:8443, 10.1.0.0/16, 10.2.0.0/16:443, [fd00::1]:80",
        PORT="9000",
    )
    assert result.returncode == 0, result.stderr
