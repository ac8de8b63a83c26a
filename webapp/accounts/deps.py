"""The caller, and the account services, as the doors get them injected."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.types import Scope

from webapp.accounts.auth import NotSignedIn, SignedIn
from webapp.accounts.caller import Caller
from webapp.accounts.invites import InviteService
from webapp.accounts.service import AccountService
from webapp.accounts.tokens import ApiTokenService
from webapp.web.database import request_session


async def provide_caller(scope: Scope) -> Caller:
    """The signed-in caller. The app's guard has turned away everyone else already; a
    public route that asks for a caller still gets none."""
    signed_in: SignedIn | None = scope.get("user")
    if signed_in is None:
        raise NotSignedIn("log in first")
    return signed_in.caller


async def provide_account_service(state: State, scope: Scope) -> AccountService:
    return AccountService(
        request_session(state, scope),
        registration=state.settings.registration,
        throttle=state.login_throttle,
    )


async def provide_token_service(
    state: State, scope: Scope, caller: NamedDependency[Caller]
) -> ApiTokenService:
    return ApiTokenService(request_session(state, scope), caller)


async def provide_invite_service(
    state: State, scope: Scope, caller: NamedDependency[Caller]
) -> InviteService:
    return InviteService(request_session(state, scope), caller, state.settings.registration)


# For the app as a whole: every service provider may ask for the caller.
CALLER = {"caller": Provide(provide_caller)}
DEPENDENCIES = {
    "account_service": Provide(provide_account_service),
    "token_service": Provide(provide_token_service),
    "invite_service": Provide(provide_invite_service),
}
