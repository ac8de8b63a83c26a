"""Who is asking: what every service call carries, made at the doors from a session or a
token (`webapp.accounts.auth`) and by a worker from a job's owner."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


def cache_scope(account_id: UUID) -> str:
    """The read cache's scope of one account's data."""
    return account_id.hex


@dataclass(frozen=True, slots=True)
class Caller:
    """The account a service acts for. Services scope every query to it."""

    account_id: UUID
    is_admin: bool = False

    @property
    def cache_scope(self) -> str:
        return cache_scope(self.account_id)
