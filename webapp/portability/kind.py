"""Import as a kind of job: the batches a worker runs for an import job.

Batch 0 reads the report (part 0) and makes the lists the file names that the owner
has none of (by name, ignoring case; a list named "Inbox" is the Inbox). Each later
batch takes one part of up to IMPORT_BATCH_SIZE tasks and inserts those not there yet,
in the transaction that records the job's progress and its cursor (the part done), so a
worker killed mid-import carries on from the next part (`webapp.jobs.runner`).

No duplicates, whatever happens: a task's id is derived from the importing account and
the task's identity in the file (`task_id`: a UUIDv5), so a task already imported, by
this job before a crash or by an earlier import of the same file, is there under the
same id and is counted as skipped. A task whose identity in the file is the id of one
of the owner's own tasks (its own JSON or CSV export, imported back) is skipped too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Final
from uuid import UUID

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.clock import utcnow
from webapp.errors import Conflict
from webapp.jobs.kinds import JobContext, JobKind, Step
from webapp.jobs.models import Job, JobPart
from webapp.lists import access
from webapp.lists.models import TaskList
from webapp.portability.service import IMPORT_KIND, decode_report, decode_tasks
from webapp.tasks.models import Priority, Task
from webapp.transfer.records import TaskRecord

# The namespace of imported tasks' ids (a UUIDv5 of account and identity in the file).
TASK_NAMESPACE: Final = UUID("6f1d2c1e-3b7a-5e0b-9a53-8d2f4c1b7e90")


def task_id(account_id: UUID, source_id: str) -> UUID:
    """The id an account's import gives the task whose identity in the file is this."""
    return uuid.uuid5(TASK_NAMESPACE, f"{account_id}\x1f{source_id}")


def _owner(job: Job) -> UUID:
    if job.owner_id is None:
        raise ValueError(f"import job {job.id} has no owner")
    return job.owner_id


def _target(job: Job) -> UUID | None:
    value = job.params.get("list_id")
    return UUID(value) if value else None


async def _step(context: JobContext, job: Job) -> Step:
    session = context.session
    part = 0 if job.cursor is None else int(job.cursor["part"]) + 1
    data = await session.scalar(
        select(JobPart.data).where(JobPart.job_id == job.id, JobPart.part == part)
    )
    last = part >= int(job.params["parts"])
    if data is None:
        return Step(done=0, skipped=0, last=True)
    job.cursor = {"part": part}
    owner = _owner(job)
    if part == 0:
        if _target(job) is None:
            report = decode_report(data)
            await lists_named(session, owner, [record.name for record in report.lists])
        return Step(done=0, skipped=0, last=last)
    tasks = decode_tasks(data)
    del data
    imported, skipped = await insert_batch(session, owner, _target(job), tasks)
    return Step(done=imported, skipped=skipped, last=last)


async def lists_named(session: AsyncSession, owner: UUID, names: Iterable[str]) -> dict[str, UUID]:
    """The owner's list of each name (ignoring case; the Inbox first, then the oldest),
    made where there is none. Keys: the names in `casefold()`."""
    wanted = {name.casefold(): name for name in names}
    if not wanted:
        return {}
    found: dict[str, UUID] = {}
    rows = await session.execute(
        select(TaskList.id, TaskList.name)
        .where(TaskList.owner_id == owner, func.lower(TaskList.name).in_(list(wanted)))
        .order_by(TaskList.is_inbox.desc(), TaskList.created_at, TaskList.id)
    )
    for list_id, name in rows:
        found.setdefault(name.casefold(), list_id)
    now = utcnow()
    for key, name in wanted.items():
        if key not in found:
            made = TaskList(
                owner_id=owner, name=name, is_inbox=False, version=1, created_at=now, updated_at=now
            )
            session.add(made)
            await session.flush()
            found[key] = made.id
    return found


async def insert_batch(
    session: AsyncSession, account: UUID, target: UUID | None, tasks: list[TaskRecord]
) -> tuple[int, int]:
    """Insert the tasks not there yet; returns (inserted, skipped)."""
    if target is not None:
        # The rights of this moment: a list unshared meanwhile fails the job.
        role = await access.role_of(session, account, target)
        if role is None or not role.writes:
            raise Conflict("the list to import into is gone, or no longer yours to change")
        task_owner = await access.owner_of(session, target)
        list_of = {task.list_name.casefold() if task.list_name else "": target for task in tasks}
    else:
        task_owner = account
        list_of = await lists_named(session, account, {t.list_name for t in tasks if t.list_name})
        list_of[""] = await access.inbox_of(session, account)
    ids = [task_id(account, task.source_id) for task in tasks]
    there = set(await session.scalars(select(Task.id).where(Task.id.in_(ids))))
    own = _as_uuids(task.source_id for task in tasks)
    if own:
        there |= set(
            await session.scalars(
                select(Task.id).where(Task.id.in_(list(own)), Task.owner_id == account)
            )
        )
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for task, new_id in zip(tasks, ids, strict=True):
        if new_id in there or _as_uuid(task.source_id) in there:
            continue
        rows.append(
            {
                "id": new_id,
                "owner_id": task_owner,
                "list_id": list_of[task.list_name.casefold() if task.list_name else ""],
                "title": task.title,
                "notes": task.notes,
                "priority": int(Priority.from_label(task.priority)),
                "due_date": task.due_date,
                "completed_at": task.completed_at,
                "deleted_at": task.deleted_at,
                "created_at": task.created_at or now,
                "updated_at": now,
                "version": 1,
            }
        )
    if rows:
        await session.execute(insert(Task), rows)
    return len(rows), len(tasks) - len(rows)


def _as_uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def _as_uuids(values: Iterable[str]) -> set[UUID]:
    return {found for value in values if (found := _as_uuid(value)) is not None}


async def _audience(context: JobContext, job: Job) -> set[UUID]:
    target = _target(job)
    if target is not None:
        return await access.audience(context.session, target) | {_owner(job)}
    return await access.audience_of_account(context.session, _owner(job))


IMPORT = JobKind(name=IMPORT_KIND, step=_step, audience=_audience)
