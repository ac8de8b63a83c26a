"""Brute-force protection: log-in attempts counted per account and per client address.

An attempt is counted *before* its password is checked (a failure later keeps it, a
success gives it back), so a burst of guesses sent at once is counted in full: past
ACCOUNT_ATTEMPTS for an account, or ADDRESS_ATTEMPTS for an address, within
WINDOW_SECONDS, log-ins are refused with 429 until the window ends, whatever the
password. An address gets more than an account: many people may share one (an office's
NAT, or every client behind a proxy when TRUSTED_PROXIES is not set). The counts live in
Redis when REDIS_URL is set, so every process shares them; else in this process. A window
starts at its first attempt (a fixed window: INCR, and EXPIRE on the first).
"""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis

from webapp.accounts.secrets import digest
from webapp.errors import TooManyAttempts

ACCOUNT_ATTEMPTS = 10
ADDRESS_ATTEMPTS = 50
WINDOW_SECONDS = 15 * 60


class AttemptCounts(Protocol):
    async def add(self, key: str) -> tuple[int, int]:
        """Count one more attempt under `key`: the count now, and the seconds its window
        has left. Atomic: concurrent attempts each get their own number."""

    async def give_back(self, key: str) -> None:
        """Take one attempt back (it succeeded)."""

    async def forget(self, key: str) -> None: ...


class MemoryAttemptCounts:
    """One process's counts (the local run mode). The event loop runs one `add` at a time,
    which makes it atomic."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}

    async def add(self, key: str) -> tuple[int, int]:
        now = time.monotonic()
        count, ends = self._counts.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + WINDOW_SECONDS
            if len(self._counts) > 100_000:  # an address-spraying flood must not fill memory
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        self._counts[key] = (count + 1, ends)
        return count + 1, int(ends - now) + 1

    async def give_back(self, key: str) -> None:
        count, ends = self._counts.get(key, (0, 0.0))
        if count > 1:
            self._counts[key] = (count - 1, ends)
        else:
            self._counts.pop(key, None)

    async def forget(self, key: str) -> None:
        self._counts.pop(key, None)


class RedisAttemptCounts:
    """Counts shared by every process through Redis."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self._prefix = f"{prefix}login-attempts:"

    async def add(self, key: str) -> tuple[int, int]:
        async with self._client.pipeline(transaction=True) as pipeline:
            pipeline.incr(self._prefix + key)
            pipeline.expire(self._prefix + key, WINDOW_SECONDS, nx=True)
            pipeline.ttl(self._prefix + key)
            count, _, ttl = await pipeline.execute()
        return int(count), max(int(ttl), 1)

    async def give_back(self, key: str) -> None:
        await self._client.decr(self._prefix + key)

    async def forget(self, key: str) -> None:
        await self._client.delete(self._prefix + key)


class LoginThrottle:
    """Whether a log-in may be tried now, and the bookkeeping of its outcome."""

    def __init__(self, counts: AttemptCounts) -> None:
        self._counts = counts

    @staticmethod
    def _keys(email: str, client: str) -> tuple[str, str]:
        # Hashed: the store never holds the addresses people typed.
        return f"account:{digest(email)}", f"client:{digest(client)}"

    async def attempt(self, email: str, client: str) -> None:
        """Count an attempt to log in as `email` from `client`; TooManyAttempts when the
        account or the address is past its limit (the attempt is then not made)."""
        account_key, client_key = self._keys(email, client)
        for key, allowed in ((account_key, ACCOUNT_ATTEMPTS), (client_key, ADDRESS_ATTEMPTS)):
            count, seconds_left = await self._counts.add(key)
            if count > allowed:
                minutes = (seconds_left + 59) // 60
                raise TooManyAttempts(
                    f"too many failed log-ins; try again in {minutes} "
                    f"minute{'s' if minutes != 1 else ''}",
                    retry_after=seconds_left,
                )

    async def succeeded(self, email: str, client: str) -> None:
        # The account starts over; the address gets its attempt back (people sharing
        # an address who log in fine never use its allowance up).
        account_key, client_key = self._keys(email, client)
        await self._counts.forget(account_key)
        await self._counts.give_back(client_key)
