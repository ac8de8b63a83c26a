"""JSON API for import jobs (start one with a file, then poll it) and exports."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.datastructures import ResponseHeader, State
from litestar.di import NamedDependency
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)
from litestar.params import FromPath
from litestar.response import Stream
from litestar.status_codes import HTTP_202_ACCEPTED

from webapp.idempotency.middleware import IdempotencyKey
from webapp.portability.deps import DEPENDENCIES
from webapp.portability.export import MEDIA_TYPES, ExportService, download
from webapp.portability.schemas import FormatChoice, ImportJobRead, ListChoice, TrashChoice
from webapp.portability.service import MAX_UPLOAD_BYTES, ImportService
from webapp.portability.upload import MAX_REQUEST_BYTES, read_upload
from webapp.web.api import ApiController
from webapp.web.deadline import EXEMPT_OPT_KEY
from webapp.web.problems import problem_responses


def job_url(job_id: UUID) -> str:
    return f"/api/imports/{job_id}"


class ImportController(ApiController):
    path = "/api/imports"
    tags = ["import and export"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        summary="Import tasks from a file",
        description=(
            "A multipart form: the file in the field `file` (at most "
            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MiB: our JSON or CSV export, Todoist's "
            "CSV export, or iCalendar VTODOs; the format is read from the content), `list` "
            "(a list id: every task goes there; absent: the lists the file names, made "
            "where you have none of that name) and `valid_only` (true: import the valid "
            "rows of a file with problems). A file with problems imports nothing and is "
            "answered 422 with every problem and where it is. Otherwise the job runs on a "
            "worker: poll the `Location` until `status` is `done` or `failed`. Importing "
            "the same file again makes no duplicates (they count as `skipped`)."
        ),
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=MAX_REQUEST_BYTES,
        # Reading up to 20 MiB from a slow client and parsing it outlasts the request
        # deadline; each statement keeps its own.
        opt={EXEMPT_OPT_KEY: True},
        response_headers=[
            ResponseHeader(
                name="Location", description="URL of the job to poll", documentation_only=True
            )
        ],
        responses=problem_responses(400, 403, 404, 413, 422),
    )
    async def create_import(
        self,
        request: Request[object, object, State],
        import_service: NamedDependency[ImportService],
        idempotency_key: IdempotencyKey = "",
    ) -> Response[ImportJobRead]:
        upload = await read_upload(await request.form())
        job = await import_service.create(
            upload.data,
            filename=upload.filename,
            list_id=upload.list_id,
            valid_only=upload.valid_only,
        )
        return Response(job, status_code=HTTP_202_ACCEPTED, headers={"Location": job_url(job.id)})

    @get(
        "/{job_id:uuid}",
        summary="An import job's status, progress and report",
        description=(
            "`imported + skipped` reaches `total` when done; `errors` lists the rows left "
            "out of a `valid_only` import, each with where it is in the file."
        ),
        cache=False,
        responses=problem_responses(400, 404),
    )
    async def get_import(
        self, import_service: NamedDependency[ImportService], job_id: FromPath[UUID]
    ) -> ImportJobRead:
        return await import_service.get(job_id)


@dataclass
class ExportOperation(Operation):
    """The export's entry in the API document: its 200 is a file, of the format asked
    for (Litestar would say application/json)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
            document = Schema(type=OpenAPIType.OBJECT, description="format tasks-export")
            ok.content = {
                media: OpenAPIMediaType(schema=document if media == "application/json" else binary)
                for media in MEDIA_TYPES.values()
            }


class ExportController(ApiController):
    path = "/api/export"
    tags = ["import and export"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        summary="Export your tasks as JSON, CSV or iCalendar",
        description=(
            "Streams every list you own and its tasks (or one list you may read, with "
            "`list`), completed ones included; `trash=true` adds your trash to the JSON "
            "export. The file's name carries the date."
        ),
        cache=False,
        # A download streams for as long as the file takes: cut at the deadline, it
        # would end early with a 200, a truncated file.
        opt={EXEMPT_OPT_KEY: True},
        responses=problem_responses(400, 404),
        operation_class=ExportOperation,
    )
    async def export(
        self,
        state: State,
        export_service: NamedDependency[ExportService],
        format: FormatChoice = "json",
        list_id: ListChoice = None,
        trash: TrashChoice = False,
    ) -> Stream:
        plan = await export_service.plan(format, list_id=list_id, trash=trash)
        return download(state.db_engine, plan)
