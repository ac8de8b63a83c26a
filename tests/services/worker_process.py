"""A real restore worker for the integration tests: `python -m webapp worker` (the dramatiq
CLI), started in its own process group so that a test can SIGKILL all of it, with its own
broker queue prefix; and the database it works on, seeded straight through SQL."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import pika
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.commands import environment
from tests.databases import make_settings
from tests.needs import RABBITMQ_URL
from webapp.accounts import secrets
from webapp.accounts.caller import Caller
from webapp.accounts.models import Account, ApiToken
from webapp.cache import NullReadCache
from webapp.db import create_engine
from webapp.jobs.broker import queue_name
from webapp.jobs.models import Job, JobItem
from webapp.jobs.queue import JobQueue
from webapp.lists.models import ListMember, TaskList
from webapp.restore.schemas import RestoreJobCreate, RestoreJobRead
from webapp.restore.service import RestoreJobService
from webapp.settings import Settings
from webapp.tasks.models import Task
from webapp.worker import JOB_KINDS

READY_LINE = "Worker process is ready for action."


def queue_prefix(area: str) -> str:
    """A queue namespace of this test run alone on the shared broker."""
    return f"test_{area}_{uuid.uuid4().hex[:8]}."


class WorkerProcess:
    """`python -m webapp worker` with the given settings, run from an empty directory (so
    that no developer's .env is read), logging to a file."""

    def __init__(self, workdir: Path, name: str, **settings: str) -> None:
        self.log_path = workdir / f"{name}.log"
        self.env = environment(**{"LOG_LEVEL": "INFO", **settings})
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "webapp", "worker"],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches the children
            )
        deadline = time.monotonic() + 60
        while READY_LINE not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the worker did not start:\n{self.log()}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the dramatiq supervisor and its worker processes: no clean-up at all."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, as `docker stop` would; SIGKILL if it does not stop in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def delete_rabbitmq_queues(prefix: str) -> None:
    restore_queue = queue_name(make_settings("sqlite://", broker_queue_prefix=prefix), "restore")
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        for name in (restore_queue, f"{restore_queue}.DQ", f"{restore_queue}.XQ"):
            channel.queue_delete(queue=name)
    finally:
        connection.close()


# The one account whose tasks these tests seed and restore, and a token of its.
OWNER = Caller(account_id=UUID("01890000-0000-7000-8000-00000000a11c"))
OWNER_TOKEN = secrets.TOKEN_PREFIX + "o" * 43
OWNER_INBOX = UUID("01890000-0000-7000-8000-0000000b0c5e")


async def empty_tables(engine: AsyncEngine) -> None:
    """Nothing but the owner's account, its Inbox and its token."""
    now = datetime.datetime.now(datetime.UTC)
    async with engine.begin() as connection:
        for model in (JobItem, Job, Task, ListMember, TaskList, ApiToken, Account):
            await connection.execute(delete(model))
        await connection.execute(
            insert(Account).values(
                id=OWNER.account_id,
                email="owner@example.com",
                name="",
                password_hash="not a hash: nobody logs in",
                is_admin=True,
                session_epoch=1,
                created_at=now,
                updated_at=now,
            )
        )
        await connection.execute(
            insert(TaskList).values(
                id=OWNER_INBOX,
                owner_id=OWNER.account_id,
                name="Inbox",
                is_inbox=True,
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
        await connection.execute(
            insert(ApiToken).values(
                id=uuid.uuid4(),
                account_id=OWNER.account_id,
                name="tests",
                token_hash=secrets.digest(OWNER_TOKEN),
                hint=OWNER_TOKEN[:10],
                created_at=now,
                updated_at=now,
            )
        )


async def seed_tasks(
    engine: AsyncEngine, count: int, *, deleted_at: datetime.datetime | None, title: str
) -> list[UUID]:
    """`count` tasks at version 1, in the trash since `deleted_at` (or live)."""
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    ids = [uuid.uuid4() for _ in range(count)]
    rows = [
        {
            "id": task_id,
            "owner_id": OWNER.account_id,
            "list_id": OWNER_INBOX,
            "title": f"{title} {number}",
            "notes": "",
            "priority": 0,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "deleted_at": deleted_at,
        }
        for number, task_id in enumerate(ids)
    ]
    async with AsyncSession(engine) as session:
        for start in range(0, count, 5000):
            await session.execute(insert(Task), rows[start : start + 5000])
        await session.commit()
    return ids


async def tasks_by_id(engine: AsyncEngine) -> dict[UUID, Any]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(Task.id, Task.deleted_at, Task.version))
        return {row.id: row for row in rows}


async def create_job(settings: Settings, request: RestoreJobCreate) -> RestoreJobRead:
    """As the app does it: commit the job, then send its message to the broker."""
    queue = JobQueue(settings, JOB_KINDS)
    engine = create_engine(settings, pooled=False)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            return await RestoreJobService(session, NullReadCache(), OWNER, queue).create(request)
    finally:
        await engine.dispose()
        await queue.close()


async def read_job(engine: AsyncEngine, job_id: UUID) -> RestoreJobRead:
    async with AsyncSession(engine) as session:
        return await RestoreJobService(session, NullReadCache(), OWNER).get(job_id)


async def wait_for(
    engine: AsyncEngine,
    job_id: UUID,
    condition: Callable[[RestoreJobRead], bool],
    *,
    within: float = 120,
    every: float = 0.01,
) -> RestoreJobRead:
    deadline = time.monotonic() + within
    while True:
        job = await read_job(engine, job_id)
        if condition(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting on job {job_id}: {job}")
        await asyncio.sleep(every)


def finished(job: RestoreJobRead) -> bool:
    return job.finished
