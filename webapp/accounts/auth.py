"""Authentication at the doors: who a request comes from, and the guard that turns away
anyone who is nobody.

- `/api`: `Authorization: Bearer tsk_...`, a personal token (`webapp.accounts.tokens`).
- pages: the server-side session (`webapp.accounts.sessions`), which names the account and
  the session epoch it was made in; a password change moves the account's epoch on and
  so ends every older session.

Either way the result is a `SignedIn` in `scope["user"]`, from which the services get
their `Caller`. Lookups are cached in this process for AUTH_CACHE_SECONDS: a hit costs
no database query, and a revoked token, a disabled or deleted account, or a session
ended by a password change stops working on every process within that time.
Authorisation is not decided here: the services scope every query to the caller.

Every route needs a signed-in caller except those marked public (`webapp.web.security.
PUBLIC`: the sign-up and log-in pages, the invite link, probes, static files, the API
document).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode
from uuid import UUID

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_303_SEE_OTHER
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from webapp.accounts import secrets
from webapp.accounts.caller import Caller
from webapp.accounts.models import Account, ApiToken
from webapp.accounts.schemas import AccountRead
from webapp.accounts.service import to_read
from webapp.accounts.sessions import session_account
from webapp.clock import utcnow
from webapp.web.pages import current_page
from webapp.web.problems import error_response
from webapp.web.security import PUBLIC_OPT_KEY

AUTH_CACHE_SECONDS = 5.0
# A token's last use is written at most this often (not on every request).
LAST_USED_EVERY = datetime.timedelta(minutes=1)
API_PREFIX = "/api"
# Set in the scope when a bearer token was presented but is not valid (RFC 6750's
# `error="invalid_token"` in the 401's WWW-Authenticate).
TOKEN_REFUSED = "tasks.token_refused"  # noqa: S105  (a scope key)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The account a request comes from, and how it proved it (a token, or a session)."""

    account: AccountRead
    token_id: UUID | None = None

    @property
    def caller(self) -> Caller:
        return Caller(account_id=self.account.id, is_admin=self.account.is_admin)


K = TypeVar("K")
V = TypeVar("V")


class ShortMemory(Generic[K, V]):
    """What was looked up lately, for AUTH_CACHE_SECONDS (negative answers too)."""

    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]], *, fresh: bool = False) -> V:
        """The value remembered for `key`, else (or if `fresh`) what `load()` says now."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now and not fresh:
            return entry[1]
        value = await load()
        if len(self._entries) >= self._max_entries:
            # Many distinct keys (a token-guessing flood): start over rather than grow.
            self._entries.clear()
        self._entries[key] = (now + self._seconds, value)
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)


class Authenticator:
    """Turns a token or a session into a SignedIn (or None), with a short memory."""

    def __init__(self, engine: AsyncEngine, cache_seconds: float = AUTH_CACHE_SECONDS) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._by_token: ShortMemory[str, SignedIn | None] = ShortMemory(cache_seconds)
        self._by_account: ShortMemory[UUID, tuple[SignedIn, int] | None] = ShortMemory(
            cache_seconds
        )

    async def by_token(self, token: str) -> SignedIn | None:
        if not secrets.looks_like(token, secrets.TOKEN_PREFIX):
            return None
        digest = secrets.digest(token)
        return await self._by_token.get(digest, lambda: self._load_token(digest))

    async def _load_token(self, digest: str) -> SignedIn | None:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ApiToken.id, ApiToken.last_used_at, Account)
                    .join(Account, Account.id == ApiToken.account_id)
                    .where(ApiToken.token_hash == digest, Account.disabled_at.is_(None))
                )
            ).one_or_none()
            if row is None:
                return None
            token_id, last_used_at, account = row
            await _note_use(session, token_id, last_used_at)
            return SignedIn(account=to_read(account), token_id=token_id)

    async def by_session(self, account_id: UUID, epoch: int) -> SignedIn | None:
        def load() -> Awaitable[tuple[SignedIn, int] | None]:
            return self._load_account(account_id)

        found = await self._by_account.get(account_id, load)
        if found is not None and found[1] < epoch:
            # A session newer than what this process remembers (the password was just
            # changed, maybe through another process): ask the database.
            found = await self._by_account.get(account_id, load, fresh=True)
        if found is None or found[1] != epoch:
            return None
        return found[0]

    def forget(self, account_id: UUID) -> None:
        """Drop what this process remembers of an account (it was just changed here)."""
        self._by_account.forget(account_id)

    async def _load_account(self, account_id: UUID) -> tuple[SignedIn, int] | None:
        async with self._sessions() as session:
            account = await session.get(Account, account_id)
            if account is None or account.disabled_at is not None:
                return None
            return SignedIn(account=to_read(account)), account.session_epoch


def forget_account(request: Request[Any, Any, Any], account_id: UUID) -> None:
    """After a change to an account through this process, its next request here sees it
    (other processes within AUTH_CACHE_SECONDS)."""
    authenticator: Authenticator = request.app.state.authenticator
    authenticator.forget(account_id)


async def _note_use(
    session: AsyncSession, token_id: UUID, last_used_at: datetime.datetime | None
) -> None:
    now = utcnow()
    if last_used_at is not None and now - last_used_at < LAST_USED_EVERY:
        return
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    await session.commit()


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


class Authentication(ASGIMiddleware):
    """Puts the request's SignedIn (or None) in `scope["user"]`. Runs inside the session
    middleware, whose session it reads."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        authenticator: Authenticator = scope["litestar_app"].state.authenticator
        signed_in = None
        if is_api(scope["path"]):
            token = bearer_token(scope)
            if token is not None:
                signed_in = await authenticator.by_token(token)
                if signed_in is None:
                    scope[TOKEN_REFUSED] = True  # type: ignore[literal-required]
        else:
            session = scope.get("session")
            named = session_account(session) if isinstance(session, dict) else None
            if named is not None:
                signed_in = await authenticator.by_session(*named)
                if signed_in is None:
                    # Ended by a password change, or its account is gone or disabled.
                    session.clear()  # type: ignore[union-attr]
        scope["user"] = signed_in
        await next_app(scope, receive, send)


class NotSignedIn(NotAuthorizedException):
    """No valid credentials: /api answers 401, pages send the browser to log in."""


async def require_signed_in(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The app's guard: every route but the public ones needs a signed-in caller. OPTIONS
    only says which methods a path takes, which the API document says to anyone anyway.

    `async def` although it never awaits: Litestar runs a plain `def` guard in a worker
    thread, a hand-off to the thread pool and back on every request (see
    docs/benchmarks.md)."""
    if handler.opt.get(PUBLIC_OPT_KEY) or connection.scope.get("method") == "OPTIONS":
        return
    if connection.scope.get("user") is None:
        raise NotSignedIn("log in (pages) or send Authorization: Bearer <token> (/api)")


LOGIN_PATH = "/login"


def not_signed_in(request: Request[Any, Any, Any], exc: NotSignedIn) -> Response[Any]:
    """/api: 401 with `WWW-Authenticate: Bearer` and the problem+json body. Pages: to the
    log-in page, which brings the browser back here afterwards (htmx: HX-Redirect)."""
    if is_api(request.url.path):
        response = error_response(request, exc)
        challenge = 'Bearer realm="tasks"'
        if request.scope.get(TOKEN_REFUSED):
            challenge += ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = challenge
        return response
    htmx = HTMXRequest(request.scope, request.receive)
    here = (
        current_page(htmx)
        if htmx.htmx
        else request.url.path + (f"?{request.url.query}" if request.url.query else "")
    )
    where = LOGIN_PATH if here == "/" else f"{LOGIN_PATH}?{urlencode({'next': here})}"
    if htmx.htmx:
        return Response("", status_code=HTTP_200_OK, headers={"HX-Redirect": where})
    return Redirect(path=where, status_code=HTTP_303_SEE_OTHER)
