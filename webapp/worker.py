"""A worker process: the kinds of jobs there are, and how `python -m webapp worker` sets
up each process the Dramatiq CLI starts (`dramatiq webapp.worker:configure_broker`).

The web app's in-process worker (local mode) runs the same kinds (`webapp.app`).
"""

from __future__ import annotations

import dramatiq

from webapp.jobs.actors import JobSweeper
from webapp.jobs.queue import JobQueue
from webapp.logs import configure_logging
from webapp.portability.kind import IMPORT
from webapp.restore.kind import RESTORE
from webapp.settings import get_settings

JOB_KINDS = (RESTORE, IMPORT)


def configure_broker() -> None:
    """Builds the broker of one worker process from the settings and declares every job
    actor on it. Each process Dramatiq starts calls it, so each has its own broker
    connection, engine and cache."""
    settings = get_settings()
    configure_logging(settings)
    queue = JobQueue(settings, JOB_KINDS)
    queue.broker.add_middleware(
        JobSweeper([kind.name for kind in JOB_KINDS], queue.resources, queue)
    )
    dramatiq.set_broker(queue.broker)
