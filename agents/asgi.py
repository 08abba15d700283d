"""The web process's ASGI app: /mcp to the MCP server, everything else to Django.

Django's ASGI handler does not speak the lifespan protocol; this app does, and
uses it to start and stop the MCP session manager."""

from __future__ import annotations

import contextlib
from typing import Any

from agents.server import McpApp

MCP_PATH = "/mcp"


class Router:
    def __init__(self, django_app: Any) -> None:
        self.django_app = django_app
        self.mcp = McpApp()
        self._lifespan: contextlib.AbstractAsyncContextManager | None = None

    def is_mcp(self, scope: dict) -> bool:
        path = scope.get("path", "")
        return path == MCP_PATH or path.startswith(MCP_PATH + "/")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.serve_lifespan(receive, send)
        elif scope["type"] == "http" and self.is_mcp(scope):
            await self.mcp(scope, receive, send)
        else:
            await self.django_app(scope, receive, send)

    async def serve_lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._lifespan = self.mcp.lifespan()
                    await self._lifespan.__aenter__()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._lifespan is not None:
                    await self._lifespan.__aexit__(None, None, None)
                    self._lifespan = None
                await send({"type": "lifespan.shutdown.complete"})
                return
