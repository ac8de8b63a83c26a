"""Forcing an interleaving instead of hoping for one: a coroutine stops at a `Gate` until
the test opens it, so the test decides what runs in between."""

from __future__ import annotations

import asyncio


class Gate:
    """A point where one coroutine waits until the test lets it go on."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self._open = asyncio.Event()

    async def stop_here(self) -> None:
        """Called by the coroutine under test: say it got here, then wait."""
        self.reached.set()
        await self._open.wait()

    async def wait_until_reached(self) -> None:
        async with asyncio.timeout(10):
            await self.reached.wait()

    def open(self) -> None:
        self._open.set()
