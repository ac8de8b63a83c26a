"""The restore-jobs JSON API as a client sees it, with the app's in-process worker running
the jobs: status codes, headers, bodies, and what the database holds afterwards."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.app.problems import assert_problem
from tests.stored import stored_tasks
from webapp.restore.schemas import RESTORE_MAX_IDS

Client = AsyncTestClient[Litestar]
JOB_KEYS = {
    "id",
    "status",
    "scope",
    "total",
    "restored",
    "skipped",
    "percent",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "updated_at",
    "duration_seconds",
}


async def trashed(client: Client, count: int) -> list[str]:
    ids = []
    for number in range(count):
        task = (await client.post("/api/tasks", json={"title": f"task {number}"})).json()
        assert (await client.delete(f"/api/tasks/{task['id']}")).status_code == 204
        ids.append(task["id"])
    return ids


async def until_finished(client: Client, location: str) -> dict[str, Any]:
    for _ in range(200):
        job: dict[str, Any] = (await client.get(location)).json()
        if job["status"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {location} did not finish: {job}")


async def test_restoring_selected_tasks(client: Client, database_url: str) -> None:
    ids = await trashed(client, 3)
    live = (await client.post("/api/tasks", json={"title": "still here"})).json()
    # Read the trash first: the job must make the cached page stale.
    assert (await client.get("/api/trash")).json()["total"] == 3

    response = await client.post(
        "/api/restore-jobs", json={"ids": [*ids[:2], live["id"], str(uuid4())]}
    )

    assert response.status_code == 202, response.text
    job = response.json()
    assert set(job) == JOB_KEYS
    assert response.headers["location"] == f"/api/restore-jobs/{job['id']}"
    assert (job["status"], job["scope"], job["total"], job["skipped"]) == (
        "queued",
        "selected",
        4,
        2,
    )
    finished = await until_finished(client, response.headers["location"])
    assert (finished["status"], finished["restored"], finished["skipped"]) == ("done", 2, 2)
    assert finished["percent"] == 100
    assert finished["duration_seconds"] is not None
    trash = (await client.get("/api/trash")).json()
    assert [task["id"] for task in trash["items"]] == [ids[2]]
    rows = {str(row["id"]): row for row in await stored_tasks(database_url)}
    assert rows[live["id"]]["version"] == live["version"]


async def test_restoring_the_whole_trash(client: Client) -> None:
    await trashed(client, 4)
    assert (await client.get("/api/tasks/counts")).json()["trash"] == 4

    response = await client.post("/api/restore-jobs", json={"all": True})

    assert response.status_code == 202
    finished = await until_finished(client, response.headers["location"])
    assert (finished["scope"], finished["total"], finished["restored"]) == ("all", 4, 4)
    assert (await client.get("/api/tasks/counts")).json() == {
        "active": 4,
        "completed": 0,
        "trash": 0,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": []}, "ids"),
        ({}, "ids"),
        ({"all": False}, "ids"),
        ({"ids": [str(uuid4())], "all": True}, "all"),
        ({"ids": ["not-a-uuid"]}, "ids[0]"),
        ({"ids": "everything"}, "ids"),
        ({"all": "yes"}, "all"),
        ({"every": True}, "every"),
        ([1, 2], None),
    ],
)
async def test_bad_requests_are_400_and_create_nothing(
    client: Client, database_url: str, body: Any, field: str | None
) -> None:
    await trashed(client, 1)
    before = await stored_tasks(database_url)

    response = await client.post("/api/restore-jobs", json=body)

    assert_problem(response, 400, field)
    assert await stored_tasks(database_url) == before
    assert (await client.get("/api/tasks/counts")).json()["trash"] == 1


async def test_too_many_ids_are_refused_with_the_limit(client: Client) -> None:
    response = await client.post(
        "/api/restore-jobs", json={"ids": [str(uuid4()) for _ in range(RESTORE_MAX_IDS + 1)]}
    )
    body = assert_problem(response, 400, "ids")
    assert str(RESTORE_MAX_IDS) in body["detail"]


async def test_an_unknown_job_is_404(client: Client) -> None:
    assert_problem(await client.get(f"/api/restore-jobs/{uuid4()}"), 404)
    assert_problem(await client.get("/api/restore-jobs/not-a-uuid"), 404)


async def test_the_api_is_documented(client: Client) -> None:
    spec = (await client.get("/docs/openapi.json")).json()
    assert "/api/restore-jobs" in spec["paths"]
    assert "202" in spec["paths"]["/api/restore-jobs"]["post"]["responses"]
    assert "/api/restore-jobs/{job_id}" in spec["paths"]
