"""RestoreJobService: every rule about restore jobs, for the front doors and the worker.

Creating a job commits its row first and only then sends the message: a crash in between
leaves a queued job without a message, never a message without a job, and `requeue`
re-sends such jobs. The worker restores a job in batches; each batch restores its tasks
and records its progress in one transaction, under a lock on the job's row, so a batch is
either wholly done and counted or not done at all, and two deliveries of one message
take turns instead of counting the same tasks twice.
"""

from __future__ import annotations

import datetime
import time
from uuid import UUID

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.cache import ReadCache
from webapp.clock import utcnow
from webapp.errors import InvalidInput, NotFound
from webapp.jobs.kinds import JobSender
from webapp.restore import trash
from webapp.restore.models import (
    ERROR_MAX_LENGTH,
    RESTORE_MAX_IDS,
    JobScope,
    JobStatus,
    RestoreJob,
    RestoreJobItem,
)
from webapp.restore.schemas import RestoreJobCreate, RestoreJobRead
from webapp.restore.trash import TrashCursor

log = structlog.get_logger(__name__)

_UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


# The kind of job (`webapp.restore.kind`): its actor and queue are named after it.
RESTORE_KIND = "restore"


def percent_done(status: str, total: int, handled: int) -> int:
    """Whole percent of the job handled (restored or skipped); 100 once it is done."""
    if status == JobStatus.DONE:
        return 100
    if total <= 0:
        return 0
    return min(100 * handled // total, 100)


def _to_read(job: RestoreJob) -> RestoreJobRead:
    duration = (
        (job.finished_at - job.started_at).total_seconds()
        if job.finished_at is not None and job.started_at is not None
        else None
    )
    return RestoreJobRead(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        scope=job.scope,  # type: ignore[arg-type]
        total=job.total,
        restored=job.restored,
        skipped=job.skipped,
        percent=percent_done(job.status, job.total, job.restored + job.skipped),
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        updated_at=job.updated_at,
        duration_seconds=duration,
    )


class RestoreJobService:
    """Create, read, run and re-send restore jobs. One instance per session."""

    def __init__(
        self, session: AsyncSession, cache: ReadCache, sender: JobSender | None = None
    ) -> None:
        self.session = session
        self.cache = cache
        self.sender = sender

    # ------------------------------------------------------------------ front doors

    async def create(self, request: RestoreJobCreate) -> RestoreJobRead:
        """Record a restore job, then hand it to the workers.

        `ids`: the tasks to restore (1 to RESTORE_MAX_IDS; duplicates count once). Ids of
        unknown tasks or of tasks not in the trash are counted as skipped at once.
        `all`: every task in the trash deleted before the job was created.
        Bad input raises InvalidInput and records nothing. If the message cannot be sent
        (broker down), the job stays queued and `requeue` sends it later.
        """
        ids = self._validate(request)
        now = utcnow()
        job = RestoreJob(created_at=now, updated_at=now, status=JobStatus.QUEUED.value)
        if ids is None:
            job.scope = JobScope.ALL.value
            job.total = await trash.trash_size(self.session, deleted_before=now)
            job.skipped = 0
            trashed: list[UUID] = []
        else:
            job.scope = JobScope.SELECTED.value
            found = await trash.in_trash(self.session, ids)
            trashed = sorted(found)
            job.total = len(ids)
            job.skipped = len(ids) - len(trashed)
        job.restored = 0
        self.session.add(job)
        await self.session.flush()
        if trashed:
            await self.session.execute(
                insert(RestoreJobItem),
                [{"job_id": job.id, "task_id": task_id} for task_id in trashed],
            )
        # Read before the commit, which may expire the object (depending on the session).
        created = _to_read(job)
        await self.session.commit()
        await self._send(created.id)
        return created

    @staticmethod
    def _validate(request: RestoreJobCreate) -> list[UUID] | None:
        """The distinct ids asked for, or None for "all"."""
        if request.all and request.ids is not None:
            raise InvalidInput({"all": "send either ids or all: true, not both"})
        if request.all:
            return None
        if request.ids is None:
            raise InvalidInput({"ids": "send the ids of the tasks to restore, or all: true"})
        ids = list(dict.fromkeys(request.ids))
        if not ids:
            raise InvalidInput({"ids": "must name at least one task"})
        if len(ids) > RESTORE_MAX_IDS:
            raise InvalidInput(
                {
                    "ids": f"at most {RESTORE_MAX_IDS} tasks per job (got {len(ids)}); "
                    "use all: true to restore the whole trash"
                }
            )
        return ids

    async def get(self, job_id: UUID) -> RestoreJobRead:
        """A job and its progress, as stored now."""
        job = await self.session.get(RestoreJob, job_id, populate_existing=True)
        if job is None:
            raise NotFound(f"restore job {job_id} does not exist")
        return _to_read(job)

    # ------------------------------------------------------------------ worker

    async def run(self, job_id: UUID, *, batch_size: int) -> RestoreJobRead:
        """Restore the job's tasks, `batch_size` per transaction, until none are left.

        Safe to call again for the same job, at any time (a duplicate message, a redelivery
        after a crash): it carries on from the last committed batch, and does nothing for
        a job that is already finished.
        """
        while not await self._run_batch(job_id, batch_size):
            pass
        return await self.get(job_id)

    async def _run_batch(self, job_id: UUID, batch_size: int) -> bool:
        """One batch in one transaction; True when the job is finished."""
        started = time.perf_counter()
        # The row lock makes batches of one job take turns, across workers: whoever gets
        # it second reads the progress the first committed.
        job = await self.session.scalar(
            select(RestoreJob)
            .where(RestoreJob.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if job is None:
            await self.session.rollback()
            raise NotFound(f"restore job {job_id} does not exist")
        if JobStatus(job.status).finished:
            await self.session.rollback()
            return True
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.RUNNING.value
            job.started_at = utcnow()
        if job.scope == JobScope.ALL:
            restored, skipped, last = await self._restore_from_trash(job, batch_size)
        else:
            restored, skipped, last = await self._restore_selected(job, batch_size)
        job.restored += restored
        job.skipped += skipped
        job.updated_at = utcnow()
        await self.session.commit()
        if restored:
            await self.cache.invalidate()
        if last:
            # Only after the cache bump: a page that sees "done" and reloads the trash must
            # not be served the list from before the last batch. A crash right here leaves
            # the job running with nothing left to do; its redelivery finishes it.
            await self._finish(job_id)
        log.debug(
            "restore batch",
            job_id=str(job_id),
            restored=restored,
            skipped=skipped,
            last=last,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return last

    async def _finish(self, job_id: UUID) -> None:
        job = await self.session.scalar(
            select(RestoreJob)
            .where(RestoreJob.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if job is None or JobStatus(job.status).finished:
            await self.session.rollback()
            return
        job.status = JobStatus.DONE.value
        job.updated_at = job.finished_at = utcnow()
        if job.scope == JobScope.ALL:
            # What was in the trash at creation and is no longer (restored or purged by
            # someone else meanwhile) was skipped.
            job.skipped = max(job.total - job.restored, 0)
        # The cutoff compares clocks of different processes: a task deleted by an app
        # server whose clock runs behind may be restored though it was not counted.
        job.total = max(job.total, job.restored + job.skipped)
        await self.session.commit()

    async def _restore_from_trash(self, job: RestoreJob, batch_size: int) -> tuple[int, int, bool]:
        """The next batch of the whole trash: (restored, skipped, last)."""
        # Keyset on the trash's (deleted_at, id) index, from where the last batch stopped.
        # Restored tasks do leave that index, but MariaDB removes their old entries only
        # later (InnoDB's purge): a batch that started from the beginning each time would
        # wade through more and more of them.
        after = (
            TrashCursor(job.last_deleted_at, job.last_task_id)
            if job.last_deleted_at is not None and job.last_task_id is not None
            else None
        )
        through = await trash.trash_cursor(
            self.session, deleted_before=job.created_at, after=after, offset=batch_size - 1
        )
        restored = await trash.restore_batch(
            self.session, deleted_before=job.created_at, after=after, through=through
        )
        if through is not None:
            job.last_deleted_at, job.last_task_id = through
        return restored, 0, through is None

    async def _restore_selected(self, job: RestoreJob, batch_size: int) -> tuple[int, int, bool]:
        """The next batch of the job's items: (restored, skipped, last)."""
        # Keyset on the items' primary key (job_id, task_id).
        query = select(RestoreJobItem.task_id).where(RestoreJobItem.job_id == job.id)
        if job.last_task_id is not None:
            query = query.where(RestoreJobItem.task_id > job.last_task_id)
        ids = list(
            await self.session.scalars(query.order_by(RestoreJobItem.task_id).limit(batch_size))
        )
        if not ids:
            return 0, 0, True
        restored = await trash.restore_batch(self.session, deleted_before=job.created_at, ids=ids)
        job.last_task_id = ids[-1]
        return restored, len(ids) - restored, len(ids) < batch_size

    async def fail(self, job_id: UUID, reason: str) -> None:
        """Mark an unfinished job failed with `reason` (what its last attempt ran into)."""
        now = utcnow()
        await self.session.execute(
            update(RestoreJob)
            .where(RestoreJob.id == job_id, RestoreJob.status.in_(_UNFINISHED))
            .values(
                status=JobStatus.FAILED.value,
                error=reason[:ERROR_MAX_LENGTH],
                finished_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        await self.session.commit()

    # ------------------------------------------------------------------ re-sending

    async def requeue(self, *, older_than: datetime.timedelta) -> list[UUID]:
        """Send again every unfinished job not updated for `older_than`; returns their ids.

        For messages lost on the way (a crash between commit and send, a broker that lost
        its queue) or dropped after their retries ran out. A job that does have a message
        somewhere only gets a duplicate, which is harmless (see `run`).
        """
        if self.sender is None:
            raise RuntimeError("RestoreJobService.requeue needs a sender")
        now = utcnow()
        stale = list(
            await self.session.scalars(
                select(RestoreJob.id)
                .where(
                    RestoreJob.status.in_(_UNFINISHED),
                    RestoreJob.updated_at <= now - older_than,
                )
                .order_by(RestoreJob.created_at)
            )
        )
        if stale:
            # Touched first, so that another pass soon after does not send them again.
            await self.session.execute(
                update(RestoreJob)
                .where(RestoreJob.id.in_(stale))
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
        await self.session.commit()
        for job_id in stale:
            await self._send(job_id)
        return stale

    async def _send(self, job_id: UUID) -> None:
        if self.sender is None:
            return
        try:
            await self.sender.send(RESTORE_KIND, job_id)
        except Exception as error:
            # The job is committed and queued: `requeue` sends it once the broker is back.
            log.warning(
                "restore job not sent; it stays queued until re-sent",
                job_id=str(job_id),
                error=f"{type(error).__name__}: {error}",
            )
