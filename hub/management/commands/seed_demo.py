from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.demo import seed_accounts
from automations.demo import seed_automations
from config.progress import progress
from contacts.demo import seed_contacts
from outreach.demo import seed_outreach


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the admin login and an all-scope API key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Base URL to print.")

    def handle(self, *args, **options) -> None:
        # Progress on stderr (a redrawn bar on a terminal, a line per step in logs);
        # the credentials below on stdout.
        with transaction.atomic(), progress(total=4, label="Loading demo data") as bar:
            creds = seed_accounts()
            bar.advance()
            seed_contacts(workspace=creds.workspace)
            bar.advance()
            seed_outreach(workspace=creds.workspace, user=creds.user)
            bar.advance()
            automations = seed_automations(workspace=creds.workspace)
            bar.advance()
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
                    # The README's tour runs its curl examples with these two set.
                    f"  Tour      export HUB={url} KEY={creds.api_key}",
                    # The ids the AnswerPal examples name (automations.demo), when free.
                    f"  Settings  {url}/api/Actions/{automations.action_id} (Call CRM), "
                    f"topic {automations.topic_id} (Billing), "
                    f"channel {automations.channel_id} (Support inbox)",
                    "",
                ]
            )
        )
