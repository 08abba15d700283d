"""The MCP server at /mcp: streamable HTTP (stateless, JSON responses) on the
official `mcp` package's low-level server, behind a bearer-key guard.

- The guard (`McpAuthGuard`) resolves `Authorization: Bearer <key>` with the
  same lookup as the REST API (accounts.selectors.api_key_from_token) and
  answers 401 before the MCP app sees the request; the caller is handed to the
  handlers in a context variable (the MCP SDK's own auth middleware does the
  same), which the per-request server task inherits.
- Handlers run the tools synchronously in Django's thread (asgiref's
  sync_to_async, thread-sensitive), each as one REST request (agents.dispatch).
- Stateless: any web worker can answer any request, so gunicorn may run several.
  There is no session stream to push `notifications/tools/list_changed` on; the
  tool list is read anew on every `tools/list`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
from asgiref.sync import sync_to_async
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from accounts.selectors import api_key_from_token
from accounts.services import api_key_touch
from agents import tools
from agents.dispatch import Answer, Caller

CALLER: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("mcp_caller", default=None)


def _caller() -> Caller:
    caller = CALLER.get()
    if caller is None:  # the guard always sets it; never serve without one
        raise PermissionError("No authenticated caller.")
    return caller


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def _result(answer: Answer) -> types.CallToolResult:
    if answer.ok:
        body = answer.body if isinstance(answer.body, dict) else {"result": answer.body}
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=_json(body))], structured_content=body
        )
    error = tools.error_of(answer)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=tools.describe_error(error))],
        structured_content={"status": "error", "error": error},
        is_error=True,
    )


async def list_tools(
    ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    found = await sync_to_async(tools.all_tools)(_caller())
    return types.ListToolsResult(
        tools=[
            types.Tool(name=t.name, description=t.description, input_schema=t.input_schema)
            for t in found
        ]
    )


async def call_tool(
    ctx: ServerRequestContext, params: types.CallToolRequestParams
) -> types.CallToolResult:
    arguments = params.arguments or {}
    answer = await sync_to_async(tools.call_tool)(_caller(), params.name, dict(arguments))
    return _result(answer)


async def list_resources(
    ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
) -> types.ListResourcesResult:
    actions = await sync_to_async(tools.recent_actions)(_caller())
    return types.ListResourcesResult(
        resources=[
            types.Resource(
                name=a["id"],
                title=f"{a['type']} ({a['status']})",
                uri=f"action://{a['id']}",
                mime_type="application/json",
            )
            for a in actions
        ]
    )


async def list_resource_templates(
    ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(
        resource_templates=[
            types.ResourceTemplate(
                name=name, uri_template=uri, description=description, mime_type="application/json"
            )
            for uri, name, description in tools.RESOURCE_TEMPLATES
        ]
    )


async def read_resource(
    ctx: ServerRequestContext, params: types.ReadResourceRequestParams
) -> types.ReadResourceResult:
    uri = str(params.uri)
    answer = await sync_to_async(tools.read_resource)(_caller(), uri)
    if not answer.ok:
        raise ValueError(tools.describe_error(tools.error_of(answer)))
    return types.ReadResourceResult(
        contents=[
            types.TextResourceContents(
                uri=uri, mime_type="application/json", text=_json(answer.body)
            )
        ]
    )


def build_server() -> Server:
    return Server(
        "outreach-hub",
        version="1",
        instructions=(
            "Propose outreach actions (they wait for a human's approval), follow them, "
            "look up identities and contacts, and run the workspace's function tools."
        ),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
    )


def _resolve_key(token: str) -> Any:
    key = api_key_from_token(token)
    if key is not None:
        api_key_touch(api_key=key)
    return key


async def _refuse(send: Any, message: str) -> None:
    body = json.dumps(
        {
            "status": "error",
            "error": {"code": "not_authenticated", "message": message, "fields": {}},
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="api"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class McpApp:
    """ASGI app for /mcp: the bearer guard, then the MCP session manager. Its
    `lifespan()` must be entered (by the enclosing ASGI app's lifespan) before it
    serves."""

    def __init__(self) -> None:
        self.server = build_server()
        self.manager = StreamableHTTPSessionManager(
            app=self.server, json_response=True, stateless=True
        )

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self.manager.run():
            yield

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        parts = headers.get("authorization", "").split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            await _refuse(send, "Authentication required: send 'Authorization: Bearer <api key>'.")
            return
        key = await sync_to_async(_resolve_key)(parts[1])
        if key is None:
            await _refuse(send, "Invalid or revoked API key.")
            return
        caller = Caller(
            token=parts[1],
            host=headers.get("host", "localhost"),
            scheme=scope.get("scheme", "http"),
            api_key=key,
        )
        reset = CALLER.set(caller)
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            CALLER.reset(reset)
