"""The caller's lists as the pages show them: the sidebar, and which controls a page
offers for a list (a viewer's rows have none that would be refused)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from webapp.lists.schemas import ListRead


@dataclass(frozen=True)
class Sidebar:
    """Every list the caller reads, in the sidebar's order (theirs, then shared ones)."""

    lists: Sequence[ListRead]

    def current(self, list_id: UUID | None) -> ListRead | None:
        return next((item for item in self.lists if item.id == list_id), None)

    @property
    def writable(self) -> list[ListRead]:
        """Lists the caller may add tasks to and move tasks into."""
        return [item for item in self.lists if item.role != "viewer"]

    @property
    def read_only(self) -> frozenset[UUID]:
        return frozenset(item.id for item in self.lists if item.role == "viewer")

    def may_change(self, list_id: UUID | None) -> bool:
        """Whether a page of `list_id` (None: all lists) offers controls that change tasks."""
        current = self.current(list_id)
        return current is None or current.role != "viewer"
