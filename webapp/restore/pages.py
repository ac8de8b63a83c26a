"""HTML for restore jobs: the form that starts one, the job page, and its progress partial.

Without JavaScript, "Restore selected" / "Restore all" on /trash post a form here, the
answer is a 303 to the job page, and that page reloads itself every second until the job
ends. With htmx the same post answers with the progress partial, which polls itself
every 500 ms while the job runs; its last answer carries no polling attribute (so
polling stops) and an `HX-Trigger: restore-finished` header, the event the trash list and
the counter listen for to refresh themselves.
"""

from __future__ import annotations

from uuid import UUID

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from webapp.errors import InvalidInput
from webapp.jobs.progress import JobProgress
from webapp.restore.deps import DEPENDENCIES
from webapp.restore.schemas import RESTORE_MAX_IDS, RestoreJobCreate
from webapp.restore.service import RestoreJobService
from webapp.web.pages import PageController, is_partial, page_error_handlers
from webapp.web.templating import html, render

HEADINGS = {
    "queued": "Waiting for a worker…",
    "running": "Restoring tasks…",
    "done": "Restore finished",
    "failed": "Restore failed",
}
PROGRESS = JobProgress(
    path="/restore-jobs",
    progress_id="restore-progress",
    template="restore/_progress.html",
    finished_event="restore-finished",
    headings=HEADINGS,
)
# What the form door says when the service refuses a request (the JSON door names fields).
FORM_MESSAGES = {
    "ids": (f"Select between 1 and {RESTORE_MAX_IDS} tasks to restore, or use “Restore all”."),
    "all": "Choose either the selected tasks or “Restore all”.",
}


def requested(ids: list[str], everything: bool) -> RestoreJobCreate:
    """The form's fields as a request: the "Restore all" button wins over checked boxes."""
    if everything:
        return RestoreJobCreate(all=True)
    try:
        return RestoreJobCreate(ids=[UUID(value) for value in ids])
    except ValueError:
        raise InvalidInput({"ids": "is not a list of task ids"}) from None


class RestorePages(PageController):
    """Start a restore from a form; watch it on its page or in its progress partial."""

    dependencies = DEPENDENCIES
    exception_handlers = page_error_handlers("There is no such restore job. Go back to the trash.")

    @post("/restore-jobs", status_code=200)
    async def start(
        self, request: HTMXRequest, restore_job_service: NamedDependency[RestoreJobService]
    ) -> Response[str] | Redirect:
        form = await request.form()
        everything = form.get("all", "") in {"true", "1", "on", "yes"}
        try:
            job = await restore_job_service.create(requested(form.getall("ids", []), everything))
        except InvalidInput as error:
            field = next(iter(error.errors), "ids")
            raise ValidationException(FORM_MESSAGES.get(field, error.detail)) from None
        if is_partial(request):
            return PROGRESS.partial(request, job)
        return Redirect(path=PROGRESS.page_url(job.id), status_code=HTTP_303_SEE_OTHER)

    @get("/restore-jobs/{job_id:uuid}")
    async def job_page(
        self,
        request: HTMXRequest,
        restore_job_service: NamedDependency[RestoreJobService],
        job_id: FromPath[UUID],
    ) -> Response[str]:
        job = await restore_job_service.get(job_id)
        return html(
            render(request, "restore/job.html", section="trash", toasts=[], **PROGRESS.context(job))
        )

    @get("/restore-jobs/{job_id:uuid}/progress")
    async def job_progress(
        self,
        request: HTMXRequest,
        restore_job_service: NamedDependency[RestoreJobService],
        job_id: FromPath[UUID],
    ) -> Response[str] | Redirect:
        if not is_partial(request):
            return Redirect(path=PROGRESS.page_url(job_id), status_code=HTTP_303_SEE_OTHER)
        return PROGRESS.partial(request, await restore_job_service.get(job_id))
