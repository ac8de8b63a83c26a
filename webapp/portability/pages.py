"""HTML for import and export: the "Import and export" page (export links, the upload
form), the export download for a signed-in browser, and the import job's page with its
progress partial (the shared `templates/jobs/_progress.html`).

Without JavaScript the upload form posts here, the answer is a 303 to the job page, and
that page reloads itself every second until the job ends (a file with problems: the page
again, with every problem listed, 422). With htmx the same post answers with the
progress partial, which polls itself every 500 ms while the job runs, or with the list
of problems.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Stream
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from webapp.errors import InvalidFile
from webapp.jobs.progress import JobProgress
from webapp.portability.deps import DEPENDENCIES
from webapp.portability.export import ExportService, download
from webapp.portability.schemas import FormatChoice, ListChoice, TrashChoice
from webapp.portability.service import MAX_UPLOAD_BYTES, ImportService
from webapp.portability.upload import MAX_REQUEST_BYTES, read_upload
from webapp.web.deadline import EXEMPT_OPT_KEY
from webapp.web.pages import PageController, is_partial, page_error_handlers
from webapp.web.templating import html, render

HEADINGS = {
    "queued": "Waiting for a worker…",
    "running": "Importing tasks…",
    "done": "Import finished",
    "failed": "Import failed",
}
PROGRESS = JobProgress(
    path="/import-jobs",
    progress_id="import-progress",
    template="portability/_progress.html",
    finished_event="import-finished",
    headings=HEADINGS,
)


class TransferPages(PageController):
    """The "Import and export" page, its download and upload, and import jobs' pages."""

    dependencies = DEPENDENCIES
    exception_handlers = page_error_handlers(
        "There is no such import job or list. Go back to import and export."
    )

    async def _page(
        self,
        request: HTMXRequest,
        import_service: ImportService,
        *,
        problems: InvalidFile | None = None,
        status_code: int = 200,
    ) -> Response[str]:
        context: dict[str, Any] = {
            "section": "transfer",
            "toasts": [],
            "lists": await import_service.writable_lists(),
            "max_mib": MAX_UPLOAD_BYTES // (1024 * 1024),
            "problems": problems,
        }
        return html(render(request, "portability/index.html", **context), status_code=status_code)

    @get("/transfer")
    async def index(
        self, request: HTMXRequest, import_service: NamedDependency[ImportService]
    ) -> Response[str]:
        return await self._page(request, import_service)

    @get("/transfer/export", opt={EXEMPT_OPT_KEY: True})  # as /api/export
    async def download(
        self,
        state: State,
        export_service: NamedDependency[ExportService],
        format: FormatChoice = "json",
        list_id: ListChoice = None,
        trash: TrashChoice = False,
    ) -> Stream:
        plan = await export_service.plan(format, list_id=list_id, trash=trash)
        return download(state.db_engine, plan)

    @post(
        "/transfer/imports",
        status_code=200,
        request_max_body_size=MAX_REQUEST_BYTES,
        opt={EXEMPT_OPT_KEY: True},  # as /api/imports
    )
    async def upload(
        self, request: HTMXRequest, import_service: NamedDependency[ImportService]
    ) -> Response[str] | Redirect:
        upload = await read_upload(await request.form())
        try:
            job = await import_service.create(
                upload.data,
                filename=upload.filename,
                list_id=upload.list_id,
                valid_only=upload.valid_only,
            )
        except InvalidFile as error:
            if is_partial(request):
                # htmx swaps only successful answers: the problems come as one.
                return html(render(request, "portability/_problems.html", problems=error))
            return await self._page(
                request, import_service, problems=error, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        if is_partial(request):
            return PROGRESS.partial(request, job)
        return Redirect(path=PROGRESS.page_url(job.id), status_code=HTTP_303_SEE_OTHER)

    @get("/import-jobs/{job_id:uuid}")
    async def job_page(
        self,
        request: HTMXRequest,
        import_service: NamedDependency[ImportService],
        job_id: FromPath[UUID],
    ) -> Response[str]:
        job = await import_service.get(job_id)
        return html(
            render(
                request,
                "portability/job.html",
                section="transfer",
                toasts=[],
                **PROGRESS.context(job),
            )
        )

    @get("/import-jobs/{job_id:uuid}/progress")
    async def job_progress(
        self,
        request: HTMXRequest,
        import_service: NamedDependency[ImportService],
        job_id: FromPath[UUID],
    ) -> Response[str] | Redirect:
        if not is_partial(request):
            return Redirect(path=PROGRESS.page_url(job_id), status_code=HTTP_303_SEE_OTHER)
        return PROGRESS.partial(request, await import_service.get(job_id))
