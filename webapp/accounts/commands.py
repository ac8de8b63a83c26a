"""The operator's account commands (`python -m webapp create-user|create-token|
reset-password`): how the cluster gets its first admin and scripts their tokens, without
a browser. Passwords come from standard input (a prompt on a terminal), never argv."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.accounts.caller import Caller
from webapp.accounts.models import Account
from webapp.accounts.service import AccountService, clean_email
from webapp.accounts.tokens import ApiTokenService
from webapp.db import create_engine
from webapp.errors import DomainError, InvalidInput, NotFound
from webapp.settings import Settings

T = TypeVar("T")


def read_password() -> str:
    """The password: typed at a prompt on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


async def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = create_engine(settings, pooled=False)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            return await work(session)
    finally:
        await engine.dispose()


async def create_user(
    settings: Settings, email: str, password: str, *, name: str, admin: bool
) -> str:
    async def work(session: AsyncSession) -> str:
        account = await AccountService(session).create(email, password, name=name, admin=admin)
        return f"created {account.email}" + (" (admin)" if account.is_admin else "")

    return await _with_session(settings, work)


async def create_token(settings: Settings, email: str, *, name: str) -> str:
    async def work(session: AsyncSession) -> str:
        account_id = await session.scalar(
            select(Account.id).where(Account.email == clean_email(email))
        )
        if account_id is None:
            raise NotFound(f"no account has the email {email.strip()}")
        created = await ApiTokenService(session, Caller(account_id)).create(name)
        return created.secret

    return await _with_session(settings, work)


async def reset_password(settings: Settings, email: str, password: str) -> str:
    async def work(session: AsyncSession) -> str:
        await AccountService(session).reset_password(email, password)
        return "password changed; every session of the account has ended"

    return await _with_session(settings, work)


def explain(error: DomainError) -> str:
    """A refusal as one line for the terminal."""
    if isinstance(error, InvalidInput):
        return "; ".join(f"{field}: {message}" for field, message in error.errors.items())
    return error.detail
