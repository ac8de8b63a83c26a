"""The account page (/account): name, password, API tokens, deletion.

Plain forms. A new token is shown once, in the page that answers its creation (never put
in the session or a URL); every other action answers 303 back here with a one-time
message.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from webapp.accounts.auth import LOGIN_PATH, forget_account
from webapp.accounts.caller import Caller
from webapp.accounts.deps import DEPENDENCIES
from webapp.accounts.forms import DeleteForm, NameForm, PasswordForm, TokenForm
from webapp.accounts.invites import InviteService
from webapp.accounts.schemas import ApiTokenCreated
from webapp.accounts.service import AccountService
from webapp.accounts.sessions import end_session, start_session
from webapp.accounts.tokens import ApiTokenService
from webapp.errors import InvalidInput
from webapp.tasks.forms import FormBody
from webapp.web.pages import PageController, Toast, page_error_handlers, see_other, take_toasts
from webapp.web.templating import html, render

ACCOUNT_PATH = "/account"


class AccountPages(PageController):
    """The signed-in account's own page."""

    dependencies = DEPENDENCIES
    exception_handlers = page_error_handlers(
        "That no longer exists (a token or invite revoked meanwhile?). Reload the page."
    )

    async def _page(
        self,
        request: HTMXRequest,
        account_service: AccountService,
        token_service: ApiTokenService,
        invite_service: InviteService,
        caller: Caller,
        *,
        errors: dict[str, str] | None = None,
        new_token: ApiTokenCreated | None = None,
        status_code: int = 200,
    ) -> Response[str]:
        body = render(
            request,
            "accounts/account.html",
            section="account",
            toasts=take_toasts(request),
            account=await account_service.get(caller),
            tokens=await token_service.list(),
            new_token=new_token,
            may_invite=await invite_service.may_invite(),
            here=ACCOUNT_PATH,
            errors=errors or {},
        )
        return html(body, status_code=status_code)

    @get(ACCOUNT_PATH)
    async def account(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        token_service: NamedDependency[ApiTokenService],
        invite_service: NamedDependency[InviteService],
        caller: NamedDependency[Caller],
    ) -> Response[str]:
        return await self._page(request, account_service, token_service, invite_service, caller)

    @post(f"{ACCOUNT_PATH}/name")
    async def rename(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        token_service: NamedDependency[ApiTokenService],
        invite_service: NamedDependency[InviteService],
        caller: NamedDependency[Caller],
        data: Annotated[NameForm, FormBody],
    ) -> Response[str] | Redirect:
        try:
            await account_service.rename(caller, data.name)
        except InvalidInput as error:
            return await self._page(
                request,
                account_service,
                token_service,
                invite_service,
                caller,
                errors=error.errors,
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        forget_account(request, caller.account_id)
        return see_other(request, ACCOUNT_PATH, Toast(text="Name saved."))

    @post(f"{ACCOUNT_PATH}/password")
    async def change_password(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        token_service: NamedDependency[ApiTokenService],
        invite_service: NamedDependency[InviteService],
        caller: NamedDependency[Caller],
        data: Annotated[PasswordForm, FormBody],
    ) -> Response[str] | Redirect:
        try:
            epoch = await account_service.change_password(
                caller, data.current_password, data.new_password
            )
        except InvalidInput as error:
            return await self._page(
                request,
                account_service,
                token_service,
                invite_service,
                caller,
                errors=error.errors,
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        forget_account(request, caller.account_id)
        # Every other session is over (the epoch moved on); this one carries on, anew.
        start_session(request, caller.account_id, epoch)
        return see_other(
            request,
            ACCOUNT_PATH,
            Toast(text="Password changed. Every other session has been logged out."),
        )

    @post(f"{ACCOUNT_PATH}/delete")
    async def delete(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        token_service: NamedDependency[ApiTokenService],
        invite_service: NamedDependency[InviteService],
        caller: NamedDependency[Caller],
        data: Annotated[DeleteForm, FormBody],
    ) -> Response[str] | Redirect:
        try:
            await account_service.delete(caller, data.delete_password)
        except InvalidInput as error:
            return await self._page(
                request,
                account_service,
                token_service,
                invite_service,
                caller,
                errors={f"delete_{field}": message for field, message in error.errors.items()},
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        forget_account(request, caller.account_id)
        end_session(request)
        return Redirect(path=LOGIN_PATH, status_code=HTTP_303_SEE_OTHER)

    @post(f"{ACCOUNT_PATH}/tokens")
    async def create_token(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        token_service: NamedDependency[ApiTokenService],
        invite_service: NamedDependency[InviteService],
        caller: NamedDependency[Caller],
        data: Annotated[TokenForm, FormBody],
    ) -> Response[str]:
        try:
            created = await token_service.create(data.token_name)
        except InvalidInput as error:
            return await self._page(
                request,
                account_service,
                token_service,
                invite_service,
                caller,
                errors={f"token_{field}": message for field, message in error.errors.items()},
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        return await self._page(
            request, account_service, token_service, invite_service, caller, new_token=created
        )

    @post(f"{ACCOUNT_PATH}/tokens/{{token_id:uuid}}/revoke")
    async def revoke_token(
        self,
        request: HTMXRequest,
        token_service: NamedDependency[ApiTokenService],
        token_id: FromPath[UUID],
    ) -> Redirect:
        await token_service.revoke(token_id)
        return see_other(request, ACCOUNT_PATH, Toast(text="Token revoked."))
