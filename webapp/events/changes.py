"""A Change, published by a service after its commit: whose views it touches (accounts)
and which lists. Its listeners: the read cache (each account's scope is retired) and,
when one is wired, the feed of live updates (`webapp.events.feed`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol
from uuid import UUID

from webapp.accounts.caller import cache_scope
from webapp.cache import ReadCache
from webapp.events.origin import ORIGIN


@dataclass(frozen=True, slots=True)
class Change:
    """Something committed that `accounts` may see: tasks in `lists` (empty: none in
    particular, e.g. a list renamed or shared), or, with `access`, who may see a list."""

    accounts: frozenset[UUID]
    lists: frozenset[UUID] = field(default_factory=frozenset)
    access: bool = False
    # The page whose request made it (`webapp.events.origin`; "" for none).
    origin: str = ""

    @classmethod
    def of(
        cls, accounts: Iterable[UUID], lists: Iterable[UUID] = (), *, access: bool = False
    ) -> Change:
        return cls(frozenset(accounts), frozenset(lists), access)


class Feed(Protocol):
    """Where changes go to reach the open pages (`webapp.events.feed`)."""

    async def publish(self, change: Change) -> None: ...


class Changes:
    """The listeners of every change, in the order they must hear of it: the cache first
    (a page told of the change reads it fresh), then the feed."""

    def __init__(self, cache: ReadCache, feed: Feed | None = None) -> None:
        self.cache = cache
        self.feed = feed

    async def publish(self, change: Change) -> None:
        if not change.origin and (origin := ORIGIN.get()):
            change = replace(change, origin=origin)
        await self.cache.invalidate([cache_scope(account) for account in change.accounts])
        if self.feed is not None:
            await self.feed.publish(change)
