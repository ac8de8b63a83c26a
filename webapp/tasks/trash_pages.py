"""The trash page (`/trash`): deleted tasks to restore or delete for ever, and emptying
it (after asking). Restoring one is `TaskPages.restore`, shared with the list's Undo;
restoring many is a restore job (`webapp.restore.pages`)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect

from webapp.lists.deps import DEPENDENCIES as LIST_DEPENDENCIES
from webapp.lists.service import ListService
from webapp.tasks.deps import DEPENDENCIES
from webapp.tasks.forms import ActionForm, FormBody
from webapp.tasks.rendering import ListChange, listing, trash_page
from webapp.tasks.service import TaskService
from webapp.tasks.views import TRASH_PATH, ListView
from webapp.web.pages import (
    PageController,
    Toast,
    back_to,
    is_partial,
    oob,
    page_error_handlers,
    partials,
)
from webapp.web.templating import html, plural, render


class TrashPages(PageController):
    """The trash, as a page and as htmx partials."""

    dependencies = {**DEPENDENCIES, **LIST_DEPENDENCIES}
    exception_handlers = page_error_handlers(
        "That task no longer exists, or is no longer where it was. Reload the page."
    )

    @get("/trash")
    async def trash(
        self, request: HTMXRequest, task_service: NamedDependency[TaskService]
    ) -> Response[str]:
        view = ListView.from_params(request.query_params, trash=True)
        confirming = request.query_params.get("confirm") == "empty"
        if not is_partial(request):
            return await trash_page(request, task_service, view, confirming=confirming)
        counts = await task_service.counts()
        if request.htmx.target == "empty-trash":
            return html(
                render(request, "tasks/_empty_trash.html", counts=counts, confirming=confirming)
            )
        # After a bulk restore the trash count changed too: its controls come along.
        return partials(
            await listing(request, task_service, view),
            oob(request, "tasks/_empty_trash.html", counts=counts, confirming=False),
            oob(request, "tasks/_bulk_restore.html", counts=counts),
        )

    @post("/trash/{task_id:uuid}/purge", status_code=200)
    async def purge(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        task_id: FromPath[UUID],
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        await task_service.purge(task_id)
        change = ListChange(
            request, task_service, list_service, back_to(request, data.next, TRASH_PATH)
        )
        return await change.reply("", toast=Toast(text="Task deleted forever."))

    @post("/trash/empty", status_code=200)
    async def empty_trash(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        purged = await task_service.empty_trash()
        change = ListChange(
            request, task_service, list_service, back_to(request, data.next, TRASH_PATH)
        )
        toast = Toast(text=f"Trash emptied: {purged} {plural('task', purged)} deleted forever.")
        return await change.reply(change.listing, toast=toast)
