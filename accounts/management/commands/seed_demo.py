from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.demo import seed_accounts
from contacts.demo import seed_contacts
from outreach.demo import seed_outreach


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the admin login and an all-scope API key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Base URL to print.")

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            creds = seed_accounts()
            seed_contacts(workspace=creds.workspace)
            seed_outreach(workspace=creds.workspace, user=creds.user)
        url = options["url"].rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Service   {url}/",
                    f"  Admin     {url}/admin/   login: {creds.username} / {creds.password}",
                    f"  API docs  {url}/api/docs/",
                    f"  API key   {creds.api_key}",
                    f"  Try it    curl -H 'Authorization: Bearer {creds.api_key}' {url}/v1/me",
                    "",
                ]
            )
        )
