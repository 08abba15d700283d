"""Demo data for `make run`: a workspace, an admin who can log in, and a key.

Idempotent: the generated password and key are kept in DATA_DIR/demo.json (mode
0600) so every run prints working credentials without creating duplicates.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from accounts import services
from accounts.models import Role, Scope, Workspace
from accounts.selectors import api_key_from_token

DEMO_WORKSPACE = "Demo workspace"
DEMO_USERNAME = "admin"
DEMO_EMAIL = "admin@example.com"


@dataclass
class DemoCredentials:
    workspace: Workspace
    user: AbstractBaseUser
    username: str
    password: str
    api_key: str


def _state_file() -> Path:
    return Path(settings.DATA_DIR) / "demo.json"


def _load_state() -> dict:
    try:
        return json.loads(_state_file().read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _save_state(state: dict) -> None:
    path = _state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle)


def seed_accounts() -> DemoCredentials:
    state = _load_state()
    workspace, _ = services.workspace_get_or_create(name=DEMO_WORKSPACE)

    User = get_user_model()
    user = User.objects.filter(username=DEMO_USERNAME).first()
    password = state.get("password") or secrets.token_urlsafe(12)
    if user is None:
        user = User.objects.create_superuser(DEMO_USERNAME, DEMO_EMAIL, password)
    elif not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    services.membership_ensure(workspace=workspace, user=user, role=Role.ADMIN)

    token = state.get("api_key")
    key = api_key_from_token(token) if token else None
    if key is None or key.workspace_id != workspace.pk or set(key.scopes) != set(Scope.values):
        _, token = services.api_key_create(
            workspace=workspace, user=user, name="demo (all scopes)", scopes=list(Scope.values)
        )
    _save_state({"password": password, "api_key": token})
    return DemoCredentials(workspace, user, DEMO_USERNAME, password, token)
