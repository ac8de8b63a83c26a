"""Bulk restore as a kind of job: the batches a worker runs for a restore job.

Each batch restores at most RESTORE_BATCH_SIZE tasks in one UPDATE, in the transaction
that also records the job's progress and its cursor (see `webapp.jobs.runner`):

- scope "selected": the job's items, in id order from the cursor (keyset on the items'
  primary key); those not restored (gone from the trash meanwhile) count as skipped;
- scope "all": the trash as it was when the job was created, in the trash index's
  (deleted_at, id) order from the cursor (`webapp.restore.trash`).
"""

from __future__ import annotations

import datetime
from uuid import UUID

from sqlalchemy import select

from webapp.jobs.kinds import JobContext, JobKind, Step
from webapp.jobs.models import Job, JobItem
from webapp.lists import access
from webapp.restore import trash
from webapp.restore.schemas import RestoreScope
from webapp.restore.service import RESTORE_KIND, restorable_by
from webapp.restore.trash import TrashCursor


def _owner(job: Job) -> UUID:
    # Jobs made before accounts existed belong to the first account since (migration
    # 0005); one still without an owner would restore nobody's tasks, so it may not run.
    if job.owner_id is None:
        raise ValueError(f"restore job {job.id} has no owner")
    return job.owner_id


async def _step(context: JobContext, job: Job) -> Step:
    batch_size = context.settings.restore_batch_size
    if job.params["scope"] == RestoreScope.ALL:
        return await _step_through_trash(context, job, batch_size)
    return await _step_through_items(context, job, batch_size)


async def _step_through_trash(context: JobContext, job: Job, batch_size: int) -> Step:
    # Keyset on the trash's (deleted_at, id) index, from where the last batch stopped.
    # Restored tasks do leave that index, but MariaDB removes their old entries only
    # later (InnoDB's purge): a batch that started from the beginning each time would
    # wade through more and more of them.
    after = None
    if job.cursor is not None:
        after = TrashCursor(
            datetime.datetime.fromisoformat(job.cursor["deleted_at"]), UUID(job.cursor["task_id"])
        )
    scope = await restorable_by(context.session, _owner(job))
    through = await trash.trash_cursor(
        context.session, scope, deleted_before=job.created_at, after=after, offset=batch_size - 1
    )
    restored = await trash.restore_batch(
        context.session, scope, deleted_before=job.created_at, after=after, through=through
    )
    if through is not None:
        job.cursor = {"deleted_at": through.deleted_at.isoformat(), "task_id": str(through.task_id)}
    return Step(done=restored, skipped=0, last=through is None)


async def _step_through_items(context: JobContext, job: Job, batch_size: int) -> Step:
    query = select(JobItem.item_id).where(JobItem.job_id == job.id)
    if job.cursor is not None:
        query = query.where(JobItem.item_id > UUID(job.cursor["task_id"]))
    ids = list(await context.session.scalars(query.order_by(JobItem.item_id).limit(batch_size)))
    if not ids:
        return Step(done=0, skipped=0, last=True)
    scope = await restorable_by(context.session, _owner(job))
    restored = await trash.restore_batch(
        context.session, scope, deleted_before=job.created_at, ids=ids
    )
    job.cursor = {"task_id": str(ids[-1])}
    return Step(done=restored, skipped=len(ids) - restored, last=len(ids) < batch_size)


def _finish(job: Job) -> None:
    if job.params["scope"] == RestoreScope.ALL:
        # What was in the trash at creation and is no longer (restored or purged by
        # someone else meanwhile) was skipped.
        job.skipped = max(job.total - job.done, 0)
    # The cutoff compares clocks of different processes: a task deleted by an app server
    # whose clock runs behind may be restored though it was not counted.
    job.total = max(job.total, job.done + job.skipped)


async def _audience(context: JobContext, job: Job) -> set[UUID]:
    # Restored tasks may be in any list the owner edits: all who see those hear of it.
    return await access.audience_of_account(context.session, _owner(job))


RESTORE = JobKind(name=RESTORE_KIND, step=_step, finish=_finish, audience=_audience)
