"""Behind a reverse proxy: the access log names the client the proxy forwarded, and only
when the request comes from a proxy TRUSTED_PROXIES names (webapp.app)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
import structlog
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.databases import make_settings
from webapp.app import create_app

PROXY = "10.0.0.5"
CLIENT = "203.0.113.7"


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "tasks.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


async def logged_client(app: Litestar, peer: str, headers: dict[str, str]) -> str | None:
    """The client address the access log writes for a request from `peer`."""
    # The test client runs the app's lifespan; the transport sets the peer's address.
    async with AsyncTestClient(app=app):
        transport = httpx.ASGITransport(app=app, client=(peer, 41000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://tasks.test") as http:
            with structlog.testing.capture_logs() as entries:
                response = await http.get("/health", headers=headers)
    assert response.status_code == 200
    (line,) = [entry for entry in entries if entry["event"] == "request"]
    client: str | None = line["client"]
    return client


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for", "logged"),
    [
        # The proxy's word is taken.
        (PROXY, PROXY, CLIENT, CLIENT),
        ("10.0.0.0/24", PROXY, CLIENT, CLIENT),
        # A client that sends its own X-Forwarded-For through the proxy: the proxy's
        # entry (the last one) counts, not what the client made up.
        (PROXY, PROXY, f"198.51.100.1, {CLIENT}", CLIENT),
        # Anyone else's forwarded headers are ignored.
        (PROXY, "10.0.0.9", CLIENT, "10.0.0.9"),
        ("", PROXY, CLIENT, PROXY),
        # No header: the peer.
        (PROXY, PROXY, None, PROXY),
    ],
    ids=[
        "proxy",
        "proxy-network",
        "client-spoofed-through-proxy",
        "untrusted",
        "none",
        "none-sent",
    ],
)
async def test_the_access_log_names_the_client_a_trusted_proxy_forwards(
    database_url: str, trusted: str, peer: str, forwarded_for: str | None, logged: str
) -> None:
    settings = make_settings(database_url, trusted_proxies=trusted, secret_key="k" * 40)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    assert await logged_client(create_app(settings), peer, headers) == logged
