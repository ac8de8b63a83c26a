"""JSON API for restore jobs: start one, then poll it."""

from __future__ import annotations

from uuid import UUID

from litestar import Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from webapp.idempotency.middleware import IdempotencyKey
from webapp.restore.deps import DEPENDENCIES
from webapp.restore.schemas import RESTORE_MAX_IDS, RestoreJobCreate, RestoreJobRead
from webapp.restore.service import RestoreJobService
from webapp.web.api import ApiController
from webapp.web.problems import problem_responses


def job_url(job_id: UUID) -> str:
    return f"/api/restore-jobs/{job_id}"


class RestoreJobController(ApiController):
    path = "/api/restore-jobs"
    tags = ["restore jobs"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        summary="Start restoring many tasks from the trash",
        description=(
            f'`{{"ids": [...]}}` restores those tasks (1 to {RESTORE_MAX_IDS}; ids that are '
            'unknown or not in the trash are counted as `skipped`); `{"all": true}` restores '
            "every task deleted before the job was created. The job runs on a worker: poll "
            "the `Location` until `status` is `done` or `failed`."
        ),
        status_code=HTTP_202_ACCEPTED,
        response_headers=[
            ResponseHeader(
                name="Location", description="URL of the job to poll", documentation_only=True
            )
        ],
        responses=problem_responses(400, 409, 413, 422),
    )
    async def create_job(
        self,
        restore_job_service: NamedDependency[RestoreJobService],
        data: JSONBody[RestoreJobCreate],
        idempotency_key: IdempotencyKey = "",
    ) -> Response[RestoreJobRead]:
        job = await restore_job_service.create(data)
        return Response(job, status_code=HTTP_202_ACCEPTED, headers={"Location": job_url(job.id)})

    @get(
        "/{job_id:uuid}",
        summary="A restore job's status and progress",
        description="`percent` counts restored and skipped tasks against `total`.",
        cache=False,
        responses=problem_responses(400, 404),
    )
    async def get_job(
        self, restore_job_service: NamedDependency[RestoreJobService], job_id: FromPath[UUID]
    ) -> RestoreJobRead:
        return await restore_job_service.get(job_id)
