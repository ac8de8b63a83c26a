"""The rules of a task's fields and of a list read's parameters, and where a task is
expected to be: the checks TaskService applies before it touches the database."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from webapp.errors import Conflict, InvalidInput, NotFound
from webapp.tasks.models import NOTES_MAX_LENGTH, TITLE_MAX_LENGTH
from webapp.tasks.schemas import TaskQuery
from webapp.text import control_character, one_line

# Where a caller expects a task: live (not in the trash), in the trash, or either.
Where = Literal["live", "trash", "any"]

LIMIT_MAX = 100
# Past any list anyone pages through, and within what every database takes as an OFFSET.
OFFSET_MAX = 1_000_000_000
SEARCH_MAX_LENGTH = 200


def clean_title(title: str) -> str:
    """The stored form of a title: trimmed, 1 to 200 characters, something visible in
    them, and no control character (see webapp.text)."""
    return one_line(title, "title", TITLE_MAX_LENGTH)


def clean_notes(notes: str) -> str:
    """Notes as given: up to 10,000 characters, line breaks and tabs but no other control
    character."""
    if len(notes) > NOTES_MAX_LENGTH:
        raise InvalidInput(
            {"notes": f"must be at most {NOTES_MAX_LENGTH} characters (got {len(notes)})"}
        )
    if refused := control_character(notes, allow_line_breaks=True):
        raise InvalidInput({"notes": f"must not hold control characters (found {refused})"})
    return notes


def validate_query(query: TaskQuery) -> TaskQuery:
    errors = {}
    if not 1 <= query.limit <= LIMIT_MAX:
        errors["limit"] = f"must be between 1 and {LIMIT_MAX}"
    if not 0 <= query.offset <= OFFSET_MAX:
        errors["offset"] = f"must be between 0 and {OFFSET_MAX}"
    if len(query.q) > SEARCH_MAX_LENGTH:
        errors["q"] = f"must be at most {SEARCH_MAX_LENGTH} characters"
    if errors:
        raise InvalidInput(errors)
    return query


def check_where(task_id: UUID, in_trash: bool, where: Where) -> None:
    """The one rule for a task that is not where the caller expects it.

    A trashed task asked for as live does not exist for that caller (NotFound); a live
    task asked for in the trash (to purge it) exists but refuses the request (Conflict).
    """
    if where == "live" and in_trash:
        raise NotFound(f"task {task_id} is in the trash")
    if where == "trash" and not in_trash:
        raise Conflict(f"task {task_id} is not in the trash")
