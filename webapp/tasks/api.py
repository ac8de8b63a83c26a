"""JSON API for tasks and the trash: parse, call one service method, shape the response."""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID

from litestar import Response, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.openapi.spec import Example
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from webapp.errors import InvalidInput
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
from webapp.tasks.service import OFFSET_MAX, TaskService
from webapp.web.api import ApiController
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


# An If-Match header (RFC 9110): * or a list of entity-tags, weak or strong. This API's
# ETags are task versions ("3"); any other well-formed tag simply matches no version. A
# version without its quotes (3), which clients send too, is taken as that version.
_TAG = r'(W/)?"[!#-~\x80-\xff]*"|[0-9]{1,9}'
IF_MATCH_PATTERN = rf"^[ \t]*(\*|({_TAG})([ \t]*,[ \t]*({_TAG}))*)[ \t]*$"
_ENTITY_TAG = re.compile(r'(?:W/)?"([!#-~\x80-\xff]*)"|([0-9]{1,9})')


def parse_if_match(value: str) -> frozenset[int] | None:
    """The versions an If-Match header names, or None for `*` (any). A tag that is not a
    version of this API's ("abc") names none: the request then fails its precondition."""
    if value.strip() == "*":
        return None
    if not re.fullmatch(IF_MATCH_PATTERN, value):
        raise InvalidInput({"If-Match": 'must be an ETag of this API, e.g. "3"'})
    # isascii too: "²".isdigit() is true, and int("²") fails.
    return frozenset(
        int(tag)
        for quoted, bare in _ENTITY_TAG.findall(value)
        if (tag := quoted or bare).isascii() and tag.isdigit() and len(tag) <= 9
    )


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
        responses=problem_responses(400),
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
    ) -> Response[TaskPage]:
        query = TaskQuery(status=status, q=q, sort=sort, order=order, limit=limit, offset=offset)
        return encoded_page(await task_service.list_tasks_json(query), task_service)

    @get(
        "/counts",
        summary="Count active, completed and trashed tasks",
        response_headers=[CACHE_HEADER],
        responses=problem_responses(),
    )
    async def count_tasks(self, task_service: NamedDependency[TaskService]) -> Response[TaskCounts]:
        counts = await task_service.counts()
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
        responses=problem_responses(400, 409, 413, 422),
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
        responses=problem_responses(400, 404, 409, 412, 413),
    )
    async def update_task(
        self,
        task_service: NamedDependency[TaskService],
        task_id: FromPath[UUID],
        data: JSONBody[TaskUpdate],
        # A string (not str | None): a document that said "string or null" led clients
        # (and the fuzzer) to send the header as the text "null".
        if_match: Annotated[
            str,
            HeaderParameter(
                name="If-Match",
                required=False,
                pattern=IF_MATCH_PATTERN,
                description='The version you edited, as its ETag: "3" (or W/"3"); * for any',
                examples=[Example(summary="version 3", value='"3"')],
            ),
        ] = "*",
    ) -> Response[TaskRead]:
        task = await task_service.update(task_id, data, expected_version=parse_if_match(if_match))
        return Response(task, headers={"ETag": etag(task)})

    @delete(
        "/{task_id:uuid}",
        summary="Move a task to the trash",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 404),
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
        responses=problem_responses(400, 404, 409, 422),
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
        responses=problem_responses(400, 404, 409, 422),
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
        responses=problem_responses(400, 404, 409, 422),
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
        responses=problem_responses(400, 409, 422),
    )
    async def clear_completed(
        self, task_service: NamedDependency[TaskService], idempotency_key: IdempotencyKey = ""
    ) -> BulkResult:
        return BulkResult(affected=await task_service.clear_completed())

    @post(
        "/complete-all",
        summary="Complete every active task",
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 409, 422),
    )
    async def complete_all(
        self, task_service: NamedDependency[TaskService], idempotency_key: IdempotencyKey = ""
    ) -> BulkResult:
        return BulkResult(affected=await task_service.complete_all())

    @post(
        "/reopen-all",
        summary="Reopen every completed task",
        status_code=HTTP_200_OK,
        responses=problem_responses(400, 409, 422),
    )
    async def reopen_all(
        self, task_service: NamedDependency[TaskService], idempotency_key: IdempotencyKey = ""
    ) -> BulkResult:
        return BulkResult(affected=await task_service.reopen_all())


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

    @delete("/", summary="Empty the trash", status_code=HTTP_204_NO_CONTENT)
    async def empty_trash(self, task_service: NamedDependency[TaskService]) -> None:
        await task_service.empty_trash()
