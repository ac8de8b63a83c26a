"""What the job machinery asks of a kind of job, and what it hands one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from webapp.cache import ReadCache
from webapp.events.changes import Changes, Feed
from webapp.settings import Settings

if TYPE_CHECKING:
    from webapp.jobs.models import Job


class JobSender(Protocol):
    """Hands a job to the workers (`webapp.jobs.queue.JobQueue`)."""

    async def send(self, kind: str, job_id: UUID) -> None: ...


def _never() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job's code gets: a session of the worker's engine, its cache, the settings,
    the sender (to re-send jobs; None where nothing may be sent), and whether its worker
    is stopping (then a job leaves after its batch in hand, see `webapp.jobs.runner`)."""

    session: AsyncSession
    cache: ReadCache
    settings: Settings
    sender: JobSender | None = None
    # Where changes go besides the cache: the live updates of open pages, if wired.
    feed: Feed | None = None

    @property
    def changes(self) -> Changes:
        return Changes(self.cache, self.feed)

    stopping: Callable[[], bool] = _never


@dataclass(frozen=True, slots=True)
class Step:
    """What one batch did: items done and skipped, and whether it was the last;
    `changed`: it changed what others see besides its items (an import's new lists)."""

    done: int
    skipped: int
    last: bool
    changed: bool = False


def _nothing_to_add(job: Job) -> None:
    return None


async def _its_owner(context: JobContext, job: Job) -> set[UUID]:
    return {job.owner_id} if job.owner_id is not None else set()


@dataclass(frozen=True, slots=True)
class JobKind:
    """A kind of job. `name` names its Dramatiq actor and queue (`<prefix><name>`).

    - `step(context, job)`: do the next batch, in the session's transaction, without
      committing (the runner commits it with the job's progress). Moves `job.cursor` on.
    - `finish(job)`: last touches on the row when the job is done (final counts).
    - `audience(context, job)`: whose views a batch's changes touch (default: the job's
      owner): they hear of each batch (cache scopes retired, open pages told).
    """

    name: str
    step: Callable[[JobContext, Job], Awaitable[Step]]
    finish: Callable[[Job], None] = _nothing_to_add
    audience: Callable[[JobContext, Job], Awaitable[set[UUID]]] = _its_owner
