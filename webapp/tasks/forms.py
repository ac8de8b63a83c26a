"""The task pages' forms as posted (url-encoded), and how they become service input."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar.enums import RequestEncodingType
from litestar.params import Body

from webapp.errors import InvalidInput
from webapp.tasks.schemas import TaskRead, TaskUpdate
from webapp.tasks.views import PRIORITIES, EditValues

FormBody = Body(media_type=RequestEncodingType.URL_ENCODED)


class ActionForm(msgspec.Struct, kw_only=True):
    """A button's post: where to go back to without JS."""

    next: str = ""


def list_choice(text: str | None) -> UUID | None:
    """A list chosen in a form (a <select> or a hidden field): its id; empty is none."""
    if not text:
        return None
    try:
        return UUID(text)
    except ValueError:
        raise InvalidInput({"list": "is not one of your lists; reload and choose again"}) from None


class AddForm(msgspec.Struct, kw_only=True):
    title: str | None = None
    # The list the page shows, or the one chosen on "All tasks"; empty: the Inbox.
    list_id: str = ""
    next: str = ""

    def target(self) -> UUID | None:
        return list_choice(self.list_id)


class EditForm(msgspec.Struct, kw_only=True):
    """The inline edit form. Fields left out keep their value; title and version are
    always in the form, so their absence means the post did not come from it."""

    title: str | None = None
    notes: str | None = None
    priority: str | None = None
    due_date: str | None = None
    version: str | None = None
    list_id: str | None = None
    next: str = ""

    def values(self, task: TaskRead) -> EditValues:
        """What the form shows again after a refusal: what was typed, else the task's."""
        stored = EditValues.of(task)
        return EditValues(
            title=stored.title if self.title is None else self.title,
            notes=stored.notes if self.notes is None else self.notes,
            priority=stored.priority if self.priority is None else self.priority,
            due_date=stored.due_date if self.due_date is None else self.due_date,
            version=stored.version if self.version is None else self.version,
            list_id=stored.list_id if self.list_id is None else self.list_id,
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
        if self.list_id:
            try:
                changes["list_id"] = list_choice(self.list_id)
            except InvalidInput as error:
                errors |= error.errors
        version = self.version or ""
        if version.isascii() and version.isdigit() and len(version) < 10:
            changes["version"] = int(version)
        else:
            errors["version"] = "the form lost track of the task's version; reload and try again"
        if errors:
            raise InvalidInput(errors)
        return TaskUpdate(**changes)
