"""A worker process: the kinds of jobs there are, and how `python -m webapp worker` sets
up each process the Dramatiq CLI starts (`dramatiq webapp.worker:configure_broker`).

The web app's in-process worker (local mode) runs the same kinds (`webapp.app`).
"""

from __future__ import annotations

import logging

import dramatiq
import structlog

from webapp.jobs.actors import RequeueOnBoot
from webapp.jobs.queue import JobQueue
from webapp.restore.kind import RESTORE
from webapp.settings import Settings, get_settings

JOB_KINDS = (RESTORE,)


def configure_worker_logging(settings: Settings) -> None:
    """The worker's own log lines at LOG_LEVEL, as JSON or text like the app's (LOG_FORMAT).
    Dramatiq's lines keep the format its CLI gives them."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.log_level.value]
        ),
        cache_logger_on_first_use=True,
    )


def configure_broker() -> None:
    """Builds the broker of one worker process from the settings and declares every job
    actor on it. Each process Dramatiq starts calls it, so each has its own broker
    connection, engine and cache."""
    settings = get_settings()
    configure_worker_logging(settings)
    queue = JobQueue(settings, JOB_KINDS)
    queue.broker.add_middleware(RequeueOnBoot(JOB_KINDS, queue.resources, queue))
    dramatiq.set_broker(queue.broker)
