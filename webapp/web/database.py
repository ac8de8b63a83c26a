"""The request's database session, as the services get it."""

from __future__ import annotations

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.datastructures import State
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.idempotency.middleware import APPLIED_BY
from webapp.idempotency.service import SESSION_INFO_KEY


def request_session(state: State, scope: Scope) -> AsyncSession:
    """advanced-alchemy's session of this request (closed after the response), told the
    Idempotency-Key its commits apply, if the request has one."""
    db_config: SQLAlchemyAsyncConfig = state.db_config
    session = db_config.provide_session(state, scope)
    if applied := scope.get("state", {}).get(APPLIED_BY):
        session.info[SESSION_INFO_KEY] = applied
    return session
