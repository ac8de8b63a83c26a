"""Running a job, whatever its kind: the lease, the batches, finishing, failing, and the
sweep that re-sends jobs whose message was lost or whose worker died.

One delivery of a job's message runs it like this:

1. **Claim**: `UPDATE job SET lease_owner = me ... WHERE id = ? AND unfinished AND (no
   owner OR lease expired)`, committed. A delivery that gets no row leaves: the job is
   finished, or another delivery is working on it.
2. **Batches**, each one transaction that starts by renewing the lease with `... WHERE
   lease_owner = me` (the first write: on MariaDB it locks the job's row, on SQLite the
   database, until the commit), then does the kind's step and records its progress. If
   the lease was lost meanwhile (taken over after it expired) the batch is rolled back
   and the delivery leaves: nothing is done or counted twice, on any database.
   A heartbeat renews the lease every HEARTBEAT_SECONDS between batches too.
3. **Finish** once the last batch is committed and the cache bumped, and release the lease.
   Or, if the worker has begun to stop (SIGTERM), **hand over** after the batch in hand:
   the lease is expired at once, so that the next sweep of any worker sends the job again
   and its next delivery carries on from that batch. A stopping worker then exits within
   a batch, not a whole job.

The sweep runs in every worker process every SWEEP_SECONDS (and in the app in the local
mode): an unfinished job whose lease has expired (its worker died) or that nobody has
claimed for REQUEUE_AFTER (its message was lost) is released and sent again. With a
worker available, a job whose worker was killed carries on within LEASE + SWEEP_SECONDS.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import socket
from collections.abc import Iterable
from uuid import UUID, uuid4

import structlog
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from webapp.clock import utcnow
from webapp.errors import NotFound
from webapp.events.changes import Change
from webapp.jobs.kinds import JobContext, JobKind, JobSender
from webapp.jobs.models import (
    ERROR_MAX_LENGTH,
    LEASE_OWNER_LENGTH,
    UNFINISHED,
    Job,
    JobStatus,
)

log = structlog.get_logger(__name__)

LEASE = datetime.timedelta(seconds=15)
HEARTBEAT_SECONDS = 5.0
SWEEP_SECONDS = 5.0
# A job nobody has claimed for this long is presumed to have lost its message.
REQUEUE_AFTER = datetime.timedelta(seconds=60)
# At most this many jobs are re-sent by one sweep (the rest by the next ones).
SWEEP_LIMIT = 100


def delivery_name() -> str:
    """Who holds a lease: host, process and this delivery (for people reading the row)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid4().hex[:16]}"[:LEASE_OWNER_LENGTH]


def _held_by(job_id: UUID, owner: str) -> tuple[ColumnElement[bool], ...]:
    return (Job.id == job_id, Job.lease_owner == owner, Job.status.in_(UNFINISHED))


async def _claim(session: AsyncSession, job_id: UUID, owner: str) -> bool:
    now = utcnow()
    result = await session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status.in_(UNFINISHED),
            or_(Job.lease_owner.is_(None), Job.lease_expires_at < now),
        )
        .values(lease_owner=owner, lease_expires_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def _renew(session: AsyncSession, job_id: UUID, owner: str) -> bool:
    """Extend the lease if `owner` still holds it (in the caller's transaction)."""
    result = await session.execute(
        update(Job)
        .where(*_held_by(job_id, owner))
        .values(lease_expires_at=utcnow() + LEASE)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def _heartbeat(engine: AsyncEngine, job_id: UUID, owner: str) -> None:
    """Renew the lease now and then while a delivery works, on a session of its own."""
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        try:
            async with AsyncSession(engine) as session:
                await _renew(session, job_id, owner)
                await session.commit()
        except Exception as error:  # a busy or absent database: the batches renew too
            log.debug("lease not renewed", job_id=str(job_id), error=type(error).__name__)


async def run(context: JobContext, kind: JobKind, job_id: UUID) -> Job:
    """Run (what is left of) the job with this delivery; returns the job as it ends.

    Safe to call for any job at any time: a finished job, or one another delivery holds,
    is returned as it is. Raises NotFound for a job that does not exist.
    """
    session = context.session
    owner = delivery_name()
    if not await _claim(session, job_id, owner):
        job = await session.get(Job, job_id, populate_existing=True)
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return job
    engine = session.bind
    assert isinstance(engine, AsyncEngine), "a job's session is bound to an engine"
    heartbeat = asyncio.create_task(_heartbeat(engine, job_id, owner))
    try:
        while True:
            if not await _renew(session, job_id, owner):
                await session.rollback()
                log.warning("job lease lost; leaving it to its new holder", job_id=str(job_id))
                break
            job = await session.get_one(Job, job_id, populate_existing=True)
            now = utcnow()
            if job.status == JobStatus.QUEUED:
                job.status = JobStatus.RUNNING.value
                job.started_at = now
            step = await kind.step(context, job)
            job.done += step.done
            job.skipped += step.skipped
            job.updated_at = now
            # Read in the batch's transaction: after the commit the row is expired.
            published = bool(step.done or step.changed)
            audience = await kind.audience(context, job) if published else set()
            await session.commit()
            if published:
                await context.changes.publish(Change.of(audience))
            if step.last:
                # Only after the cache bump: a page that sees "done" and reloads the data
                # must not be served what it was before the last batch. A crash right here
                # leaves the job running with nothing left to do; its next delivery
                # (after the lease expires) finishes it.
                await _finish(session, kind, job_id, owner)
                break
            if context.stopping():
                await _hand_over(session, job_id, owner)
                log.info(
                    "job left to another worker: this one is stopping",
                    job_id=str(job_id),
                    done=job.done,
                    skipped=job.skipped,
                )
                break
    finally:
        heartbeat.cancel()
    return await session.get_one(Job, job_id, populate_existing=True)


async def _finish(session: AsyncSession, kind: JobKind, job_id: UUID, owner: str) -> None:
    if not await _renew(session, job_id, owner):
        await session.rollback()
        return
    job = await session.get_one(Job, job_id, populate_existing=True)
    job.status = JobStatus.DONE.value
    job.updated_at = job.finished_at = utcnow()
    job.lease_owner = job.lease_expires_at = None
    kind.finish(job)
    await session.commit()


async def _hand_over(session: AsyncSession, job_id: UUID, owner: str) -> None:
    """Expire this delivery's lease now: the job is abandoned, for the next sweep to send."""
    await session.execute(
        update(Job)
        .where(*_held_by(job_id, owner))
        .values(lease_expires_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def fail(session: AsyncSession, job_id: UUID, reason: str) -> None:
    """Mark an unfinished job failed with `reason` (what its last attempt ran into)."""
    now = utcnow()
    await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(UNFINISHED))
        .values(
            status=JobStatus.FAILED.value,
            error=reason[:ERROR_MAX_LENGTH],
            finished_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    await session.commit()


def _abandoned(now: datetime.datetime, older_than: datetime.timedelta) -> ColumnElement[bool]:
    """Unfinished jobs nobody works on: a lease that expired, or no lease for a while."""
    return and_(
        Job.status.in_(UNFINISHED),
        or_(
            and_(Job.lease_owner.is_not(None), Job.lease_expires_at < now),
            and_(Job.lease_owner.is_(None), Job.updated_at <= now - older_than),
        ),
    )


async def sweep(
    context: JobContext,
    kinds: Iterable[str],
    *,
    older_than: datetime.timedelta = REQUEUE_AFTER,
    everything: bool = False,
) -> list[UUID]:
    """Send again the abandoned jobs of these kinds; returns their ids.

    Each is released (no owner) and touched first, with a conditional UPDATE, so that a
    job is re-sent by one sweeper, not by every worker sweeping at once, and not again
    for `older_than`. `everything`: every unfinished job, leases or not (the local mode
    at start: whatever held them died with the previous run).
    """
    session = context.session
    now = utcnow()
    wanted = Job.status.in_(UNFINISHED) if everything else _abandoned(now, older_than)
    candidates = (
        await session.execute(
            select(Job.id, Job.kind)
            .where(wanted, Job.kind.in_(list(kinds)))
            .order_by(Job.created_at)
            .limit(SWEEP_LIMIT)
        )
    ).all()
    released: list[tuple[UUID, str]] = []
    for job_id, kind in candidates:
        result = await session.execute(
            update(Job)
            .where(Job.id == job_id, wanted)
            .values(lease_owner=None, lease_expires_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if int(result.rowcount) == 1:  # type: ignore[attr-defined]
            released.append((job_id, kind))
    await session.commit()
    for job_id, kind in released:
        await send(context.sender, kind, job_id)
    if released:
        log.info("re-sent abandoned jobs", count=len(released))
    return [job_id for job_id, _ in released]


async def send(sender: JobSender | None, kind: str, job_id: UUID) -> None:
    """Send a committed job's message; if that fails, the sweep sends it later."""
    if sender is None:
        return
    try:
        await sender.send(kind, job_id)
    except Exception as error:
        log.warning(
            "job not sent; it is sent again by a sweep",
            kind=kind,
            job_id=str(job_id),
            error=f"{type(error).__name__}: {error}",
        )
