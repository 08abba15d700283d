"""Create an API key, making the workspace, user and membership if absent.

    python manage.py create_api_key --workspace Acme --email ops@acme.test --admin \
        --scopes actions:read,actions:write

The key is the only line on stdout, so `KEY=$(python manage.py create_api_key ...)` works.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import services
from accounts.models import Role
from config.exceptions import DomainError


class Command(BaseCommand):
    help = "Create an API key (and the workspace, user and membership if absent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workspace", required=True, help="Workspace name.")
        parser.add_argument("--email", required=True, help="The key's user.")
        parser.add_argument("--admin", action="store_true", help="Make the user a workspace admin.")
        parser.add_argument(
            "--scopes", required=True, help="Comma-separated, e.g. actions:read,actions:write."
        )
        parser.add_argument("--name", default="cli", help="A label for the key.")

    def handle(self, *args, **options) -> None:
        try:
            scopes = services.parse_scopes(options["scopes"])
            with transaction.atomic():
                workspace, _ = services.workspace_get_or_create(name=options["workspace"])
                user, _ = services.user_get_or_create(email=options["email"])
                services.membership_ensure(
                    workspace=workspace, user=user, role=Role.ADMIN if options["admin"] else None
                )
                _, secret = services.api_key_create(
                    workspace=workspace, user=user, name=options["name"], scopes=scopes
                )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(secret)
