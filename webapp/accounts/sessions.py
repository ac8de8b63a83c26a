"""Server-side sessions: the cookie holds only a random id; what it stands for lives in a
store. Redis when REDIS_URL is set (any replica serves any user), else files next to the
SQLite database (a restart does not log anyone out; `var/sessions` for MySQL without Redis).

Litestar's server-side sessions, with two changes (`SessionBackend`):
- the id rotates when someone logs in (and when a password changes), so an id planted in
  a browser before log-in (session fixation) is worth nothing after it;
- a visitor with nothing in their session gets no cookie and no stored session, so that
  anonymous requests cannot fill the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore
from litestar.types import Empty, Message, Scope, ScopeSession
from sqlalchemy import make_url

from webapp.settings import VAR_DIR, Settings
from webapp.web.security import NO_BROWSER_STATE

SESSION_COOKIE = "tasks_session"
SESSION_STORE = "sessions"
# What a signed-in session holds (besides one-time messages).
SESSION_ACCOUNT = "account"
SESSION_EPOCH = "epoch"
# A session flagged with this gets a new id when the response is sent.
_ROTATE = "_rotate"
_NEW_ID = "tasks.new_session_id"


def start_session(request: Request[Any, Any, Any], account_id: UUID, epoch: int) -> None:
    """Sign the browser in as `account_id`, under a new session id (sent with the
    response; the old id is dropped)."""
    request.set_session({SESSION_ACCOUNT: account_id.hex, SESSION_EPOCH: epoch, _ROTATE: True})


def end_session(request: Request[Any, Any, Any]) -> None:
    """Sign the browser out: the session is deleted from the store, the cookie dropped."""
    request.clear_session()


def session_account(session: dict[str, Any]) -> tuple[UUID, int] | None:
    """The account and epoch a session names, if it names one."""
    try:
        return UUID(hex=session[SESSION_ACCOUNT]), int(session[SESSION_EPOCH])
    except (KeyError, TypeError, ValueError):
        return None


class SessionBackend(ServerSideSessionBackend):
    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        new_id: str | None = connection.scope.get(_NEW_ID)  # type: ignore[assignment]
        return new_id or super().get_session_id(connection)

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        scope: Scope = connection.scope
        had_cookie = self.config.key in connection.cookies
        if isinstance(scope_session, dict):
            if scope_session.pop(_ROTATE, False):
                if had_cookie:
                    store = self.config.get_store_from_app(scope["app"])
                    await self.delete(connection.cookies[self.config.key], store)
                scope[_NEW_ID] = self.generate_session_id()  # type: ignore[literal-required]
            if not scope_session:
                scope_session = Empty
        if scope_session is Empty:
            if had_cookie:
                await self._end(connection, message)
            return  # nothing stored, nothing to forget: no cookie
        await super().store_in_message(scope_session, message, connection)

    async def _end(self, connection: ASGIConnection[Any, Any, Any, Any], message: Message) -> None:
        """Delete the session and the cookie. Litestar's own answer sets the cookie to
        "null" with an Expires in the past but the configured Max-Age, and Max-Age wins
        (RFC 6265): browsers would keep sending "null"."""
        store = self.config.get_store_from_app(connection.scope["app"])
        await self.delete(connection.cookies[self.config.key], store)
        cookie = Cookie(
            key=self.config.key,
            value="",
            max_age=0,
            path=self.config.path,
            domain=self.config.domain,
            secure=self.config.secure,
            httponly=self.config.httponly,
            samesite=self.config.samesite,
        )
        MutableScopeHeaders.from_message(message).add("Set-Cookie", cookie.to_header(header=""))


@dataclass
class SessionConfig(ServerSideSessionConfig):
    _backend_class = SessionBackend


def session_config(settings: Settings) -> SessionConfig:
    return SessionConfig(
        key=SESSION_COOKIE,
        store=SESSION_STORE,
        max_age=settings.session_max_age_days * 24 * 3600,
        # Each visit pushes the end back: a session ends after the days of no use.
        renew_on_access=True,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        exclude=NO_BROWSER_STATE,
    )


def local_session_store(settings: Settings) -> Store:
    """Where sessions live without Redis: files beside the SQLite database (or in
    var/sessions); in memory for an in-memory database."""
    if not settings.is_sqlite:
        return FileStore(VAR_DIR / "sessions", create_directories=True)
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        return MemoryStore()
    return FileStore(Path(database).parent / "sessions", create_directories=True)
