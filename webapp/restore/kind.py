"""Bulk restore as a kind of job: what a worker does with a restore job's message."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from uuid import UUID

from webapp.jobs.kinds import JobContext, JobKind
from webapp.restore.service import RESTORE_KIND, RestoreJobService


async def _run(context: JobContext, job_id: UUID) -> Mapping[str, object]:
    service = RestoreJobService(context.session, context.cache, context.sender)
    job = await service.run(job_id, batch_size=context.settings.restore_batch_size)
    return {
        "status": job.status,
        "restored": job.restored,
        "skipped": job.skipped,
        "seconds": job.duration_seconds,
    }


async def _fail(context: JobContext, job_id: UUID, reason: str) -> None:
    await RestoreJobService(context.session, context.cache).fail(job_id, reason)


async def _requeue(context: JobContext, older_than: datetime.timedelta) -> list[UUID]:
    service = RestoreJobService(context.session, context.cache, context.sender)
    return await service.requeue(older_than=older_than)


RESTORE = JobKind(name=RESTORE_KIND, run=_run, fail=_fail, requeue=_requeue)
