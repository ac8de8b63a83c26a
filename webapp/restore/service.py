"""RestoreJobService: the rules of restore jobs at the front doors (create one, read one).

Creating a job commits its row first and only then sends the message: a crash in between
leaves a queued job without a message, never a message without a job, and a sweep
re-sends such jobs (`webapp.jobs.runner`). The work itself, batch by batch on a worker,
is `webapp.restore.kind`.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import ColumnElement, insert
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.accounts.caller import Caller
from webapp.cache import ReadCache
from webapp.clock import utcnow
from webapp.errors import InvalidInput, NotFound
from webapp.jobs import runner
from webapp.jobs.kinds import JobSender
from webapp.jobs.models import Job, JobItem, JobStatus, percent_done
from webapp.lists import access
from webapp.restore import trash
from webapp.restore.schemas import RESTORE_MAX_IDS, RestoreJobCreate, RestoreJobRead, RestoreScope
from webapp.tasks import queries

# The kind of job (`webapp.restore.kind`): its actor and queue are named after it.
RESTORE_KIND = "restore"


async def restorable_by(session: AsyncSession, account_id: UUID) -> ColumnElement[bool]:
    """The tasks an account may restore now: what its jobs walk (at each batch, with the
    rights of that moment)."""
    shared = await access.memberships(session, account_id)
    return queries.restorable(account_id, [i for i, role in shared.items() if role.writes])


def to_read(job: Job) -> RestoreJobRead:
    duration = (
        (job.finished_at - job.started_at).total_seconds()
        if job.finished_at is not None and job.started_at is not None
        else None
    )
    return RestoreJobRead(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        scope=job.params["scope"],
        total=job.total,
        restored=job.done,
        skipped=job.skipped,
        percent=percent_done(job.status, job.total, job.done + job.skipped),
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        updated_at=job.updated_at,
        duration_seconds=duration,
    )


class RestoreJobService:
    """Create and read restore jobs. One instance per session."""

    def __init__(
        self,
        session: AsyncSession,
        cache: ReadCache,
        caller: Caller,
        sender: JobSender | None = None,
    ) -> None:
        self.session = session
        self.cache = cache
        self.owner = caller.account_id
        self.sender = sender

    async def create(self, request: RestoreJobCreate) -> RestoreJobRead:
        """Record a restore job, then hand it to the workers.

        `ids`: the tasks to restore (1 to RESTORE_MAX_IDS; duplicates count once). Ids of
        unknown tasks, of tasks the caller may not restore, or of tasks not in the trash
        are counted as skipped at once. `all`: every task in the caller's trash (of its
        lists and those it edits) deleted before the job was created.
        Bad input raises InvalidInput and records nothing. If the message cannot be sent
        (broker down), the job stays queued and a sweep sends it later.
        """
        ids = self._validate(request)
        now = utcnow()
        job = Job(
            kind=RESTORE_KIND,
            owner_id=self.owner,
            created_at=now,
            updated_at=now,
            status=JobStatus.QUEUED.value,
        )
        job.done = 0
        if ids is None:
            job.params = {"scope": RestoreScope.ALL.value}
            job.total = await trash.trash_size(
                self.session, await self._restorable(), deleted_before=now
            )
            job.skipped = 0
            trashed: list[UUID] = []
        else:
            job.params = {"scope": RestoreScope.SELECTED.value}
            trashed = sorted(await trash.in_trash(self.session, await self._restorable(), ids))
            job.total = len(ids)
            job.skipped = len(ids) - len(trashed)
        self.session.add(job)
        await self.session.flush()
        if trashed:
            await self.session.execute(
                insert(JobItem), [{"job_id": job.id, "item_id": task_id} for task_id in trashed]
            )
        # Read before the commit, which may expire the object (depending on the session).
        created = to_read(job)
        await self.session.commit()
        await runner.send(self.sender, RESTORE_KIND, created.id)
        return created

    async def _restorable(self) -> ColumnElement[bool]:
        return await restorable_by(self.session, self.owner)

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
        """One of the caller's jobs and its progress, as stored now."""
        job = await self.session.get(Job, job_id, populate_existing=True)
        if job is None or job.kind != RESTORE_KIND or job.owner_id != self.owner:
            raise NotFound(f"restore job {job_id} does not exist")
        return to_read(job)
