"""What the task pages render: the whole list and trash pages, and the partials a change
sends to htmx (`ListChange`). Full pages are composed from the same partials."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from uuid import UUID

from litestar import Response
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect

from webapp.lists.service import ListService
from webapp.lists.views import Sidebar
from webapp.tasks.schemas import TaskPage, TaskRead
from webapp.tasks.service import TaskService
from webapp.tasks.views import EditValues, ListView, filter_links, listing_context
from webapp.web.pages import Toast, oob, reply, take_toasts
from webapp.web.templating import html, render


def lists_context(sidebar: Sidebar, view: ListView) -> dict[str, object]:
    """What the sidebar and the list's own controls render."""
    return {
        "sidebar": sidebar,
        "current_list": sidebar.current(view.list_id),
        "may_change": sidebar.may_change(view.list_id),
        "list_id": str(view.list_id or ""),
    }


async def list_page(
    request: HTMXRequest,
    service: TaskService,
    sidebar: Sidebar,
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
    counts = await service.counts(view.list_id)
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
        lists=sidebar.writable,
        **lists_context(sidebar, view),
        **listing_context(
            view,
            page,
            editing=editing_id,
            form=form,
            errors=errors,
            notice=notice,
            read_only=sidebar.read_only,
        ),
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
    request: HTMXRequest,
    service: TaskService,
    view: ListView,
    *,
    focus: str = "",
    read_only: frozenset[UUID] = frozenset(),
) -> str:
    """The listing partial of `view` (the list's or the trash's); `focus`: a task id."""
    page = await service.list_tasks(view.query())
    return render(
        request,
        "tasks/_listing.html",
        **listing_context(view, page, focus=focus, read_only=read_only),
    )


# The main part of an answer: markup, or how to render it (only htmx needs it rendered).
Main = str | Callable[[], Awaitable[str]]


class ListChange:
    """The answer to a change made from the list or the trash page `here`."""

    def __init__(
        self, request: HTMXRequest, service: TaskService, lists: ListService, here: str
    ) -> None:
        self.request = request
        self.service = service
        self.lists = lists
        self.here = here
        self.view = ListView.from_url(here)
        self._sidebar: Sidebar | None = None

    async def sidebar(self) -> Sidebar:
        # Read after the change: its counts are the new ones.
        if self._sidebar is None:
            self._sidebar = Sidebar(await self.lists.lists())
        return self._sidebar

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
        """What a change refreshes beside the rows, out of band: the counter, the bulk
        actions and the sidebar's counts by the list; the "Empty trash" control in the
        trash."""
        counts = await self.service.counts(self.view.list_id)
        if self.view.trash:
            return oob(self.request, "tasks/_empty_trash.html", counts=counts, confirming=False)
        sidebar = await self.sidebar()
        return (
            oob(self.request, "tasks/_counter.html", counts=counts)
            + oob(
                self.request,
                "tasks/_bulk_actions.html",
                counts=counts,
                may_change=sidebar.may_change(self.view.list_id),
            )
            + oob(self.request, "lists/_sidebar.html", **lists_context(sidebar, self.view))
        )

    async def rows(self, tasks: Sequence[TaskRead], template: str = "tasks/_rows.html") -> str:
        page = TaskPage(items=list(tasks), total=0, limit=1, offset=0)
        read_only = (await self.sidebar()).read_only
        return render(
            self.request, template, **listing_context(self.view, page, read_only=read_only)
        )

    async def row_if_shown(self, task: TaskRead) -> str:
        """The task's row, or nothing (swapped over the row, removes it) when the view no
        longer shows the task, e.g. completing it under the Active filter."""
        shown = await self.service.is_listed(task, self.view.query())
        return await self.rows([task] if shown else [])

    async def listing(self, *, focus: str = "") -> str:
        read_only = (await self.sidebar()).read_only
        return await listing(
            self.request, self.service, self.view, focus=focus, read_only=read_only
        )
