"""The "Import and export" page: its links and form, an upload without JavaScript (303 to
the job's page, which refreshes itself until the job ends) and with htmx (the progress
partial, polling), a refused file's problems, and the browser's download."""

from __future__ import annotations

import asyncio
import re
from typing import cast

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.app.forms import HX, csrf_token

Client = httpx.AsyncClient
CSV = b"list,title\r\nErrands,Post a letter\r\n"


async def upload(client: Client, content: bytes, *, htmx: bool = False) -> httpx.Response:
    token = await csrf_token(cast(AsyncTestClient[Litestar], client))
    headers = {**HX, "X-CSRFToken": token} if htmx else {}
    data = {} if htmx else {"_csrf_token": token}
    return await client.post(
        "/transfer/imports",
        files={"file": ("tasks.csv", content)},
        data=data,
        headers=headers,
        follow_redirects=False,
    )


async def test_the_page_offers_exports_and_the_upload_form(client: Client) -> None:
    page = await client.get("/transfer")
    assert page.status_code == 200
    assert 'href="/transfer/export?format=csv"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert '<a href="/transfer" aria-current="page">Import and export</a>' in page.text


async def test_without_javascript_the_upload_leads_to_the_job_page(client: Client) -> None:
    response = await upload(client, CSV)
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/import-jobs/[0-9a-f-]{36}", location)
    for _ in range(100):
        page = await client.get(location)
        assert page.status_code == 200
        if "Import finished" in page.text:
            break
        assert '<meta http-equiv="refresh" content="1">' in page.text
        await asyncio.sleep(0.05)
    assert 'id="import-progress"' in page.text
    assert "1 of 1 task imported" in page.text
    assert "http-equiv" not in page.text


async def test_with_htmx_the_upload_answers_the_polling_progress_partial(client: Client) -> None:
    response = await upload(client, CSV, htmx=True)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="import-progress"')
    match = re.search(r'hx-get="(/import-jobs/[^"]+/progress)"', response.text)
    if match:  # still running: it polls its progress, which ends with the event
        for _ in range(100):
            partial = await client.get(match[1], headers=HX)
            if "Import finished" in partial.text:
                assert partial.headers["hx-trigger"] == "import-finished"
                assert "hx-get" not in partial.text
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the import did not finish")


async def test_a_refused_file_lists_its_problems_and_imports_nothing(client: Client) -> None:
    bad = b"title,priority\r\nfine,low\r\nbad,urgent\r\n"
    page = await upload(client, bad)
    assert page.status_code == 422
    assert "Nothing was imported" in page.text
    assert "line 3, column priority" in page.text
    partial = await upload(client, bad, htmx=True)
    assert partial.status_code == 200
    assert "line 3, column priority" in partial.text
    assert "bad" not in (await client.get("/api/tasks")).text


async def test_the_browser_downloads_an_export(client: Client) -> None:
    await client.post("/api/tasks", json={"title": "Exported"})
    response = await client.get("/transfer/export", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith('attachment; filename="tasks-')
    assert "Exported" in response.text
