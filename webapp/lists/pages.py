"""The list pages: making a list (from the sidebar), and a list's settings page
(`/lists/{id}/settings`): rename, share, change a member's role, revoke, leave, and delete
after asking. Plain forms answered 303 with a one-time message; the rules are the
service's (a viewer's or a member's forged post gets 403, a stranger's 404)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY

from webapp.accounts.caller import Caller
from webapp.errors import InvalidInput
from webapp.lists.deps import DEPENDENCIES
from webapp.lists.forms import ListNameForm, RoleForm, ShareForm
from webapp.lists.schemas import ListCreate, ListUpdate
from webapp.lists.service import ListService
from webapp.tasks.forms import ActionForm, FormBody
from webapp.tasks.views import LIST_PATH, list_path
from webapp.web.pages import PageController, Toast, page_error_handlers, see_other, take_toasts
from webapp.web.templating import html, plural, render


def settings_path(list_id: UUID) -> str:
    return f"{list_path(list_id)}/settings"


class ListPages(PageController):
    dependencies = DEPENDENCIES
    exception_handlers = page_error_handlers(
        "That list no longer exists, or is no longer shared with you. Reload the page."
    )

    async def _settings(
        self,
        request: HTMXRequest,
        list_service: ListService,
        caller: Caller,
        list_id: UUID,
        *,
        confirming: bool = False,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response[str]:
        task_list = await list_service.get(list_id)
        body = render(
            request,
            "lists/settings.html",
            section="tasks",
            toasts=take_toasts(request),
            task_list=task_list,
            members=await list_service.members(list_id),
            my_id=caller.account_id,
            confirming=confirming,
            errors=errors or {},
            values=values or {},
        )
        return html(body, status_code=status_code)

    @get("/lists/{list_id:uuid}/settings")
    async def settings(
        self,
        request: HTMXRequest,
        list_service: NamedDependency[ListService],
        caller: NamedDependency[Caller],
        list_id: FromPath[UUID],
    ) -> Response[str]:
        confirming = request.query_params.get("confirm") == "delete"
        return await self._settings(request, list_service, caller, list_id, confirming=confirming)

    @post("/lists")
    async def create(
        self,
        request: HTMXRequest,
        list_service: NamedDependency[ListService],
        data: Annotated[ListNameForm, FormBody],
    ) -> Redirect:
        try:
            task_list = await list_service.create(ListCreate(name=data.name))
        except InvalidInput as error:
            message = f"The list's name {error.errors.get('name') or error.detail}."
            return see_other(request, LIST_PATH, Toast(text=message, error=True))
        return see_other(
            request, list_path(task_list.id), Toast(text=f"Made the list “{task_list.name}”.")
        )

    @post("/lists/{list_id:uuid}/rename")
    async def rename(
        self,
        request: HTMXRequest,
        list_service: NamedDependency[ListService],
        caller: NamedDependency[Caller],
        list_id: FromPath[UUID],
        data: Annotated[ListNameForm, FormBody],
    ) -> Response[str] | Redirect:
        try:
            task_list = await list_service.rename(list_id, ListUpdate(name=data.name))
        except InvalidInput as error:
            return await self._settings(
                request,
                list_service,
                caller,
                list_id,
                errors=error.errors,
                values={"name": data.name},
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        return see_other(
            request, settings_path(list_id), Toast(text=f"Renamed “{task_list.name}”.")
        )

    @post("/lists/{list_id:uuid}/delete")
    async def delete(
        self,
        request: HTMXRequest,
        list_service: NamedDependency[ListService],
        list_id: FromPath[UUID],
        data: Annotated[ActionForm, FormBody],
    ) -> Redirect:
        task_list = await list_service.get(list_id)
        moved = await list_service.delete(list_id)
        text = (
            f"Deleted the list “{task_list.name}”; its {moved} {plural('task', moved)} "
            "went to the trash."
        )
        return see_other(request, LIST_PATH, Toast(text=text))

    @post("/lists/{list_id:uuid}/members")
    async def share(
        self,
        request: HTMXRequest,
        list_service: NamedDependency[ListService],
        caller: NamedDependency[Caller],
        list_id: FromPath[UUID],
        data: Annotated[ShareForm, FormBody],
    ) -> Response[str] | Redirect:
        try:
            member = await list_service.share(list_id, data.member())
        except InvalidInput as error:
            return await self._settings(
                request,
                list_service,
                caller,
                list_id,
                errors=error.errors,
                values={"email": data.email, "role": data.role},
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        text = f"Shared with {member.name or member.email} ({member.role})."
        return see_other(request, settings_path(list_id), Toast(text=text))

    @post("/lists/{list_id:uuid}/members/{account_id:uuid}/role")
    async def change_role(
        self,
        request: HTMXRequest,
        list_service: NamedDependency[ListService],
        list_id: FromPath[UUID],
        account_id: FromPath[UUID],
        data: Annotated[RoleForm, FormBody],
    ) -> Redirect:
        member = await list_service.set_role(list_id, account_id, data.update())
        text = f"{member.name or member.email} is now {member.role}."
        return see_other(request, settings_path(list_id), Toast(text=text))

    @post("/lists/{list_id:uuid}/members/{account_id:uuid}/remove")
    async def remove(
        self,
        request: HTMXRequest,
        list_service: NamedDependency[ListService],
        caller: NamedDependency[Caller],
        list_id: FromPath[UUID],
        account_id: FromPath[UUID],
        data: Annotated[ActionForm, FormBody],
    ) -> Redirect:
        task_list = await list_service.get(list_id)
        await list_service.remove_member(list_id, account_id)
        if account_id == caller.account_id:
            return see_other(request, LIST_PATH, Toast(text=f"You left “{task_list.name}”."))
        return see_other(request, settings_path(list_id), Toast(text="Access revoked."))
