"""HTML pages over TaskService: the task list at `/` and the trash at `/trash`.

Every action is a plain `<form method="post">` with a real `action`. Without JavaScript
the answer is a 303 back to the page the form came from (its `next` field, else the
Referer, checked to be a path on this site), with a one-time message. With htmx
(`HX-Request: true`) the answer is only the partials the action changed: the one the
request targets, the others swapped out of band. Full pages are composed from the same
partials, so no markup exists twice. Task rules stay in the service.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit
from uuid import UUID

import msgspec
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
)

from webapp.errors import InvalidInput, NotFound, StaleVersion
from webapp.tasks.schemas import (
    PriorityLabel,
    SortKey,
    SortOrder,
    Status,
    TaskCounts,
    TaskCreate,
    TaskPage,
    TaskQuery,
    TaskRead,
    TaskUpdate,
)
from webapp.tasks.service import TaskService
from webapp.web.pages import (
    PageController,
    Toast,
    back_to,
    current_page,
    is_partial,
    oob,
    page_error_handlers,
    partials,
    see_other,
    take_toasts,
)
from webapp.web.templating import html, render

PAGE_SIZE = 50
PRIORITIES: tuple[str, ...] = get_args(PriorityLabel)
FILTER_LABELS = {Status.ALL: "All", Status.ACTIVE: "Active", Status.COMPLETED: "Completed"}
EMPTY_TEXT = {
    Status.ALL: "Nothing to do. Add a task above.",
    Status.ACTIVE: "No active tasks.",
    Status.COMPLETED: "No completed tasks.",
}
LIST_PATH = "/"
TRASH_PATH = "/trash"

Tasks = NamedDependency[TaskService]
TaskId = FromPath[UUID]


# ------------------------------------------------------------------ what a page shows


class ListView(msgspec.Struct, frozen=True, kw_only=True):
    """Which slice of tasks a page shows; it lives in the URL, so it survives a reload."""

    trash: bool = False
    status: Status = Status.ALL
    q: str = ""
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str], *, trash: bool = False) -> ListView:
        # Lenient on purpose: a hand-edited URL shows the nearest sensible page.
        try:
            status = Status(params.get("filter", "all"))
        except ValueError:
            status = Status.ALL
        page_text = params.get("page", "1")
        page = int(page_text) if page_text.isdigit() and len(page_text) < 7 else 1
        return cls(trash=trash, status=status, q=params.get("q", ""), page=max(page, 1))

    @classmethod
    def from_url(cls, url: str) -> ListView:
        parts = urlsplit(url)
        return cls.from_params(dict(parse_qsl(parts.query)), trash=parts.path == TRASH_PATH)

    def query(self) -> TaskQuery:
        offset = (self.page - 1) * PAGE_SIZE
        if self.trash:
            return TaskQuery(
                trash=True,
                sort=SortKey.DELETED,
                order=SortOrder.DESC,
                limit=PAGE_SIZE,
                offset=offset,
            )
        return TaskQuery(status=self.status, q=self.q, limit=PAGE_SIZE, offset=offset)

    def url(self, *, status: Status | None = None, page: int | None = None) -> str:
        params: dict[str, str | int] = {}
        if not self.trash:
            if (status or self.status) is not Status.ALL:
                params["filter"] = (status or self.status).value
            if self.q:
                params["q"] = self.q
        if page is None:
            page = 1 if status is not None else self.page
        if page > 1:
            params["page"] = page
        path = TRASH_PATH if self.trash else LIST_PATH
        return f"{path}?{urlencode(params)}" if params else path


class FilterLink(msgspec.Struct, frozen=True):
    label: str
    url: str
    current: bool


class Pager(msgspec.Struct, frozen=True):
    previous: str | None
    next: str | None


class EditValues(msgspec.Struct, kw_only=True):
    """What the edit form shows: the task's values, or what the user typed."""

    title: str
    notes: str
    priority: str
    due_date: str
    version: str

    @classmethod
    def of(cls, task: TaskRead) -> EditValues:
        return cls(
            title=task.title,
            notes=task.notes,
            priority=task.priority,
            due_date=task.due_date.isoformat() if task.due_date else "",
            version=str(task.version),
        )


# ------------------------------------------------------------------ forms


class AddForm(msgspec.Struct, kw_only=True):
    title: str | None = None
    next: str = ""


class EditForm(msgspec.Struct, kw_only=True):
    """The inline edit form. Fields left out keep their value; title and version are
    always in the form, so their absence means the post did not come from it."""

    title: str | None = None
    notes: str | None = None
    priority: str | None = None
    due_date: str | None = None
    version: str | None = None
    next: str = ""

    def values(self, task: TaskRead) -> EditValues:
        stored = EditValues.of(task)
        return EditValues(
            title=stored.title if self.title is None else self.title,
            notes=stored.notes if self.notes is None else self.notes,
            priority=stored.priority if self.priority is None else self.priority,
            due_date=stored.due_date if self.due_date is None else self.due_date,
            version=stored.version if self.version is None else self.version,
        )

    def changes(self) -> TaskUpdate:
        """The fields as the service takes them; shape errors raise InvalidInput."""
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {}
        if self.title is None:
            errors["title"] = "must not be empty"
        else:
            changes["title"] = self.title
        if self.notes is not None:
            changes["notes"] = self.notes
        if self.priority is not None:
            if self.priority in PRIORITIES:
                changes["priority"] = self.priority
            else:
                errors["priority"] = f"must be one of {', '.join(PRIORITIES)}"
        if self.due_date is not None:
            try:
                changes["due_date"] = (
                    datetime.date.fromisoformat(self.due_date.strip())
                    if self.due_date.strip()
                    else None
                )
            except ValueError:
                errors["due_date"] = "must be a date like 2026-12-24"
        if self.version and self.version.isdigit() and len(self.version) < 10:
            changes["version"] = int(self.version)
        else:
            errors["version"] = "the form lost track of the task's version; reload and try again"
        if errors:
            raise InvalidInput(errors)
        return TaskUpdate(**changes)


class ActionForm(msgspec.Struct, kw_only=True):
    next: str = ""


FormBody = Body(media_type=RequestEncodingType.URL_ENCODED)


# ------------------------------------------------------------------ rendering


def filter_links(view: ListView) -> list[FilterLink]:
    return [
        FilterLink(label, view.url(status=status), status is view.status)
        for status, label in FILTER_LABELS.items()
    ]


def pager(view: ListView, page: TaskPage) -> Pager | None:
    previous = view.url(page=view.page - 1) if view.page > 1 else None
    following = view.url(page=view.page + 1) if page.offset + page.limit < page.total else None
    return Pager(previous, following) if previous or following else None


def listing_context(
    view: ListView,
    page: TaskPage,
    *,
    editing: str = "",
    focus: str = "",
    form: EditValues | None = None,
    errors: Mapping[str, str] | None = None,
    notice: str = "",
) -> dict[str, Any]:
    here = view.url()
    return {
        "view": view,
        "tasks": page.items,
        "pager": pager(view, page),
        "here": here,
        "editing": editing,
        "focus": focus,
        "edit_href": here + ("&" if "?" in here else "?") + "edit=",
        "empty_text": (
            f"No tasks match “{view.q}”." if view.q.strip() else EMPTY_TEXT[view.status]
        ),
        "form": form,
        "errors": errors or {},
        "notice": notice,
        "priorities": PRIORITIES,
    }


def edit_context(
    task: TaskRead,
    here: str,
    form: EditValues,
    errors: Mapping[str, str] | None = None,
    notice: str = "",
) -> dict[str, Any]:
    return {
        "task": task,
        "here": here,
        "form": form,
        "errors": dict(errors or {}),
        "notice": notice,
        "priorities": PRIORITIES,
    }


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
    page = await service.list_tasks(view.query())
    counts = await service.counts()
    editing_id = ""
    if editing is not None:
        editing_id = str(editing.id)
        form = form or EditValues.of(editing)
        if not any(task.id == editing.id for task in page.items):
            editing = None
            editing_id = ""
    toasts = take_toasts(request)
    body = render(
        request,
        "tasks/index.html",
        section="tasks",
        page_title=(
            "Tasks" if view.status is Status.ALL else f"{FILTER_LABELS[view.status]} tasks · Tasks"
        ),
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


class ListChange:
    """The partials a change to the task list sends to htmx, built once per request."""

    def __init__(self, request: HTMXRequest, service: TaskService, here: str) -> None:
        self.request = request
        self.service = service
        self.here = here
        self.view = ListView.from_url(here)

    async def counts(self) -> TaskCounts:
        return await self.service.counts()

    def rows(self, tasks: Sequence[TaskRead]) -> str:
        return render(
            self.request,
            "tasks/_rows.html",
            **listing_context(self.view, TaskPage(items=list(tasks), total=0, limit=1, offset=0)),
        )

    def row_if_shown(self, task: TaskRead) -> str:
        """The task's row, or nothing (swapped over the row, removes it) when the view no
        longer shows the task, e.g. completing it under the Active filter."""
        shown = self.service.matches(task, self.view.query())
        return self.rows([task] if shown else [])

    async def listing(self, *, focus: str = "") -> str:
        page = await self.service.list_tasks(self.view.query())
        return render(
            self.request,
            "tasks/_listing.html",
            **listing_context(self.view, page, focus=focus),
        )

    async def footer(self) -> str:
        counts = await self.counts()
        return oob(self.request, "tasks/_counter.html", counts=counts) + oob(
            self.request, "tasks/_bulk_actions.html", counts=counts
        )

    def toast(self, toast: Toast) -> str:
        return oob(self.request, "_toasts.html", toasts=[toast], here=self.here)

    async def empty_trash_control(self) -> str:
        counts = await self.counts()
        return oob(self.request, "tasks/_empty_trash.html", counts=counts, confirming=False)


# ------------------------------------------------------------------ the controller


class TaskPages(PageController):
    """The task list and the trash, as pages and as htmx partials."""

    exception_handlers = page_error_handlers(
        "That task no longer exists, or is no longer where it was. Reload the page."
    )

    # -------------------------------------------------------------- reads

    @get("/", name="tasks:index")
    async def index(self, request: HTMXRequest, task_service: Tasks) -> Response[str]:
        view = ListView.from_params(request.query_params)
        if is_partial(request):
            page = await task_service.list_tasks(view.query())
            return partials(
                render(request, "tasks/_listing.html", **listing_context(view, page)),
                oob(request, "tasks/_filters.html", view=view, filters=filter_links(view)),
            )
        editing = None
        if edit := request.query_params.get("edit"):
            try:
                editing = await task_service.get(UUID(edit))
            except (ValueError, NotFound):
                editing = None  # a stale bookmark: show the list without the editor
        return await list_page(request, task_service, view, editing=editing)

    @get("/trash", name="tasks:trash")
    async def trash(self, request: HTMXRequest, task_service: Tasks) -> Response[str]:
        view = ListView.from_params(request.query_params, trash=True)
        confirming = request.query_params.get("confirm") == "empty"
        if is_partial(request):
            if request.htmx.target == "empty-trash":
                counts = await task_service.counts()
                return html(
                    render(
                        request,
                        "tasks/_empty_trash.html",
                        counts=counts,
                        confirming=confirming,
                    )
                )
            page = await task_service.list_tasks(view.query())
            counts = await task_service.counts()
            # After a bulk restore the trash count changed too: its controls come along.
            return html(
                render(request, "tasks/_trash_listing.html", **listing_context(view, page))
                + render(
                    request, "tasks/_empty_trash.html", counts=counts, confirming=False, oob=True
                )
                + render(request, "tasks/_bulk_restore.html", counts=counts, oob=True)
            )
        return await trash_page(request, task_service, view, confirming=confirming)

    @get("/tasks/{task_id:uuid}", name="tasks:row")
    async def row(
        self, request: HTMXRequest, task_service: Tasks, task_id: TaskId
    ) -> Response[str] | Redirect:
        """One row as it is now: what Cancel brings back after an inline edit."""
        if not is_partial(request):
            return Redirect(path=LIST_PATH, status_code=HTTP_303_SEE_OTHER)
        task = await task_service.get(task_id)
        change = ListChange(request, task_service, current_page(request))
        return html(change.rows([task]))

    @get("/tasks/{task_id:uuid}/edit", name="tasks:edit")
    async def edit(
        self, request: HTMXRequest, task_service: Tasks, task_id: TaskId
    ) -> Response[str] | Redirect:
        """The inline edit form (htmx); without JS the list page opens the row for editing."""
        if not is_partial(request):
            return Redirect(path=f"{LIST_PATH}?edit={task_id}", status_code=HTTP_303_SEE_OTHER)
        task = await task_service.get(task_id)
        here = ListView.from_url(current_page(request)).url()
        return html(
            render(request, "tasks/_edit.html", **edit_context(task, here, EditValues.of(task)))
        )

    # -------------------------------------------------------------- changes

    @post("/tasks", name="tasks:add", status_code=200)
    async def add(
        self,
        request: HTMXRequest,
        task_service: Tasks,
        data: Annotated[AddForm, FormBody],
    ) -> Response[str] | Redirect:
        here = back_to(request, data.next)
        view = ListView.from_url(here)
        title = data.title or ""
        try:
            task = await task_service.create(TaskCreate(title=title))
        except InvalidInput as error:
            message = error.errors.get("title") or error.detail
            if not is_partial(request):
                return await list_page(
                    request,
                    task_service,
                    view,
                    status_code=HTTP_422_UNPROCESSABLE_ENTITY,
                    add_title=title,
                    add_error=f"The title {message}.",
                )
            return html(
                render(
                    request,
                    "tasks/_add_form.html",
                    here=here,
                    add_title=title,
                    add_error=f"The title {message}.",
                    autofocus=True,
                ),
                status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            )
        shown = view.page == 1 and task_service.matches(task, view.query())
        hidden_toast = Toast(text=f"Added “{task.title}”; the current view does not show it.")
        if not is_partial(request):
            return see_other(request, here, None if shown else hidden_toast)
        change = ListChange(request, task_service, here)
        parts = [
            render(
                request,
                "tasks/_add_form.html",
                here=here,
                add_title="",
                add_error="",
                autofocus=True,
            ),
            await change.footer(),
        ]
        if shown:
            parts.append(f'<ul hx-swap-oob="afterbegin:#tasks">{change.rows([task])}</ul>')
        else:
            parts.append(change.toast(hidden_toast))
        return partials(*parts)

    async def _set_completed(
        self, request: HTMXRequest, task_service: TaskService, task_id: UUID, next_: str, done: bool
    ) -> Response[str] | Redirect:
        here = back_to(request, next_)
        task = await (task_service.complete(task_id) if done else task_service.reopen(task_id))
        if not is_partial(request):
            return see_other(request, here)
        change = ListChange(request, task_service, here)
        return partials(change.row_if_shown(task), await change.footer())

    @post("/tasks/{task_id:uuid}/complete", name="tasks:complete", status_code=200)
    async def complete(
        self,
        request: HTMXRequest,
        task_service: Tasks,
        task_id: TaskId,
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        return await self._set_completed(request, task_service, task_id, data.next, True)

    @post("/tasks/{task_id:uuid}/reopen", name="tasks:reopen", status_code=200)
    async def reopen(
        self,
        request: HTMXRequest,
        task_service: Tasks,
        task_id: TaskId,
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        return await self._set_completed(request, task_service, task_id, data.next, False)

    @post("/tasks/{task_id:uuid}", name="tasks:save", status_code=200)
    async def save(
        self,
        request: HTMXRequest,
        task_service: Tasks,
        task_id: TaskId,
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
            if not is_partial(request):
                return see_other(request, here, Toast(text=f"Saved “{task.title}”."))
            return html(ListChange(request, task_service, here).row_if_shown(task))
        current = await task_service.get(task_id)
        form = data.values(current)
        if not is_partial(request):
            return await list_page(
                request,
                task_service,
                ListView.from_url(here),
                status_code=status_code,
                editing=current,
                form=form,
                errors=errors,
                notice=notice,
            )
        return html(
            render(
                request, "tasks/_edit.html", **edit_context(current, here, form, errors, notice)
            ),
            status_code=status_code,
        )

    @post("/tasks/{task_id:uuid}/delete", name="tasks:delete", status_code=200)
    async def delete(
        self,
        request: HTMXRequest,
        task_service: Tasks,
        task_id: TaskId,
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        here = back_to(request, data.next)
        task = await task_service.delete(task_id)
        toast = Toast(text="Task deleted", undo=str(task.id))
        if not is_partial(request):
            return see_other(request, here, toast)
        change = ListChange(request, task_service, here)
        # The row leaves: an empty answer swapped over it removes it.
        return partials("", await change.footer(), change.toast(toast))

    @post("/tasks/{task_id:uuid}/restore", name="tasks:restore", status_code=200)
    async def restore(
        self,
        request: HTMXRequest,
        task_service: Tasks,
        task_id: TaskId,
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        """Undo a delete (from the list's toast) or restore from the trash page."""
        here = back_to(request, data.next)
        task = await task_service.restore(task_id)
        change = ListChange(request, task_service, here)
        if change.view.trash:
            toast = Toast(text=f"Restored “{task.title}”.")
            if not is_partial(request):
                return see_other(request, here, toast)
            return partials("", await change.empty_trash_control(), change.toast(toast))
        toast = Toast(text="Task restored")
        if not is_partial(request):
            return see_other(request, here, toast)
        # The whole listing, so that the task comes back in its old place.
        return partials(
            await change.listing(focus=str(task.id)), await change.footer(), change.toast(toast)
        )

    @post("/tasks/complete-all", name="tasks:complete-all", status_code=200)
    async def complete_all(
        self, request: HTMXRequest, task_service: Tasks, data: Annotated[ActionForm, FormBody]
    ) -> Response[str] | Redirect:
        here = back_to(request, data.next)
        await task_service.complete_all()
        if not is_partial(request):
            return see_other(request, here)
        change = ListChange(request, task_service, here)
        return partials(await change.listing(), await change.footer())

    @post("/tasks/clear-completed", name="tasks:clear-completed", status_code=200)
    async def clear_completed(
        self, request: HTMXRequest, task_service: Tasks, data: Annotated[ActionForm, FormBody]
    ) -> Response[str] | Redirect:
        here = back_to(request, data.next)
        moved = await task_service.clear_completed()
        toast = Toast(text=f"Moved {moved} completed {_tasks(moved)} to the trash.")
        if not is_partial(request):
            return see_other(request, here, toast)
        change = ListChange(request, task_service, here)
        return partials(await change.listing(), await change.footer(), change.toast(toast))

    @post("/trash/{task_id:uuid}/purge", name="trash:purge", status_code=200)
    async def purge(
        self,
        request: HTMXRequest,
        task_service: Tasks,
        task_id: TaskId,
        data: Annotated[ActionForm, FormBody],
    ) -> Response[str] | Redirect:
        here = back_to(request, data.next, TRASH_PATH)
        await task_service.purge(task_id)
        toast = Toast(text="Task deleted forever.")
        if not is_partial(request):
            return see_other(request, here, toast)
        change = ListChange(request, task_service, here)
        return partials("", await change.empty_trash_control(), change.toast(toast))

    @post("/trash/empty", name="trash:empty", status_code=200)
    async def empty_trash(
        self, request: HTMXRequest, task_service: Tasks, data: Annotated[ActionForm, FormBody]
    ) -> Response[str] | Redirect:
        here = back_to(request, data.next, TRASH_PATH)
        purged = await task_service.empty_trash()
        toast = Toast(text=f"Trash emptied: {purged} {_tasks(purged)} deleted forever.")
        if not is_partial(request):
            return see_other(request, here, toast)
        change = ListChange(request, task_service, here)
        page = await task_service.list_tasks(change.view.query())
        return partials(
            render(
                request,
                "tasks/_trash_listing.html",
                **listing_context(change.view, page),
            ),
            await change.empty_trash_control(),
            change.toast(toast),
        )


def _tasks(count: int) -> str:
    return "task" if count == 1 else "tasks"
