"""Brute-force protection: failed log-ins counted per account and per client address.

Ten failures within fifteen minutes for either (FAILURES_ALLOWED in WINDOW_SECONDS) and
further attempts are refused with 429 until the window ends, whatever the password: a
guesser gets ten tries per account and per address every quarter of an hour. The counts
live in Redis when REDIS_URL is set, so every process shares them; else in this process.
A window starts at its first failure (a fixed window: INCR, and EXPIRE on the first).
"""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis

from webapp.accounts.secrets import digest
from webapp.errors import TooManyAttempts

FAILURES_ALLOWED = 10
WINDOW_SECONDS = 15 * 60


class FailureCounts(Protocol):
    async def failures(self, key: str) -> tuple[int, int]:
        """Failures counted under `key` in its window, and the seconds the window has left."""

    async def add_failure(self, key: str) -> None: ...

    async def forget(self, key: str) -> None: ...


class MemoryFailureCounts:
    """One process's counts (the local run mode)."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}

    async def failures(self, key: str) -> tuple[int, int]:
        count, ends = self._counts.get(key, (0, 0.0))
        left = ends - time.monotonic()
        return (count, int(left) + 1) if left > 0 else (0, 0)

    async def add_failure(self, key: str) -> None:
        count, left = await self.failures(key)
        if len(self._counts) > 100_000:  # an address-spraying attack must not fill memory
            now = time.monotonic()
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        ends = time.monotonic() + (left if count else WINDOW_SECONDS)
        self._counts[key] = (count + 1, ends)

    async def forget(self, key: str) -> None:
        self._counts.pop(key, None)


class RedisFailureCounts:
    """Counts shared by every process through Redis."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self._prefix = f"{prefix}login-failures:"

    async def failures(self, key: str) -> tuple[int, int]:
        async with self._client.pipeline(transaction=False) as pipeline:
            pipeline.get(self._prefix + key)
            pipeline.ttl(self._prefix + key)
            count, ttl = await pipeline.execute()
        return (int(count), max(int(ttl), 1)) if count is not None else (0, 0)

    async def add_failure(self, key: str) -> None:
        async with self._client.pipeline(transaction=True) as pipeline:
            pipeline.incr(self._prefix + key)
            pipeline.expire(self._prefix + key, WINDOW_SECONDS, nx=True)
            await pipeline.execute()

    async def forget(self, key: str) -> None:
        await self._client.delete(self._prefix + key)


class LoginThrottle:
    """Whether a log-in may be tried now, and the bookkeeping of its outcome."""

    def __init__(self, counts: FailureCounts) -> None:
        self._counts = counts

    @staticmethod
    def _keys(email: str, client: str) -> tuple[str, str]:
        # Hashed: the store never holds the addresses people typed.
        return f"account:{digest(email)}", f"client:{digest(client)}"

    async def check(self, email: str, client: str) -> None:
        """Raise TooManyAttempts while the account or the address is over its limit."""
        for key in self._keys(email, client):
            failures, seconds_left = await self._counts.failures(key)
            if failures >= FAILURES_ALLOWED:
                raise TooManyAttempts(
                    "too many failed log-ins; try again in "
                    f"{(seconds_left + 59) // 60} minute{'s' if seconds_left > 60 else ''}",
                    retry_after=seconds_left,
                )

    async def failed(self, email: str, client: str) -> None:
        for key in self._keys(email, client):
            await self._counts.add_failure(key)

    async def succeeded(self, email: str, client: str) -> None:
        # The account's count starts over; the address's does not (one address trying
        # many accounts, and getting one right, is still a guesser).
        account_key, _ = self._keys(email, client)
        await self._counts.forget(account_key)
