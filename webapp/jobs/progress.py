"""A job's progress as the pages show it, whatever its kind: its page
(`<path>/{id}`), the progress partial that polls `<path>/{id}/progress` while the job
runs (templates/jobs/_progress.html, extended per kind), and the htmx event it sends
once the job has ended (the page under it then refreshes itself)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from litestar import Response
from litestar.plugins.htmx import HTMXRequest

from webapp.web.templating import html, render

POLL_EVERY = "500ms"


class ShownJob(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def status(self) -> str: ...

    @property
    def finished(self) -> bool: ...


@dataclass(frozen=True)
class JobProgress:
    """How one kind of job shows its progress."""

    path: str  # its pages: `<path>/{id}` and `<path>/{id}/progress`
    progress_id: str  # the partial's element id
    template: str  # the partial
    finished_event: str  # the HX-Trigger sent once the job has ended
    headings: Mapping[str, str]  # by status

    def page_url(self, job_id: UUID) -> str:
        return f"{self.path}/{job_id}"

    def context(self, job: ShownJob) -> dict[str, object]:
        return {
            "job": job,
            "progress_id": self.progress_id,
            "heading": self.headings[job.status],
            "poll_every": POLL_EVERY,
            "progress_url": f"{self.page_url(job.id)}/progress",
        }

    def partial(self, request: HTMXRequest, job: ShownJob) -> Response[str]:
        """The partial; once the job has ended, with the event that refreshes the page."""
        headers = {"HX-Trigger": self.finished_event} if job.finished else None
        return html(render(request, self.template, **self.context(job)), headers=headers)
