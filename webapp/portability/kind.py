"""Import as a kind of job: the batches a worker runs for an import job.

Batch 0 reads the report (part 0) and makes the lists the file names that the owner
has none of (by name, ignoring case; a list named "Inbox" is the Inbox), and keeps
which list each name went to in the job's cursor: later batches put tasks there, and
never make a list again (one deleted meanwhile gets the rest of its tasks in the
Inbox). Each later batch takes one part of up to IMPORT_BATCH_SIZE tasks and inserts
those not there yet, in the transaction that records the job's progress and its cursor
(the part done), so a worker killed mid-import carries on from the next part
(`webapp.jobs.runner`).

No duplicates, whatever happens: a task's id is derived from the importing account and
the task's identity in the file (`task_id`: a UUIDv5), so a task already imported, by
this job before a crash or by an earlier import of the same file, is there under the
same id and is counted as skipped; two jobs importing one file at once insert each
task once (a duplicate key is skipped, not an error). A task whose identity in the file
is the id of a task already in the list it goes to (or of the owner's own, its own JSON
or CSV export imported back) is skipped too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Final
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.clock import utcnow
from webapp.errors import Conflict, InvalidInput
from webapp.jobs.kinds import JobContext, JobKind, Step
from webapp.jobs.models import Job, JobPart
from webapp.lists import access
from webapp.lists.models import TaskList
from webapp.lists.service import LISTS_MAX
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
    owner = _owner(job)
    lists: dict[str, str] = dict((job.cursor or {}).get("lists", {}))
    if part == 0 and _target(job) is None:
        report = decode_report(data)
        made = await lists_named(session, owner, [record.name for record in report.lists])
        lists = {key: str(list_id) for key, list_id in made.items()}
    job.cursor = {"part": part, "lists": lists}
    if part == 0:
        return Step(done=0, skipped=0, last=last, changed=bool(lists))
    tasks = decode_tasks(data)
    del data
    list_of = {key: UUID(value) for key, value in lists.items()}
    imported, skipped = await insert_batch(session, owner, _target(job), tasks, list_of)
    return Step(done=imported, skipped=skipped, last=last)


async def lists_named(session: AsyncSession, owner: UUID, names: Iterable[str]) -> dict[str, UUID]:
    """The owner's list of each name (ignoring case, as `str.casefold` has it, whatever
    the database's collation; the Inbox first, then the oldest), made where there is
    none, within LISTS_MAX. Keys: the names in `casefold()`."""
    wanted: dict[str, str] = {}
    for name in names:  # a name as it first appears in the file
        wanted.setdefault(name.casefold(), name)
    if not wanted:
        return {}
    found: dict[str, UUID] = {}
    # An account has at most LISTS_MAX lists: all of them, matched here.
    rows = await session.execute(
        select(TaskList.id, TaskList.name)
        .where(TaskList.owner_id == owner)
        .order_by(TaskList.is_inbox.desc(), TaskList.created_at, TaskList.id)
    )
    owned = 0
    for list_id, name in rows:
        owned += 1
        found.setdefault(name.casefold(), list_id)
    missing = [key for key in wanted if key not in found]
    if owned + len(missing) > LISTS_MAX:
        raise InvalidInput(
            {
                "file": f"it names {len(missing)} lists you do not have; an account has at "
                f"most {LISTS_MAX} lists (you have {owned}): choose a list to import into"
            }
        )
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
    session: AsyncSession,
    account: UUID,
    target: UUID | None,
    tasks: list[TaskRecord],
    lists: dict[str, UUID] | None = None,
) -> tuple[int, int]:
    """Insert the tasks not there yet, into `target`, or else into the list `lists`
    gives their list's name (batch 0's; the Inbox for none, or for a list gone since);
    returns (inserted, skipped)."""
    if target is not None:
        # The rights of this moment: a list unshared meanwhile fails the job.
        role = await access.role_of(session, account, target)
        if role is None or not role.writes:
            raise Conflict("the list to import into is gone, or no longer yours to change")
        task_owner = await access.owner_of(session, target)
        list_of = {task.list_name.casefold() if task.list_name else "": target for task in tasks}
    else:
        task_owner = account
        inbox = await access.inbox_of(session, account)
        named = dict(lists or {})
        still = set(
            await session.scalars(
                select(TaskList.id).where(
                    TaskList.id.in_(list(named.values())), TaskList.owner_id == account
                )
            )
        )
        list_of = {key: (list_id if list_id in still else inbox) for key, list_id in named.items()}
        for task in tasks:  # a name batch 0 did not see: the Inbox
            if task.list_name and task.list_name.casefold() not in list_of:
                list_of[task.list_name.casefold()] = inbox
        list_of[""] = inbox
    ids = [task_id(account, task.source_id) for task in tasks]
    there = set(await session.scalars(select(Task.id).where(Task.id.in_(ids))))
    own = _as_uuids(task.source_id for task in tasks)
    if own:
        # Its own export imported back: the task is there already, in the list it goes
        # to (a list shared with the importer holds tasks of the list's owner), or the
        # importer's own.
        mine = Task.list_id == target if target is not None else Task.owner_id == account
        there |= set(await session.scalars(select(Task.id).where(Task.id.in_(list(own)), mine)))
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
        await session.execute(_insert_new(session), rows)
        # Another job importing the same file at once may have inserted some of them
        # meanwhile (skipped by the key): count what this transaction holds now.
        inserted = await session.scalar(
            select(func.count()).select_from(Task).where(Task.id.in_([row["id"] for row in rows]))
        )
        return int(inserted or 0), len(tasks) - int(inserted or 0)
    return 0, len(tasks)


def _insert_new(session: AsyncSession) -> Any:
    """An INSERT of tasks that skips a task whose id is there already."""
    if session.get_bind().dialect.name == "sqlite":
        return sqlite.insert(Task).on_conflict_do_nothing(index_elements=[Task.id])
    statement = mysql.insert(Task)
    return statement.on_duplicate_key_update(id=statement.inserted.id)


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
