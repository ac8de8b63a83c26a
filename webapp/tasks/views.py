"""What the task pages show, as it lives in the URL: the view (trash or list, filter,
search, page), its filter links and pager, and the values an edit form shows."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit
from uuid import UUID

import msgspec

from webapp.tasks.schemas import (
    PriorityLabel,
    SortKey,
    SortOrder,
    Status,
    TaskPage,
    TaskQuery,
    TaskRead,
)

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
LISTS_PATH = "/lists"
_ONE_LIST = re.compile(r"/lists/([0-9a-fA-F-]{32,36})")


def list_path(list_id: UUID) -> str:
    return f"{LISTS_PATH}/{list_id}"


class ListView(msgspec.Struct, frozen=True, kw_only=True):
    """Which slice of tasks a page shows; it lives in the URL, so it survives a reload.
    `list_id`: one list's tasks (`/lists/{id}`), else every list's ("All tasks", `/`)."""

    trash: bool = False
    list_id: UUID | None = None
    status: Status = Status.ALL
    q: str = ""
    page: int = 1

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], *, trash: bool = False, list_id: UUID | None = None
    ) -> ListView:
        # Lenient on purpose: a hand-edited URL shows the nearest sensible page.
        try:
            status = Status(params.get("filter", "all"))
        except ValueError:
            status = Status.ALL
        page_text = params.get("page", "1")
        # isascii too: "²".isdigit() is true, and int("²") fails.
        usable = page_text.isascii() and page_text.isdigit() and len(page_text) < 7
        page = int(page_text) if usable else 1
        return cls(
            trash=trash,
            list_id=None if trash else list_id,
            status=status,
            q=params.get("q", ""),
            page=max(page, 1),
        )

    @classmethod
    def from_url(cls, url: str) -> ListView:
        parts = urlsplit(url)
        list_id = None
        if match := _ONE_LIST.fullmatch(parts.path):
            try:
                list_id = UUID(match[1])
            except ValueError:
                list_id = None
        return cls.from_params(
            dict(parse_qsl(parts.query)), trash=parts.path == TRASH_PATH, list_id=list_id
        )

    @property
    def path(self) -> str:
        if self.trash:
            return TRASH_PATH
        return list_path(self.list_id) if self.list_id else LIST_PATH

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
        return TaskQuery(
            status=self.status, list_id=self.list_id, q=self.q, limit=PAGE_SIZE, offset=offset
        )

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
        return f"{self.path}?{urlencode(params)}" if params else self.path

    @property
    def title(self) -> str:
        """The page's <title>."""
        if self.trash:
            return "Trash · Tasks"
        return (
            "Tasks" if self.status is Status.ALL else f"{FILTER_LABELS[self.status]} tasks · Tasks"
        )


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
    list_id: str = ""

    @classmethod
    def of(cls, task: TaskRead) -> EditValues:
        return cls(
            title=task.title,
            notes=task.notes,
            priority=task.priority,
            due_date=task.due_date.isoformat() if task.due_date else "",
            version=str(task.version),
            list_id=str(task.list_id or ""),
        )


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
    read_only: Collection[UUID] = (),
) -> dict[str, Any]:
    """What `tasks/_listing.html` (and the rows in it) render. `read_only`: lists the
    caller only views, whose rows show no controls."""
    here = view.url()
    return {
        "read_only": {str(list_id) for list_id in read_only},
        "view": view,
        "tasks": page.items,
        "pager": pager(view, page),
        "here": here,
        "editing": editing,
        "focus": focus,
        "edit_href": here + ("&" if "?" in here else "?") + "edit=",
        "empty_text": (
            "The trash is empty."
            if view.trash
            else f"No tasks match “{view.q}”." if view.q.strip() else EMPTY_TEXT[view.status]
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
    *,
    lists: Collection[Any] = (),
) -> dict[str, Any]:
    """What `tasks/_edit.html` renders; `lists`: where the task may be moved."""
    return {
        "task": task,
        "lists": lists,
        "here": here,
        "form": form,
        "errors": dict(errors or {}),
        "notice": notice,
        "priorities": PRIORITIES,
    }
