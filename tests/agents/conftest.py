"""A live server for the MCP tests: uvicorn in a thread serving the same ASGI app
as the Procfile's web process (Django plus /mcp), on a free loopback port,
against the test database; and a helper that drives it with the mcp package's
own client over streamable HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx2
import pytest
import uvicorn
from asgiref.sync import SyncToAsync
from django.core.asgi import get_asgi_application
from django.db import connections
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from agents.asgi import Router


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mcp_url(transactional_db) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(
        Router(get_asgi_application()),
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        # The server's ORM calls ran in asgiref's thread for thread-sensitive
        # code; its connection (kept for CONN_MAX_AGE on PostgreSQL) would keep
        # the test database from being dropped.
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()


Session = Callable[[ClientSession], Awaitable[Any]]


@pytest.fixture
def mcp_session(mcp_url) -> Callable[[str, Session], Any]:
    """`mcp_session(api_key, body)` connects with the key and returns `body(session)`."""

    def run(api_key: str, body: Session) -> Any:
        async def main() -> Any:
            headers = {"Authorization": f"Bearer {api_key}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=30) as http,
                streamable_http_client(mcp_url, http_client=http) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                return await body(session)

        return asyncio.run(main())

    return run
