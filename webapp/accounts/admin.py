"""The admin's page (/admin): every account, to disable, enable or delete; and the way to
the invite links. Anyone but the admin gets 404 (AccountService)."""

from __future__ import annotations

from uuid import UUID

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect

from webapp.accounts.auth import forget_account
from webapp.accounts.caller import Caller
from webapp.accounts.deps import DEPENDENCIES
from webapp.accounts.service import AccountService
from webapp.web.pages import PageController, Toast, page_error_handlers, see_other, take_toasts
from webapp.web.templating import html, render

ADMIN_PATH = "/admin"


class AdminPages(PageController):
    dependencies = DEPENDENCIES
    exception_handlers = page_error_handlers("There is nothing here.")

    @get(ADMIN_PATH)
    async def admin(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        caller: NamedDependency[Caller],
    ) -> Response[str]:
        accounts = await account_service.list_accounts(caller)
        confirming = request.query_params.get("delete", "")
        body = render(
            request,
            "accounts/admin.html",
            section="admin",
            toasts=take_toasts(request),
            accounts=accounts,
            confirming=confirming,
            me_id=caller.account_id,
            here=ADMIN_PATH,
        )
        return html(body)

    async def _set_disabled(
        self,
        request: HTMXRequest,
        service: AccountService,
        caller: Caller,
        account_id: UUID,
        disabled: bool,
    ) -> Redirect:
        account = await service.set_disabled(caller, account_id, disabled)
        forget_account(request, account_id)
        verb = "disabled" if disabled else "enabled"
        return see_other(request, ADMIN_PATH, Toast(text=f"{account.email} {verb}."))

    @post(f"{ADMIN_PATH}/accounts/{{account_id:uuid}}/disable")
    async def disable(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        caller: NamedDependency[Caller],
        account_id: FromPath[UUID],
    ) -> Redirect:
        return await self._set_disabled(request, account_service, caller, account_id, True)

    @post(f"{ADMIN_PATH}/accounts/{{account_id:uuid}}/enable")
    async def enable(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        caller: NamedDependency[Caller],
        account_id: FromPath[UUID],
    ) -> Redirect:
        return await self._set_disabled(request, account_service, caller, account_id, False)

    @post(f"{ADMIN_PATH}/accounts/{{account_id:uuid}}/delete")
    async def delete(
        self,
        request: HTMXRequest,
        account_service: NamedDependency[AccountService],
        caller: NamedDependency[Caller],
        account_id: FromPath[UUID],
    ) -> Redirect:
        await account_service.delete_other(caller, account_id)
        forget_account(request, account_id)
        return see_other(request, ADMIN_PATH, Toast(text="Account deleted, with all its tasks."))
