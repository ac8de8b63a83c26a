"""Personal API tokens: created with a name and shown once, listed with their last use,
revocable. Stored only as a hash (`webapp.accounts.secrets`); `webapp.accounts.auth`
turns a presented token into its account."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.accounts import secrets
from webapp.accounts.caller import Caller
from webapp.accounts.models import TOKEN_NAME_MAX_LENGTH, ApiToken
from webapp.accounts.schemas import ApiTokenCreated, ApiTokenRead
from webapp.clock import utcnow
from webapp.errors import InvalidInput, NotFound
from webapp.text import control_character, is_visible

# Enough for every script and device a person has; a runaway loop stops here.
TOKENS_MAX = 100


def to_read(token: ApiToken) -> ApiTokenRead:
    return ApiTokenRead(
        id=token.id,
        name=token.name,
        hint=token.hint,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
    )


def clean_token_name(name: str) -> str:
    name = name.strip()
    if not is_visible(name):
        raise InvalidInput({"name": "must not be empty (say what the token is for)"})
    if len(name) > TOKEN_NAME_MAX_LENGTH:
        raise InvalidInput({"name": f"must be at most {TOKEN_NAME_MAX_LENGTH} characters"})
    if refused := control_character(name):
        raise InvalidInput({"name": f"must not hold control characters (found {refused})"})
    return name


class ApiTokenService:
    """The caller's API tokens."""

    def __init__(self, session: AsyncSession, caller: Caller) -> None:
        self.session = session
        self.owner = caller.account_id

    async def create(self, name: str) -> ApiTokenCreated:
        name = clean_token_name(name)
        if len(await self.list()) >= TOKENS_MAX:
            raise InvalidInput({"name": f"an account has at most {TOKENS_MAX} tokens"})
        new = secrets.new_secret(secrets.TOKEN_PREFIX)
        now = utcnow()
        token = ApiToken(
            account_id=self.owner,
            name=name,
            token_hash=new.digest,
            hint=new.hint,
            created_at=now,
            updated_at=now,
        )
        self.session.add(token)
        await self.session.flush()
        created = ApiTokenCreated(token=to_read(token), secret=new.secret)
        await self.session.commit()
        return created

    async def list(self) -> list[ApiTokenRead]:
        """The caller's tokens, newest first."""
        rows = await self.session.scalars(
            select(ApiToken)
            .where(ApiToken.account_id == self.owner)
            .order_by(ApiToken.created_at.desc())
        )
        return [to_read(token) for token in rows]

    async def revoke(self, token_id: UUID) -> None:
        """Delete one of the caller's tokens: it stops working within AUTH_CACHE_SECONDS
        on every process (`webapp.accounts.auth`)."""
        result = await self.session.execute(
            delete(ApiToken).where(ApiToken.id == token_id, ApiToken.account_id == self.owner)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            await self.session.rollback()
            raise NotFound(f"token {token_id} does not exist")
        await self.session.commit()
