"""The web process's entry point (Procfile `web`): Django plus the MCP server at /mcp.

config.asgi stays plain Django; this composes it with the agents app on top."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()  # sets Django up: the import below needs it

from agents.asgi import Router  # noqa: E402

application = Router(django_application)
