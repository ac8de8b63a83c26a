"""JSON API for tasks and the trash: parse, call one service method, shape the response."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Response, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from webapp.idempotency.middleware import IdempotencyKey
from webapp.tasks.deps import DEPENDENCIES
from webapp.tasks.schemas import (
    BulkResult,
    SortKey,
    SortOrder,
    Status,
    TaskCounts,
    TaskCreate,
    TaskPage,
    TaskQuery,
    TaskRead,
    TaskUpdate,
)
from webapp.tasks.service import TaskService
from webapp.tasks.validation import OFFSET_MAX
from webapp.web.api import ApiController, IfMatch, parse_if_match
from webapp.web.problems import problem_responses

CACHE_HEADER = ResponseHeader(
    name="X-Cache",
    description="HIT when served from the read cache, else MISS",
    documentation_only=True,
)
ETAG_HEADER = ResponseHeader(
    name="ETag",
    description='The task\'s version, e.g. "3"; send it back as If-Match',
    documentation_only=True,
)


def cache_status(service: TaskService) -> dict[str, str]:
    return {"X-Cache": "HIT" if service.last_read_hit else "MISS"}


def encoded_page(body: bytes, service: TaskService) -> Response[Any]:
    # The page is JSON already (on a hit, the cache's bytes): sent as is, not re-encoded.
    # The handlers still declare Response[TaskPage], which is what the schema documents.
    return Response(body, media_type=MediaType.JSON, headers=cache_status(service))


def etag(task: TaskRead) -> str:
    return f'"{task.version}"'


Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Page size, 1 to 100")]
Offset = Annotated[
    int,
    QueryParameter(ge=0, le=OFFSET_MAX, description="How many matching tasks to skip"),
]
Search = Annotated[
    str, QueryParameter(max_length=200, description="Text searched in titles and notes")
]
StatusFilter = Annotated[Status, QueryParameter(description="all, active or completed")]
Sort = Annotated[SortKey, QueryParameter(description="What to order by")]
InList = Annotated[
    UUID | None,
    QueryParameter(
        name="list",
        description="Only this list's tasks (one you own or that is shared with you); "
        "left out: every list",
    ),
]
ChangedList = Annotated[
    UUID | None,
    QueryParameter(
        name="list",
        description="Only this list's tasks (one you own or edit); left out: every list "
        "you may change",
    ),
]
Order = Annotated[SortOrder, QueryParameter(description="asc or desc")]


class TaskController(ApiController):
    path = "/api/tasks"
    tags = ["tasks"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        summary="List tasks",
        description="Live tasks (not in the trash), filtered, searched, sorted and paginated.",
        response_headers=[CACHE_HEADER],
        responses=problem_responses(400, 404),
    )
    async def list_tasks(
        self,
        task_service: NamedDependency[TaskService],
        status: StatusFilter = Status.ALL,
        q: Search = "",
        sort: Sort = SortKey.CREATED,
        order: Order = SortOrder.DESC,
        limit: Limit = 50,
        offset: Offset = 0,
        list_id: InList = None,
    ) -> Response[TaskPage]:
        query = TaskQuery(
            status=status, list_id=list_id, q=q, sort=sort, order=order, limit=limit, offset=offset
        )
        return encoded_page(await task_service.list_tasks_json(query), task_service)

    @get(
        "/counts",
        summary="Count active, completed and trashed tasks",
        description="Active and completed of one list, or of every list you read; the "
        "trash you may restore from.",
        response_headers=[CACHE_HEADER],
        responses=problem_responses(400, 404),
    )
    async def count_tasks(
        self, task_service: NamedDependency[TaskService], list_id: InList = None
    ) -> Response[TaskCounts]:
        counts = await task_service.counts(list_id)
        return Response(counts, headers=cache_status(task_service))

    @post(
        "/",
        summary="Create a task",
        status_code=HTTP_201_CREATED,
        response_headers=[
            ResponseHeader(
                name="Location", description="URL of the new task", documentation_only=True
            ),
            ETAG_HEADER,
        ],
        responses=problem_responses(400, 403, 404, 409, 413, 422),
    )
    async def create_task(
        self,
        task_service: NamedDependency[TaskService],
        data: JSONBody[TaskCreate],
        idempotency_key: IdempotencyKey = "",
    ) -> Response[TaskRead]:
        task = await task_service.create(data)
        return Response(
            task,
            status_code=HTTP_201_CREATED,
            headers={"Location": f"/api/tasks/{task.id}", "ETag": etag(task)},
        )

    @get(
        "/{task_id:uuid}",
        summary="Get a task",
        response_headers=[CACHE_HEADER, ETAG_HEADER],
        responses=problem_responses(400, 404),
    )
    async def get_task(
        self, task_service: NamedDependency[TaskService], task_id: FromPath[UUID]
    ) -> Response[TaskRead]:
        task = await task_service.get(task_id)
        return Response(task, headers={**cache_status(task_service), "ETag": etag(task)})

    @patch(
        "/{task_id:uuid}",
        summary="Change some fields of a task",
        description=(
            "Fields left out keep their value. Send the version you edited, as `version` in "
            "the body or as an `If-Match` ETag: a stale one gets 409 (body) or 412 (header)."
        ),
        response_headers=[ETAG_HEADER],
        responses=problem_responses(400, 403, 404, 409, 412, 413),
    )
    async def update_task(
        self,
        task_service: NamedDependency[TaskService],
        task_id: FromPath[UUID],
        data: JSONBody[TaskUpdate],
        if_match: IfMatch = "*",
    ) -> Response[TaskRead]:
        task = await task_service.update(task_id, data, expected_version=parse_if_match(if_match))
        return Response(task, headers={"ETag": etag(task)})

    @delete(
        "/{task_id:uuid}",
        summary="Move a task to the trash",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 403, 404),
    )
    async def delete_task(
        self, task_service: NamedDependency[TaskService], task_id: FromPath[UUID]
    ) -> None:
        await task_service.delete(task_id)

    @post(
        "/{task_id:uuid}/complete",
        summary="Mark a task completed",
        description="Completing a completed task changes nothing.",
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 403, 404, 409, 422),
    )
    async def complete_task(
        self,
        task_service: NamedDependency[TaskService],
        task_id: FromPath[UUID],
        idempotency_key: IdempotencyKey = "",
    ) -> TaskRead:
        return await task_service.complete(task_id)

    @post(
        "/{task_id:uuid}/reopen",
        summary="Mark a task active again",
        description="Reopening an active task changes nothing.",
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 403, 404, 409, 422),
    )
    async def reopen_task(
        self,
        task_service: NamedDependency[TaskService],
        task_id: FromPath[UUID],
        idempotency_key: IdempotencyKey = "",
    ) -> TaskRead:
        return await task_service.reopen(task_id)

    @post(
        "/{task_id:uuid}/restore",
        summary="Restore a task from the trash",
        description="A task that is not in the trash is returned unchanged (200).",
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 403, 404, 409, 422),
    )
    async def restore_task(
        self,
        task_service: NamedDependency[TaskService],
        task_id: FromPath[UUID],
        idempotency_key: IdempotencyKey = "",
    ) -> TaskRead:
        return await task_service.restore(task_id)

    @post(
        "/clear-completed",
        summary="Move every completed task to the trash",
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 403, 404, 409, 422),
    )
    async def clear_completed(
        self,
        task_service: NamedDependency[TaskService],
        list_id: ChangedList = None,
        idempotency_key: IdempotencyKey = "",
    ) -> BulkResult:
        return BulkResult(affected=await task_service.clear_completed(list_id))

    @post(
        "/complete-all",
        summary="Complete every active task",
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 403, 404, 409, 422),
    )
    async def complete_all(
        self,
        task_service: NamedDependency[TaskService],
        list_id: ChangedList = None,
        idempotency_key: IdempotencyKey = "",
    ) -> BulkResult:
        return BulkResult(affected=await task_service.complete_all(list_id))

    @post(
        "/reopen-all",
        summary="Reopen every completed task",
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 403, 404, 409, 422),
    )
    async def reopen_all(
        self,
        task_service: NamedDependency[TaskService],
        list_id: ChangedList = None,
        idempotency_key: IdempotencyKey = "",
    ) -> BulkResult:
        return BulkResult(affected=await task_service.reopen_all(list_id))


class TrashController(ApiController):
    path = "/api/trash"
    tags = ["trash"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        summary="List the trash",
        description="Deleted tasks, most recently deleted first unless another sort is asked for.",
        response_headers=[CACHE_HEADER],
        responses=problem_responses(400),
    )
    async def list_trash(
        self,
        task_service: NamedDependency[TaskService],
        q: Search = "",
        sort: Sort = SortKey.DELETED,
        order: Order = SortOrder.DESC,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Response[TaskPage]:
        query = TaskQuery(trash=True, q=q, sort=sort, order=order, limit=limit, offset=offset)
        return encoded_page(await task_service.list_tasks_json(query), task_service)

    @delete(
        "/{task_id:uuid}",
        summary="Delete a task for ever",
        description="Only a task in the trash can be purged; a live task gets 409.",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 404, 409),
    )
    async def purge_task(
        self, task_service: NamedDependency[TaskService], task_id: FromPath[UUID]
    ) -> None:
        await task_service.purge(task_id)

    @delete(
        "/",
        summary="Empty the trash",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(),
    )
    async def empty_trash(self, task_service: NamedDependency[TaskService]) -> None:
        await task_service.empty_trash()
