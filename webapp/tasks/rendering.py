"""What the task pages render: the whole list and trash pages, and the partials a change
sends to htmx (`ListChange`). Full pages are composed from the same partials."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from litestar import Response
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect

from webapp.tasks.schemas import TaskPage, TaskRead
from webapp.tasks.service import TaskService
from webapp.tasks.views import EditValues, ListView, filter_links, listing_context
from webapp.web.pages import Toast, oob, reply, take_toasts
from webapp.web.templating import html, render


async def list_page(
    request: HTMXRequest,
    service: TaskService,
    view: ListView,
    *,
    status_code: int = 200,
    add_title: str = "",
    add_error: str = "",
    editing: TaskRead | None = None,
    form: EditValues | None = None,
    errors: Mapping[str, str] | None = None,
    notice: str = "",
) -> Response[str]:
    """The task list page; `editing` opens that task's row as an edit form."""
    page = await service.list_tasks(view.query())
    counts = await service.counts()
    editing_id = ""
    if editing is not None:
        editing_id = str(editing.id)
        form = form or EditValues.of(editing)
        if not any(task.id == editing.id for task in page.items):
            editing_id = ""
    toasts = take_toasts(request)
    body = render(
        request,
        "tasks/index.html",
        section="tasks",
        counts=counts,
        filters=filter_links(view),
        toasts=toasts,
        add_title=add_title,
        add_error=add_error,
        # One autofocus per page: the row being edited wins over the new-task field.
        autofocus=bool(add_error) or (not toasts and not editing_id),
        **listing_context(view, page, editing=editing_id, form=form, errors=errors, notice=notice),
    )
    return html(body, status_code=status_code)


async def trash_page(
    request: HTMXRequest, service: TaskService, view: ListView, *, confirming: bool = False
) -> Response[str]:
    page = await service.list_tasks(view.query())
    counts = await service.counts()
    body = render(
        request,
        "tasks/trash.html",
        section="trash",
        counts=counts,
        confirming=confirming,
        toasts=take_toasts(request),
        **listing_context(view, page),
    )
    return html(body)


async def listing(
    request: HTMXRequest, service: TaskService, view: ListView, *, focus: str = ""
) -> str:
    """The listing partial of `view` (the list's or the trash's); `focus`: a task id."""
    page = await service.list_tasks(view.query())
    return render(request, "tasks/_listing.html", **listing_context(view, page, focus=focus))


# The main part of an answer: markup, or how to render it (only htmx needs it rendered).
Main = str | Callable[[], Awaitable[str]]


class ListChange:
    """The answer to a change made from the list or the trash page `here`."""

    def __init__(self, request: HTMXRequest, service: TaskService, here: str) -> None:
        self.request = request
        self.service = service
        self.here = here
        self.view = ListView.from_url(here)

    async def reply(
        self,
        main: Main,
        *,
        extra: Callable[[], Awaitable[str]] | None = None,
        toast: Toast | None = None,
        reload_toast: Toast | None = None,
        controls: bool = True,
    ) -> Response[str] | Redirect:
        """htmx: `main` (swapped where the request aimed), the page's `controls`, `extra`
        (out of band) and the toast. Without JS: back to the page, with the toast."""

        async def parts() -> list[str]:
            rendered = [main if isinstance(main, str) else await main()]
            if controls:
                rendered.append(await self.controls())
            if extra is not None:
                rendered.append(await extra())
            return rendered

        return await reply(self.request, self.here, parts, toast=toast, reload_toast=reload_toast)

    async def controls(self) -> str:
        """What a change refreshes beside the rows, out of band: the counter and the bulk
        actions under the list; the "Empty trash" control in the trash."""
        counts = await self.service.counts()
        if self.view.trash:
            return oob(self.request, "tasks/_empty_trash.html", counts=counts, confirming=False)
        return oob(self.request, "tasks/_counter.html", counts=counts) + oob(
            self.request, "tasks/_bulk_actions.html", counts=counts
        )

    def rows(self, tasks: Sequence[TaskRead], template: str = "tasks/_rows.html") -> str:
        page = TaskPage(items=list(tasks), total=0, limit=1, offset=0)
        return render(self.request, template, **listing_context(self.view, page))

    async def row_if_shown(self, task: TaskRead) -> str:
        """The task's row, or nothing (swapped over the row, removes it) when the view no
        longer shows the task, e.g. completing it under the Active filter."""
        shown = await self.service.is_listed(task, self.view.query())
        return self.rows([task] if shown else [])

    async def listing(self, *, focus: str = "") -> str:
        return await listing(self.request, self.service, self.view, focus=focus)
