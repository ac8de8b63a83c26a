"""The invite links page (/invites): make a link (shown once), see who used which, revoke.

The admin's, and with REGISTRATION=invite everyone's; others get 404 (InviteService).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect

from webapp.accounts.deps import DEPENDENCIES
from webapp.accounts.forms import BackForm
from webapp.accounts.invites import INVITE_DAYS, INVITE_PATH, InviteService
from webapp.accounts.schemas import InviteCreated
from webapp.tasks.forms import FormBody
from webapp.web.pages import (
    PageController,
    Toast,
    back_to,
    page_error_handlers,
    see_other,
    take_toasts,
)
from webapp.web.templating import html, render

INVITES_PATH = "/invites"


def invite_link(request: HTMXRequest, secret: str) -> str:
    return f"{str(request.base_url).rstrip('/')}{INVITE_PATH}{secret}"


class InvitePages(PageController):
    dependencies = DEPENDENCIES
    exception_handlers = page_error_handlers("There is nothing here.")

    async def _page(
        self, request: HTMXRequest, service: InviteService, created: InviteCreated | None = None
    ) -> Response[str]:
        body = render(
            request,
            "accounts/invites.html",
            section="invites",
            toasts=take_toasts(request),
            invites=await service.list(),
            new_link=invite_link(request, created.secret) if created else "",
            days=INVITE_DAYS,
            here=INVITES_PATH,
        )
        return html(body)

    @get(INVITES_PATH)
    async def invites(
        self, request: HTMXRequest, invite_service: NamedDependency[InviteService]
    ) -> Response[str]:
        return await self._page(request, invite_service)

    @post(INVITES_PATH)
    async def create(
        self, request: HTMXRequest, invite_service: NamedDependency[InviteService]
    ) -> Response[str]:
        return await self._page(request, invite_service, await invite_service.create())

    @post(f"{INVITES_PATH}/{{invite_id:uuid}}/revoke")
    async def revoke(
        self,
        request: HTMXRequest,
        invite_service: NamedDependency[InviteService],
        invite_id: FromPath[UUID],
        data: Annotated[BackForm, FormBody],
    ) -> Redirect:
        await invite_service.revoke(invite_id)
        return see_other(
            request, back_to(request, data.next, INVITES_PATH), Toast(text="Invite revoked.")
        )
