"""What the job machinery asks of a kind of job, and what it hands one."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.cache import ReadCache
from webapp.settings import Settings


class JobSender(Protocol):
    """Hands a job to the workers (`webapp.jobs.queue.JobQueue`)."""

    async def send(self, kind: str, job_id: UUID) -> None: ...


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job's code gets: a session of the worker's engine, its cache, the settings,
    and the sender (to re-send jobs; None where nothing may be sent)."""

    session: AsyncSession
    cache: ReadCache
    settings: Settings
    sender: JobSender | None = None


@dataclass(frozen=True, slots=True)
class JobKind:
    """A kind of job. `name` names its Dramatiq actor and queue (`<prefix><name>`).

    - `run(context, job_id)`: do the job, or what is left of it (it may be a redelivery);
      returns what to log about it. Raises NotFound for a job that no longer exists.
    - `fail(context, job_id, reason)`: mark an unfinished job failed.
    - `requeue(context, older_than)`: send again the unfinished jobs untouched for
      `older_than`; returns their ids.
    """

    name: str
    run: Callable[[JobContext, UUID], Awaitable[Mapping[str, object]]]
    fail: Callable[[JobContext, UUID, str], Awaitable[None]]
    requeue: Callable[[JobContext, datetime.timedelta], Awaitable[list[UUID]]]


async def requeue_all(
    kinds: Sequence[JobKind],
    open_context: Callable[[], AbstractAsyncContextManager[JobContext]],
    older_than: datetime.timedelta,
) -> list[UUID]:
    """Re-send every kind's unfinished jobs untouched for `older_than`, each kind in a
    context of its own. Best effort: a kind that fails is logged and skipped."""
    log = structlog.get_logger(__name__)
    resent: list[UUID] = []
    for kind in kinds:
        try:
            async with open_context() as context:
                sent = await kind.requeue(context, older_than)
        except Exception as error:
            log.warning(
                "unfinished jobs not re-sent",
                kind=kind.name,
                error=f"{type(error).__name__}: {error}",
            )
            continue
        if sent:
            log.info("re-sent unfinished jobs", kind=kind.name, count=len(sent))
        resent += sent
    return resent
