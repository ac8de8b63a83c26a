"""Recording requests made with an Idempotency-Key, and what they were answered.

A key belongs to a caller and lives 24 hours (KEEP_FOR). The first request with a key
records it as in progress; its answer is stored when it is sent. A request with the
same key then gets, without being run:
- the stored answer, if its fingerprint (method, path, query, body) is the same;
- a mismatch, if it differs (the client reused a key for another request);
- "in progress", while the first one is still being answered.

A first request that fails with a 5xx stores no answer, so that the client may try
again; whether trying again is safe depends on whether its write committed. That is
known for sure, because the request's own transaction marks the record `applied_at`
(`mark_applied`, a before-commit hook on the request's session): the mark and the write
commit together or not at all. The key is released for a retry only if it is not marked
(`release`). A commit whose answer was lost with the database (it committed, the app
could not tell) leaves the mark: a retry is then told the request was applied
(`AlreadyApplied`), and nothing is done twice.

The release runs in the background (the database may be what failed), retried until
the database answers; meanwhile the process keeps the key in `_FAILED`, and a retry of
the key reaching this process is decided at once. A record whose process died (no
answer, no release) is decided after ABANDONED_AFTER.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import random
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from sqlalchemy import delete, event, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from webapp.clock import utcnow
from webapp.idempotency.models import IdempotencyRecord

log = structlog.get_logger(__name__)

KEEP_FOR = datetime.timedelta(hours=24)
# Past this, a first request with neither an answer nor a release died with its process
# (no request of this app takes that long).
ABANDONED_AFTER = datetime.timedelta(seconds=30)
# One `begin` in this many also deletes the expired records.
CLEAN_UP_ONE_IN = 50
# How often, and how long, a release the database refused is tried again.
RELEASE_RETRY_SECONDS = 0.25
RELEASE_GIVE_UP_SECONDS = 120.0
# The session's `info` key naming the (caller, key) its commits apply.
SESSION_INFO_KEY = "idempotency"

Headers = list[tuple[str, str]]
CallerKey = tuple[str, str]
# Which attempt at a key a request is: the record's created_at when it began. A retry that
# takes a record over gives it a new one, so the first attempt can no longer change it.
Attempt = tuple[str, str, datetime.datetime]

# Keys whose first request failed in this process and whose release has not yet gone
# through (the database was down): a retry reaching this process is decided at once.
_FAILED: set[CallerKey] = set()


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Started:
    """This request is the first with its key (this `attempt` of it): run it, then
    `complete` or `release` the attempt."""

    attempt: datetime.datetime


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


@dataclass(frozen=True, slots=True)
class AlreadyApplied:
    """The first request's change committed, but its answer was lost (the database
    failed as it answered): it is not made again."""


Outcome = Started | Replay | Mismatch | InProgress | AlreadyApplied


# Set on a session (its `info`) while its transaction has written something.
_WROTE = "idempotency_wrote"


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_over(session: Session) -> None:
    session.info.pop(_WROTE, None)


@event.listens_for(Session, "before_commit")
def mark_applied(session: Session) -> None:
    """In the request's own transaction, if it wrote anything: its Idempotency-Key's
    change is being applied (a commit that only ends a read marks nothing)."""
    attempt = session.info.get(SESSION_INFO_KEY)
    # before_commit comes before the commit's own flush: pending objects count as writes.
    writes = session.info.get(_WROTE) or session.new or session.dirty or session.deleted
    if attempt is None or not writes:
        return
    caller, key, started = attempt
    session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.caller == caller,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at == started,
            IdempotencyRecord.applied_at.is_(None),
        )
        .values(applied_at=utcnow())
        .execution_options(synchronize_session=False)
    )


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
            # A concurrent first request may insert between our read and write, and this
            # process's release of a failed first request may delete the record we read:
            # read again then.
            for _ in range(3):
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
                    _FAILED.discard((caller, key))
                    return Started(now)
                decided = await self._existing(session, record, request, now)
                if decided is not None:
                    return decided
            return InProgress()

    async def _existing(
        self, session: AsyncSession, record: IdempotencyRecord, request: str, now: datetime.datetime
    ) -> Outcome | None:
        """What to do about a request whose key has a record; None: read it again."""
        if record.fingerprint != request:
            return Mismatch()
        if record.status_code is not None:
            headers = msgspec.json.decode(record.response_headers or "[]", type=Headers)
            return Replay(record.status_code, headers, record.response_body or b"")
        failed_here = (record.caller, record.key) in _FAILED
        if not failed_here and record.created_at > now - ABANDONED_AFTER:
            return InProgress()
        # The first request is over without an answer (it failed here, or its process
        # died): if its change committed, it is not made again; if not, one retry runs it.
        if record.applied_at is not None:
            return AlreadyApplied()
        taken = await session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.caller == record.caller,
                IdempotencyRecord.key == record.key,
                IdempotencyRecord.status_code.is_(None),
                IdempotencyRecord.applied_at.is_(None),
                IdempotencyRecord.created_at == record.created_at,
            )
            .values(created_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        if int(taken.rowcount) != 1:  # type: ignore[attr-defined]
            # Another retry took it over, or (failed here) our own release deleted it.
            return None if failed_here else InProgress()
        _FAILED.discard((record.caller, record.key))
        return Started(now)

    async def complete(
        self, attempt: Attempt, status_code: int, headers: Headers, body: bytes
    ) -> None:
        """Store the answer of the request that began this attempt at its key."""
        caller, key, started = attempt
        async with AsyncSession(self.engine) as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.caller == caller,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.created_at == started,
                )
                .values(
                    status_code=status_code,
                    response_headers=msgspec.json.encode(headers).decode(),
                    response_body=body,
                )
                .execution_options(synchronize_session=False)
            )
            await session.commit()

    def release(self, attempt: Attempt) -> None:
        """The request failed: let a retry run it, unless its change committed. Done in
        the background (the database may be what failed, and the answer must not wait
        for it); until it is done, a retry reaching this process is decided at once."""
        caller, key, _ = attempt
        _FAILED.add((caller, key))
        task = asyncio.get_running_loop().create_task(self._release(attempt))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    async def _release(self, attempt: Attempt) -> None:
        caller, key, started = attempt
        give_up = asyncio.get_running_loop().time() + RELEASE_GIVE_UP_SECONDS
        while (caller, key) in _FAILED and asyncio.get_running_loop().time() < give_up:
            try:
                async with AsyncSession(self.engine) as session:
                    result = await session.execute(
                        delete(IdempotencyRecord)
                        .where(
                            IdempotencyRecord.caller == caller,
                            IdempotencyRecord.key == key,
                            IdempotencyRecord.created_at == started,
                            IdempotencyRecord.status_code.is_(None),
                            IdempotencyRecord.applied_at.is_(None),
                        )
                        .execution_options(synchronize_session=False)
                    )
                    await session.commit()
            except Exception as error:  # the database is still down: the next try
                log.debug("idempotency key not released yet", error=type(error).__name__)
                await asyncio.sleep(RELEASE_RETRY_SECONDS)
                continue
            if int(result.rowcount) == 1:  # type: ignore[attr-defined]
                _FAILED.discard((caller, key))
            # Otherwise its change committed (or a retry took it over): kept in _FAILED, a
            # retry here is answered at once.
            return

    @staticmethod
    async def _clean_up(session: AsyncSession, now: datetime.datetime) -> None:
        # Run every CLEAN_UP_ONE_IN keys, it finds about that many expired records.
        await session.execute(
            delete(IdempotencyRecord)
            .where(IdempotencyRecord.expires_at <= now)
            .execution_options(synchronize_session=False)
        )
        await session.commit()


# Background releases in flight (kept referenced until they end).
_BACKGROUND: set[asyncio.Task[Any]] = set()
