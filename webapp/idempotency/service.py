"""Recording requests made with an Idempotency-Key, and what they were answered.

A key belongs to a caller and lives 24 hours (KEEP_FOR). The first request with a key
records it as in progress; its answer is stored when it is sent (a 5xx is not stored:
nothing was done, or nothing can be promised, and the client may try again). A request
with the same key then gets, without being run:
- the stored answer, if its fingerprint (method, path, query, body) is the same;
- a mismatch, if it differs (the client reused a key for another request);
- "in progress", while the first one is still being answered. An in-progress record
  older than ABANDONED_AFTER (its process died) may be taken over by one retry.
"""

from __future__ import annotations

import datetime
import hashlib
import random
from dataclasses import dataclass

import msgspec
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from webapp.clock import utcnow
from webapp.idempotency.models import IdempotencyRecord

KEEP_FOR = datetime.timedelta(hours=24)
ABANDONED_AFTER = datetime.timedelta(seconds=60)
# One `begin` in this many also deletes the expired records.
CLEAN_UP_ONE_IN = 50

Headers = list[tuple[str, str]]


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Started:
    """This request is the first with its key: run it, then `complete` or `abandon`."""


@dataclass(frozen=True, slots=True)
class Replay:
    status_code: int
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used for a different request."""


@dataclass(frozen=True, slots=True)
class InProgress:
    """The first request with this key has not been answered yet."""


Outcome = Started | Replay | Mismatch | InProgress


class IdempotencyService:
    """The records of one app process (each call uses a short session of its own)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def begin(self, caller: str, key: str, request: str) -> Outcome:
        """What to do with a request of fingerprint `request` sent with `key`."""
        now = utcnow()
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            if random.randrange(CLEAN_UP_ONE_IN) == 0:  # noqa: S311 (not security)
                await self._clean_up(session, now)
            for _ in range(2):  # a concurrent first request may insert between our read and write
                record = await session.get(IdempotencyRecord, (caller, key), populate_existing=True)
                if record is not None and record.expires_at <= now:
                    await session.delete(record)
                    await session.flush()
                    record = None
                if record is None:
                    session.add(
                        IdempotencyRecord(
                            caller=caller,
                            key=key,
                            fingerprint=request,
                            created_at=now,
                            expires_at=now + KEEP_FOR,
                        )
                    )
                    try:
                        await session.commit()
                    except IntegrityError:
                        await session.rollback()
                        continue
                    return Started()
                return await self._existing(session, record, request, now)
            return InProgress()

    async def _existing(
        self, session: AsyncSession, record: IdempotencyRecord, request: str, now: datetime.datetime
    ) -> Outcome:
        if record.fingerprint != request:
            return Mismatch()
        if record.status_code is not None:
            headers = msgspec.json.decode(record.response_headers or "[]", type=Headers)
            return Replay(record.status_code, headers, record.response_body or b"")
        if record.created_at > now - ABANDONED_AFTER:
            return InProgress()
        # The first request's process died before answering: one retry takes over.
        taken = await session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.caller == record.caller,
                IdempotencyRecord.key == record.key,
                IdempotencyRecord.status_code.is_(None),
                IdempotencyRecord.created_at == record.created_at,
            )
            .values(created_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        return Started() if int(taken.rowcount) == 1 else InProgress()  # type: ignore[attr-defined]

    async def complete(
        self, caller: str, key: str, status_code: int, headers: Headers, body: bytes
    ) -> None:
        """Store the answer of the request that began with this key."""
        async with AsyncSession(self.engine) as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.caller == caller, IdempotencyRecord.key == key)
                .values(
                    status_code=status_code,
                    response_headers=msgspec.json.encode(headers).decode(),
                    response_body=body,
                )
                .execution_options(synchronize_session=False)
            )
            await session.commit()

    async def abandon(self, caller: str, key: str) -> None:
        """Forget the key: the request failed, the client may send it again."""
        async with AsyncSession(self.engine) as session:
            await session.execute(
                delete(IdempotencyRecord)
                .where(
                    IdempotencyRecord.caller == caller,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.status_code.is_(None),
                )
                .execution_options(synchronize_session=False)
            )
            await session.commit()

    @staticmethod
    async def _clean_up(session: AsyncSession, now: datetime.datetime) -> None:
        # Run every CLEAN_UP_ONE_IN keys, it finds about that many expired records.
        await session.execute(
            delete(IdempotencyRecord)
            .where(IdempotencyRecord.expires_at <= now)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
