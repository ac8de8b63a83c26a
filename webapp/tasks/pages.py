"""HTML pages over TaskService: every list's tasks at `/`, one list's at `/lists/{id}`,
and the changes made from their rows and forms (the trash's own routes are in
`trash_pages`).

Every action is a plain `<form method="post">` with a real `action`. Without JavaScript
the answer is a 303 back to the page the form came from (its `next` field, else the
Referer, checked to be a path on this site), with a one-time message. With htmx
(`HX-Request: true`) the answer is only the partials the action changed: the one the
request targets, the others swapped out of band (`ListChange.reply`, the one place the
two part). Task rules stay in the service; what is shown lives in `views`, forms in
`forms`, rendering in `rendering`.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
)

from webapp.errors import InvalidInput, NotFound, StaleVersion
from webapp.lists.deps import DEPENDENCIES as LIST_DEPENDENCIES
from webapp.lists.service import ListService
from webapp.lists.views import Sidebar
from webapp.tasks.deps import DEPENDENCIES
from webapp.tasks.forms import ActionForm, AddForm, EditForm, FormBody
from webapp.tasks.rendering import ListChange, list_page, listing, lists_context
from webapp.tasks.schemas import TaskCreate
from webapp.tasks.service import TaskService
from webapp.tasks.views import (
    LIST_PATH,
    EditValues,
    ListView,
    edit_context,
    filter_links,
)
from webapp.web.pages import (
    PageController,
    Toast,
    back_to,
    current_page,
    htmx_redirect,
    is_partial,
    oob,
    page_error_handlers,
    partials,
)
from webapp.web.templating import html, plural, render


class TaskPages(PageController):
    """The task list and the trash, as pages and as htmx partials."""

    dependencies = {**DEPENDENCIES, **LIST_DEPENDENCIES}
    exception_handlers = page_error_handlers(
        "That task no longer exists, or is no longer where it was. Reload the page."
    )

    # -------------------------------------------------------------- reads

    @get("/")
    async def index(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
    ) -> Response[str]:
        """Every list's tasks ("All tasks")."""
        view = ListView.from_params(request.query_params)
        return await self._tasks(request, task_service, list_service, view)

    @get("/lists/{list_id:uuid}")
    async def one_list(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        list_id: FromPath[UUID],
    ) -> Response[str]:
        """One list's tasks, with the same filters and search."""
        view = ListView.from_params(request.query_params, list_id=list_id)
        return await self._tasks(request, task_service, list_service, view)

    async def _tasks(
        self,
        request: HTMXRequest,
        task_service: TaskService,
        list_service: ListService,
        view: ListView,
    ) -> Response[str]:
        sidebar = Sidebar(await list_service.lists())
        if view.list_id is not None and sidebar.current(view.list_id) is None:
            if is_partial(request):
                # The list went while the page was open (deleted, or no longer shared):
                # a live update's refresh takes the browser to every list's page.
                toast = Toast(text="That list is no longer there (deleted, or not shared).")
                return htmx_redirect(request, LIST_PATH, toast, status_code=HTTP_404_NOT_FOUND)
            raise NotFound(f"list {view.list_id} does not exist")
        if is_partial(request):
            if request.htmx.target == "lists-nav":  # a live update's refresh
                counts = await task_service.counts(view.list_id)
                return partials(
                    render(request, "lists/_sidebar.html", **lists_context(sidebar, view)),
                    oob(request, "tasks/_counter.html", counts=counts),
                    oob(
                        request,
                        "tasks/_bulk_actions.html",
                        counts=counts,
                        may_change=sidebar.may_change(view.list_id),
                    ),
                )
            return partials(
                await listing(request, task_service, view, read_only=sidebar.read_only),
                oob(request, "tasks/_filters.html", view=view, filters=filter_links(view)),
            )
        editing = None
        if edit := request.query_params.get("edit"):
            try:
                editing = await task_service.get(UUID(edit))
            except (ValueError, NotFound):
                editing = None  # a stale bookmark: show the list without the editor
        return await list_page(request, task_service, sidebar, view, editing=editing)

    @get("/tasks/{task_id:uuid}")
    async def row(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        task_id: FromPath[UUID],
    ) -> Response[str] | Redirect:
        """One row as it is now: what Cancel brings back after an inline edit."""
        if not is_partial(request):
            return Redirect(path=LIST_PATH, status_code=HTTP_303_SEE_OTHER)
        task = await task_service.get(task_id)
        change = ListChange(request, task_service, list_service, current_page(request))
        return html(await change.rows([task]))

    @get("/tasks/{task_id:uuid}/edit")
    async def edit(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        task_id: FromPath[UUID],
    ) -> Response[str] | Redirect:
        """The inline edit form (htmx); without JS the list page opens the row for editing."""
        if not is_partial(request):
            return Redirect(path=f"{LIST_PATH}?edit={task_id}", status_code=HTTP_303_SEE_OTHER)
        task = await task_service.get(task_id)
        here = ListView.from_url(current_page(request)).url()
        lists = Sidebar(await list_service.lists()).writable
        context = edit_context(task, here, EditValues.of(task), lists=lists)
        return html(render(request, "tasks/_edit.html", **context))

    # -------------------------------------------------------------- changes

    @post("/tasks", status_code=200)
    async def add(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        data: Annotated[AddForm, FormBody],
    ) -> Response[str] | Redirect:
        here = back_to(request, data.next)
        view = ListView.from_url(here)
        title = data.title or ""
        try:
            task = await task_service.create(TaskCreate(title=title, list_id=data.target()))
        except InvalidInput as error:
            sidebar = Sidebar(await list_service.lists())
            message = (
                f"The title {error.errors['title']}."
                if "title" in error.errors
                else error.detail[:1].upper() + error.detail[1:] + "."
            )
            if not is_partial(request):
                return await list_page(
                    request,
                    task_service,
                    sidebar,
                    view,
                    status_code=HTTP_422_UNPROCESSABLE_ENTITY,
                    add_title=title,
                    add_error=message,
                )
            return html(
                render(
                    request,
                    "tasks/_add_form.html",
                    here=here,
                    add_title=title,
                    add_error=message,
                    autofocus=True,
                    **lists_context(sidebar, view),
                ),
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        change = ListChange(request, task_service, list_service, here)
        shown = view.page == 1 and await task_service.is_listed(task, view.query())
        fresh_form = render(
            request,
            "tasks/_add_form.html",
            here=here,
            add_title="",
            add_error="",
            autofocus=True,
            **lists_context(await change.sidebar(), view),
        )

        async def new_row() -> str:
            return await change.rows([task], "tasks/_new_row.html")

        return await change.reply(
            fresh_form,
            extra=new_row if shown else None,
            toast=(
                None
                if shown
                else Toast(text=f"Added “{task.title}”; the current view does not show it.")
            ),
        )

    async def _set_completed(
        self,
        request: HTMXRequest,
        task_service: TaskService,
        list_service: ListService,
        task_id: UUID,
        next_: str,
        done: bool,
    ) -> Response[str] | Redirect:
        task = await (task_service.complete(task_id) if done else task_service.reopen(task_id))
        change = ListChange(request, task_service, list_service, back_to(request, next_))
        return await change.reply(lambda: change.row_if_shown(task))

    @post("/tasks/{task_id:uuid}/complete", status_code=200)
    async def complete(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        task_id: FromPath[UUID],
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        return await self._set_completed(
            request, task_service, list_service, task_id, data.next, True
        )

    @post("/tasks/{task_id:uuid}/reopen", status_code=200)
    async def reopen(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        task_id: FromPath[UUID],
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        return await self._set_completed(
            request, task_service, list_service, task_id, data.next, False
        )

    @post("/tasks/{task_id:uuid}", status_code=200)
    async def save(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        task_id: FromPath[UUID],
        data: Annotated[EditForm, FormBody],
    ) -> Response[str] | Redirect:
        here = ListView.from_url(back_to(request, data.next)).url()
        status_code = HTTP_422_UNPROCESSABLE_ENTITY
        errors: dict[str, str] = {}
        notice = ""
        try:
            task = await task_service.update(task_id, data.changes())
        except InvalidInput as error:
            errors = dict(error.errors)
            # A lost version is about the whole form, not a field: say it above the fields.
            notice = errors.pop("version", "")
        except StaleVersion as error:
            status_code = HTTP_409_CONFLICT
            notice = (
                "Someone else changed this task while you were editing it "
                f"(it is now at version {error.current_version}). Your text is kept below; "
                "cancel to see their changes, then edit again."
            )
        else:
            change = ListChange(request, task_service, list_service, here)
            return await change.reply(
                lambda: change.row_if_shown(task),
                # A move changes the lists' counts; other edits change no count.
                controls=data.list_id is not None,
                reload_toast=Toast(text=f"Saved “{task.title}”."),
            )
        # Refused: the form again, with what was typed and why.
        current = await task_service.get(task_id)
        form = data.values(current)
        sidebar = Sidebar(await list_service.lists())
        if not is_partial(request):
            return await list_page(
                request,
                task_service,
                sidebar,
                ListView.from_url(here),
                status_code=status_code,
                editing=current,
                form=form,
                errors=errors,
                notice=notice,
            )
        return html(
            render(
                request,
                "tasks/_edit.html",
                **edit_context(current, here, form, errors, notice, lists=sidebar.writable),
            ),
            status_code=status_code,
        )

    @post("/tasks/{task_id:uuid}/delete", status_code=200)
    async def delete(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        task_id: FromPath[UUID],
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        task = await task_service.delete(task_id)
        change = ListChange(request, task_service, list_service, back_to(request, data.next))
        # The row leaves: an empty answer swapped over it removes it.
        return await change.reply("", toast=Toast(text="Task deleted", undo=str(task.id)))

    @post("/tasks/{task_id:uuid}/restore", status_code=200)
    async def restore(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        task_id: FromPath[UUID],
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        """Undo a delete (from the list's toast) or restore from the trash page."""
        task = await task_service.restore(task_id)
        change = ListChange(request, task_service, list_service, back_to(request, data.next))
        if change.view.trash:
            return await change.reply("", toast=Toast(text=f"Restored “{task.title}”."))
        # The whole listing, so that the task comes back in its old place.
        return await change.reply(
            lambda: change.listing(focus=str(task.id)), toast=Toast(text="Task restored")
        )

    @post("/tasks/complete-all", status_code=200)
    async def complete_all(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        # On a list's page, that list's tasks; on "All tasks", every one the caller may change.
        change = ListChange(request, task_service, list_service, back_to(request, data.next))
        await task_service.complete_all(change.view.list_id)
        return await change.reply(change.listing)

    @post("/tasks/clear-completed", status_code=200)
    async def clear_completed(
        self,
        request: HTMXRequest,
        task_service: NamedDependency[TaskService],
        list_service: NamedDependency[ListService],
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        change = ListChange(request, task_service, list_service, back_to(request, data.next))
        moved = await task_service.clear_completed(change.view.list_id)
        toast = Toast(text=f"Moved {moved} completed {plural('task', moved)} to the trash.")
        return await change.reply(change.listing, toast=toast)
