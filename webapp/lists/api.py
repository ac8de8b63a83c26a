"""JSON API for lists and their members: parse, call one ListService method, shape the
response. The rules (who may rename, share, leave) are the service's."""

from __future__ import annotations

from uuid import UUID

from litestar import Response, delete, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from webapp.idempotency.middleware import IdempotencyKey
from webapp.lists.deps import DEPENDENCIES
from webapp.lists.schemas import (
    ListCreate,
    ListRead,
    ListUpdate,
    MemberCreate,
    MemberRead,
    MemberUpdate,
)
from webapp.lists.service import ListService
from webapp.web.api import ApiController, IfMatch, parse_if_match
from webapp.web.problems import problem_responses

ETAG_HEADER = ResponseHeader(
    name="ETag",
    description='The list\'s version, e.g. "3"; send it back as If-Match',
    documentation_only=True,
)


def etag(task_list: ListRead) -> str:
    return f'"{task_list.version}"'


class ListController(ApiController):
    path = "/api/lists"
    tags = ["lists"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        summary="Your lists",
        description="The lists you own (your Inbox first) and then those shared with you, "
        "each with its count of active tasks and your role in it.",
        responses=problem_responses(),
    )
    async def list_lists(self, list_service: NamedDependency[ListService]) -> list[ListRead]:
        return await list_service.lists()

    @post(
        "/",
        summary="Create a list",
        status_code=HTTP_201_CREATED,
        response_headers=[
            ResponseHeader(
                name="Location", description="URL of the new list", documentation_only=True
            ),
            ETAG_HEADER,
        ],
        responses=problem_responses(400, 409, 413, 422),
    )
    async def create_list(
        self,
        list_service: NamedDependency[ListService],
        data: JSONBody[ListCreate],
        idempotency_key: IdempotencyKey = "",
    ) -> Response[ListRead]:
        task_list = await list_service.create(data)
        return Response(
            task_list,
            status_code=HTTP_201_CREATED,
            headers={"Location": f"/api/lists/{task_list.id}", "ETag": etag(task_list)},
        )

    @get(
        "/{list_id:uuid}",
        summary="Get a list",
        response_headers=[ETAG_HEADER],
        responses=problem_responses(400, 404),
    )
    async def get_list(
        self, list_service: NamedDependency[ListService], list_id: FromPath[UUID]
    ) -> Response[ListRead]:
        task_list = await list_service.get(list_id)
        return Response(task_list, headers={"ETag": etag(task_list)})

    @patch(
        "/{list_id:uuid}",
        summary="Rename a list",
        description="Only the owner renames a list. Send the version you saw, as `version` "
        "or as an `If-Match` ETag: a stale one gets 409 (body) or 412 (header).",
        response_headers=[ETAG_HEADER],
        responses=problem_responses(400, 403, 404, 409, 412, 413),
    )
    async def rename_list(
        self,
        list_service: NamedDependency[ListService],
        list_id: FromPath[UUID],
        data: JSONBody[ListUpdate],
        if_match: IfMatch = "*",
    ) -> Response[ListRead]:
        task_list = await list_service.rename(
            list_id, data, expected_version=parse_if_match(if_match)
        )
        return Response(task_list, headers={"ETag": etag(task_list)})

    @delete(
        "/{list_id:uuid}",
        summary="Delete a list",
        description="Only the owner deletes a list, and not their Inbox (409). Its tasks go "
        "to the trash; restored, they go to the owner's Inbox.",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 403, 404, 409),
    )
    async def delete_list(
        self, list_service: NamedDependency[ListService], list_id: FromPath[UUID]
    ) -> None:
        await list_service.delete(list_id)

    @get(
        "/{list_id:uuid}/members",
        summary="Who a list is shared with",
        description="The owner first, then the members with their roles.",
        responses=problem_responses(400, 404),
    )
    async def list_members(
        self, list_service: NamedDependency[ListService], list_id: FromPath[UUID]
    ) -> list[MemberRead]:
        return await list_service.members(list_id)

    @post(
        "/{list_id:uuid}/members",
        summary="Share a list",
        description="Only the owner shares a list: with the account that has this email, "
        "as viewer (reads) or editor (changes tasks).",
        status_code=HTTP_201_CREATED,
        responses=problem_responses(400, 403, 404, 409, 413, 422),
    )
    async def share_list(
        self,
        list_service: NamedDependency[ListService],
        list_id: FromPath[UUID],
        data: JSONBody[MemberCreate],
        idempotency_key: IdempotencyKey = "",
    ) -> MemberRead:
        return await list_service.share(list_id, data)

    @patch(
        "/{list_id:uuid}/members/{account_id:uuid}",
        summary="Change a member's role",
        responses=problem_responses(400, 403, 404, 413),
    )
    async def change_role(
        self,
        list_id: FromPath[UUID],
        account_id: FromPath[UUID],
        list_service: NamedDependency[ListService],
        data: JSONBody[MemberUpdate],
    ) -> MemberRead:
        return await list_service.set_role(list_id, account_id, data)

    @delete(
        "/{list_id:uuid}/members/{account_id:uuid}",
        summary="Revoke a member, or leave a list",
        description="The owner removes anyone; a member removes themselves (leaves).",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 403, 404, 409),
    )
    async def remove_member(
        self,
        list_id: FromPath[UUID],
        account_id: FromPath[UUID],
        list_service: NamedDependency[ListService],
    ) -> None:
        await list_service.remove_member(list_id, account_id)
