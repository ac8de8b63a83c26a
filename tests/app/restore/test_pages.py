"""Restore jobs in HTML: the form post (303 without JS, the progress partial with htmx), the
job page that reloads itself until done, and the partial that stops polling when done."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.accounts import Person
from tests.app.forms import HX, csrf_token
from webapp.cache import NullReadCache
from webapp.jobs.models import Job
from webapp.restore.schemas import RestoreJobCreate
from webapp.restore.service import RestoreJobService

Client = AsyncTestClient[Litestar]
REFRESH = '<meta http-equiv="refresh" content="1">'


async def trashed(client: Client, count: int) -> list[str]:
    ids = []
    for number in range(count):
        task = (await client.post("/api/tasks", json={"title": f"task {number}"})).json()
        await client.delete(f"/api/tasks/{task['id']}")
        ids.append(task["id"])
    return ids


async def post_restore(
    client: Client, form: dict[str, Any], *, htmx: bool = False, token: str | None = None
) -> httpx.Response:
    token = await csrf_token(client) if token is None else token
    headers = {**HX, "X-CSRFToken": token} if htmx else {}
    data = form if htmx else {**form, "_csrf_token": token}
    return await client.post("/restore-jobs", data=data, headers=headers, follow_redirects=False)


async def finished_job(client: Client, job_id: str) -> dict[str, Any]:
    for _ in range(200):
        job: dict[str, Any] = (await client.get(f"/api/restore-jobs/{job_id}")).json()
        if job["status"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


async def queued_job(session: AsyncSession, person: Person) -> UUID:
    """A job of `person`'s recorded but never sent: it stays queued while the test looks."""
    jobs = RestoreJobService(session, NullReadCache(), person.caller)
    job = await jobs.create(RestoreJobCreate(all=True))
    return job.id


async def jobs_stored(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Job)) or 0)


def progressbar(body: str) -> dict[str, str]:
    match = re.search(r"<progress ([^>]*)>", body)
    assert match, body
    return dict(re.findall(r'([\w-]+)="([^"]*)"', match[1]))


async def test_without_js_the_form_leads_to_a_page_that_refreshes_until_done(
    client: Client,
) -> None:
    ids = await trashed(client, 3)

    response = await post_restore(client, {"ids": ids[:2]})

    assert response.status_code == 303
    location = response.headers["location"]
    job_id = location.rsplit("/", 1)[1]
    assert location == f"/restore-jobs/{job_id}"
    job = await finished_job(client, job_id)
    assert (job["restored"], job["total"]) == (2, 2)
    page = await client.get(location)
    assert page.status_code == 200
    assert REFRESH not in page.text
    assert "Restore finished" in page.text
    assert progressbar(page.text)["aria-valuenow"] == "100"
    assert "100% · 2 of 2 tasks restored." in page.text
    assert 'href="/trash"' in page.text
    assert "hx-trigger" not in page.text


async def test_a_running_job_page_refreshes_itself_and_its_partial_polls(
    client: Client, session: AsyncSession, person: Person
) -> None:
    job_id = await queued_job(session, person)

    page = await client.get(f"/restore-jobs/{job_id}")

    assert page.status_code == 200
    assert f"<noscript>{REFRESH}</noscript>" in page.text
    assert "Waiting for a worker…" in page.text
    bar = progressbar(page.text)
    assert bar["role"] == "progressbar"
    assert (bar["aria-valuemin"], bar["aria-valuenow"], bar["aria-valuemax"]) == ("0", "0", "100")
    assert f'hx-get="/restore-jobs/{job_id}/progress"' in page.text
    assert 'hx-trigger="every 500ms"' in page.text

    partial = await client.get(f"/restore-jobs/{job_id}/progress", headers=HX)
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert 'id="restore-progress"' in partial.text
    assert 'hx-trigger="every 500ms"' in partial.text
    assert "hx-trigger" not in {k.lower() for k in partial.headers}


async def test_the_finished_partial_stops_polling_and_triggers_the_refresh(
    client: Client,
) -> None:
    ids = await trashed(client, 2)
    response = await post_restore(client, {"ids": [*ids, str(uuid4())]})
    job_id = response.headers["location"].rsplit("/", 1)[1]
    await finished_job(client, job_id)

    partial = await client.get(f"/restore-jobs/{job_id}/progress", headers=HX)

    assert partial.headers["HX-Trigger"] == "restore-finished"
    assert "hx-trigger" not in partial.text
    assert "hx-get" not in partial.text
    assert "100% · 2 of 3 tasks restored, 1 skipped (not in the trash)." in partial.text


async def test_with_htmx_the_form_answers_with_the_progress_partial(client: Client) -> None:
    await trashed(client, 2)

    response = await post_restore(client, {"all": "true"}, htmx=True)

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<section id="restore-progress"')
    assert 'role="progressbar"' in response.text


async def test_restore_all_wins_over_checked_boxes(client: Client) -> None:
    ids = await trashed(client, 3)
    response = await post_restore(client, {"ids": ids[:1], "all": "true"})
    job = await finished_job(client, response.headers["location"].rsplit("/", 1)[1])
    assert (job["scope"], job["restored"]) == ("all", 3)


async def test_the_partial_without_htmx_sends_the_browser_to_the_page(
    client: Client, session: AsyncSession, person: Person
) -> None:
    job_id = await queued_job(session, person)
    response = await client.get(f"/restore-jobs/{job_id}/progress", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/restore-jobs/{job_id}"


@pytest.mark.parametrize("form", [{}, {"ids": ["not-a-task-id"]}])
async def test_a_form_without_a_usable_selection_explains_and_creates_nothing(
    client: Client, session: AsyncSession, form: dict[str, Any]
) -> None:
    page = await post_restore(client, form)
    assert page.status_code == 400
    assert "Select between 1 and 10000 tasks to restore" in page.text
    assert "<html" in page.text

    partial = await post_restore(client, form, htmx=True)
    assert partial.status_code == 400
    assert partial.headers["HX-Reswap"] == "none"
    assert "Select between 1 and 10000 tasks to restore" in partial.text
    assert await jobs_stored(session) == 0


async def test_a_form_without_the_csrf_token_is_refused(
    client: Client, session: AsyncSession
) -> None:
    await trashed(client, 1)
    response = await client.post("/restore-jobs", data={"all": "true"}, follow_redirects=False)
    assert response.status_code == 403
    assert await jobs_stored(session) == 0


async def test_an_unknown_job_page_is_404(client: Client) -> None:
    response = await client.get(f"/restore-jobs/{uuid4()}")
    assert response.status_code == 404
    assert "<html" in response.text
    assert "There is no such restore job" in response.text
    assert "That task" not in response.text
