"""Import jobs and exports through the JSON API, with the app's in-process worker: round
trips through each format into a fresh account, bad files refused with every problem
and nothing changed, idempotent re-imports, rights (viewer, stranger), on SQLite and
MariaDB; and an import whose worker dies mid-job, carried on by the next delivery."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
import vobject
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.accounts import Person, alongside, make_person
from tests.app.problems import assert_problem
from tests.databases import make_settings
from webapp.cache import MemoryReadCache
from webapp.db import create_engine
from webapp.jobs import runner
from webapp.jobs.kinds import JobContext, JobKind, Step
from webapp.jobs.models import Job, JobPart
from webapp.lists.models import TaskList
from webapp.portability import kind as import_kind_module
from webapp.portability import service as import_service_module
from webapp.portability.kind import IMPORT
from webapp.portability.service import ImportService
from webapp.tasks.models import Priority, Task

Client = httpx.AsyncClient


async def until_finished(client: Client, location: str) -> dict[str, Any]:
    job: dict[str, Any] = {}
    for _ in range(400):
        job = (await client.get(location)).json()
        if job["status"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {location} did not finish: {job}")


async def upload(
    client: Client, content: bytes, filename: str = "tasks.json", **fields: str
) -> httpx.Response:
    return await client.post(
        "/api/imports", files={"file": (filename, content)}, data=fields or None
    )


async def imported(client: Client, content: bytes, filename: str, **fields: str) -> dict[str, Any]:
    response = await upload(client, content, filename, **fields)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/imports/{response.json()['id']}"
    job = await until_finished(client, response.headers["location"])
    assert job["status"] == "done", job
    return job


async def holdings(database_url: str, account_id: UUID) -> dict[str, Any]:
    """An account's lists (by name) and tasks (comparable fields), read around the app."""
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:
            lists = {
                row.id: row.name
                for row in await connection.execute(
                    select(TaskList.id, TaskList.name).where(TaskList.owner_id == account_id)
                )
            }
            tasks = sorted(
                (
                    lists.get(row.list_id),
                    row.title,
                    row.notes,
                    row.priority,
                    row.due_date,
                    row.completed_at is not None,
                    row.deleted_at is not None,
                )
                for row in await connection.execute(
                    select(Task.__table__).where(Task.owner_id == account_id)
                )
            )
        return {"lists": sorted(lists.values()), "tasks": tasks}
    finally:
        await engine.dispose()


async def some_tasks(client: Client) -> dict[str, str]:
    """Two lists besides the Inbox, tasks with every field, one completed, one trashed."""
    home = (await client.post("/api/lists", json={"name": "Home"})).json()["id"]
    work = (await client.post("/api/lists", json={"name": "Work, mostly"})).json()["id"]
    made = {}
    for title, fields in [
        ("Buy milk", {"list_id": home, "priority": "high", "due_date": "2026-12-24"}),
        ("=SUM(A1)", {"list_id": home, "notes": "formula,\nand a second line"}),
        ("Write report", {"list_id": work, "priority": "low", "notes": "Q4 ✓"}),
        ("Call Ada", {"priority": "medium"}),
        ("Old thing", {"list_id": work}),
    ]:
        response = await client.post("/api/tasks", json={"title": title, **fields})
        assert response.status_code == 201, response.text
        made[title] = response.json()["id"]
    assert (await client.post(f"/api/tasks/{made['Write report']}/complete")).status_code == 200
    assert (await client.delete(f"/api/tasks/{made['Old thing']}")).status_code == 204
    return {"home": home, "work": work, **made}


@pytest.fixture
async def fresh(running: Any, stranger: Person) -> Any:
    async with alongside(running, stranger) as other:
        yield other


async def test_json_round_trip_into_a_fresh_account(
    client: Client, fresh: Client, database_url: str, person: Person, stranger: Person
) -> None:
    await some_tasks(client)
    response = await client.get("/api/export", params={"format": "json", "trash": "true"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    assert response.headers["content-disposition"] == f'attachment; filename="tasks-{today}.json"'
    document = response.json()
    assert (document["format"], document["version"]) == ("tasks-export", 1)

    job = await imported(fresh, response.content, "export.json")
    assert (job["total"], job["imported"], job["skipped"], job["errors"]) == (5, 5, 0, [])
    assert job["format"] == "tasks-json"
    assert await holdings(database_url, stranger.account_id) == await holdings(
        database_url, person.account_id
    )


@pytest.mark.parametrize("format", ["csv", "ics"])
async def test_csv_and_ics_round_trips_carry_their_fields(
    client: Client, fresh: Client, database_url: str, person: Person, stranger: Person, format: str
) -> None:
    await some_tasks(client)
    response = await client.get("/api/export", params={"format": format})
    assert response.status_code == 200
    job = await imported(fresh, response.content, f"export.{format}")
    assert (job["imported"], job["skipped"]) == (4, 0)  # the trash travels only in JSON
    theirs = await holdings(database_url, stranger.account_id)
    ours = await holdings(database_url, person.account_id)
    assert theirs["lists"] == ours["lists"]
    assert theirs["tasks"] == [task for task in ours["tasks"] if not task[-1]]


async def test_exported_ics_parses_with_vobject(client: Client) -> None:
    ids = await some_tasks(client)
    response = await client.get("/api/export", params={"format": "ics", "list": ids["home"]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert "tasks-Home-" in response.headers["content-disposition"]
    calendar = vobject.readOne(response.text)
    todos = {todo.summary.value: todo for todo in calendar.vtodo_list}
    assert set(todos) == {"Buy milk", "=SUM(A1)"}
    milk = todos["Buy milk"]
    assert milk.uid.value == ids["Buy milk"]
    assert milk.priority.value == "1"
    assert milk.due.value == datetime.date(2026, 12, 24)
    assert todos["=SUM(A1)"].description.value == "formula,\nand a second line"


async def test_exported_csv_neutralises_formulas(client: Client) -> None:
    await some_tasks(client)
    text = (await client.get("/api/export", params={"format": "csv"})).text
    assert "'=SUM(A1)" in text
    assert text.lstrip("\ufeff").startswith("list,title,notes,priority,due_date")


async def test_importing_the_same_file_twice_makes_nothing_twice(
    client: Client, fresh: Client, database_url: str, stranger: Person
) -> None:
    await some_tasks(client)
    for format in ("json", "csv", "ics"):
        content = (await client.get("/api/export", params={"format": format})).content
        await imported(fresh, content, f"export.{format}")
    before = await holdings(database_url, stranger.account_id)
    for format in ("json", "csv", "ics"):
        content = (await client.get("/api/export", params={"format": format})).content
        job = await imported(fresh, content, f"export.{format}")
        assert job["imported"] == 0
        assert job["skipped"] == job["total"] > 0
    assert await holdings(database_url, stranger.account_id) == before


async def test_importing_ones_own_export_back_makes_nothing_twice(
    client: Client, database_url: str, person: Person
) -> None:
    await some_tasks(client)
    before = await holdings(database_url, person.account_id)
    content = (await client.get("/api/export", params={"format": "json"})).content
    job = await imported(client, content, "mine.json")
    assert (job["imported"], job["skipped"]) == (0, 4)
    assert await holdings(database_url, person.account_id) == before


BAD_CSV = (
    b"title,priority,due_date\r\n"
    b"fine,low,2026-01-02\r\n"
    b"bad priority,urgent,\r\n"
    b"bad date,,2026-13-45\r\n"
    b",low,\r\n"
)


async def test_a_file_with_problems_imports_nothing_and_lists_every_problem(
    client: Client, database_url: str, person: Person
) -> None:
    before = await holdings(database_url, person.account_id)
    body = assert_problem(await upload(client, BAD_CSV, "bad.csv"), 422)
    where = [error["field"] for error in body["errors"]]
    assert len(where) == 3, body
    assert all("line" in place for place in where), where
    assert "3 problems" in body["detail"]
    assert await holdings(database_url, person.account_id) == before


async def test_valid_only_imports_the_valid_rows_and_reports_the_rest(
    client: Client, database_url: str, person: Person
) -> None:
    job = await imported(client, BAD_CSV, "bad.csv", valid_only="true")
    assert (job["total"], job["imported"], job["error_count"]) == (1, 1, 3)
    assert [error["line"] for error in job["errors"]] == [3, 4, 5]
    assert ("Inbox", "fine") in [
        task[:2] for task in (await holdings(database_url, person.account_id))["tasks"]
    ]


@pytest.mark.parametrize(
    ("content", "filename", "words"),
    [
        (b"title\r\ncaf\xe9\r\n", "latin1.csv", "UTF-8"),
        (bytes(range(256)) * 4, "photo.jpg", ""),
        (
            b'{"format": "tasks-export", "version": 2, "lists": [], "tasks": []}',
            "x.json",
            "version",
        ),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "empty.ics", "VTODO"),
        (b"[" * 50_000 + b"]" * 50_000, "deep.json", ""),
    ],
    ids=["not-utf8", "binary", "future-version", "no-vtodo", "deep"],
)
async def test_unreadable_files_are_refused_whatever_the_options(
    client: Client, database_url: str, person: Person, content: bytes, filename: str, words: str
) -> None:
    before = await holdings(database_url, person.account_id)
    for options in ({}, {"valid_only": "true"}):
        body = assert_problem(await upload(client, content, filename, **options), 422)
        assert words in body["detail"] + str(body["errors"])
    assert await holdings(database_url, person.account_id) == before


async def test_a_file_over_the_limit_is_413(client: Client) -> None:
    content = b"title\r\n" + b"x" * (20 * 1024 * 1024)
    assert_problem(await upload(client, content, "big.csv"), 413)


async def test_a_file_field_is_required(client: Client) -> None:
    response = await client.post("/api/imports", data={"list": ""}, files={"other": ("a", b"x")})
    assert_problem(response, 422, "file")


async def test_import_into_a_chosen_list_and_rights(
    client: Client, running: Any, database_url: str, person: Person, stranger: Person
) -> None:
    home = (await client.post("/api/lists", json={"name": "Home"})).json()["id"]
    csv = b"list,title\r\nElsewhere,one\r\n,two\r\n"
    job = await imported(client, csv, "x.csv", list=home)
    assert job["list_id"] == home
    tasks = (await holdings(database_url, person.account_id))["tasks"]
    assert [(t[0], t[1]) for t in tasks] == [("Home", "one"), ("Home", "two")]

    viewer = await make_person(database_url, "viewer@example.com")
    shared = await client.post(f"/api/lists/{home}/members", json={"email": viewer.email})
    assert shared.status_code == 201, shared.text
    async with alongside(running, viewer) as as_viewer:
        assert_problem(await upload(as_viewer, csv, "x.csv", list=home), 403)
        job_url = f"/api/imports/{job['id']}"
        assert_problem(await as_viewer.get(job_url), 404)
        # A viewer may export the list they read.
        assert (await as_viewer.get("/api/export", params={"list": home})).status_code == 200
    async with alongside(running, stranger) as as_stranger:
        assert_problem(await upload(as_stranger, csv, "x.csv", list=home), 404)
        assert_problem(await as_stranger.get(job_url), 404)
        assert_problem(await as_stranger.get("/api/export", params={"list": home}), 404)


async def test_todoist_and_handwritten_ics_import(
    client: Client, database_url: str, person: Person
) -> None:
    todoist = (
        b"TYPE,CONTENT,DESCRIPTION,PRIORITY,INDENT,AUTHOR,RESPONSIBLE,DATE,DATE_LANG,TIMEZONE\r\n"
        b"task,Milk,,1,1,,,,en,UTC\r\n"
        b"task,Eggs,free range,4,1,,,,en,UTC\r\n"
    )
    job = await imported(client, todoist, "Groceries.csv")
    assert (job["format"], job["imported"]) == ("todoist-csv", 2)
    ics = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hand//EN\r\nX-WR-CALNAME:Errands\r\n"
        b"BEGIN:VTODO\r\nUID:abc-1\r\nDTSTAMP:20261201T100000Z\r\nSUMMARY:Post office\r\n"
        b"RRULE:FREQ=WEEKLY\r\nPRIORITY:2\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
    job = await imported(client, ics, "errands.ics")
    assert job["ignored"] == {"RRULE": 1}
    tasks = (await holdings(database_url, person.account_id))["tasks"]
    assert ("Errands", "Post office", "", Priority.HIGH, None, False, False) in tasks
    assert {t[0] for t in tasks} == {"Groceries", "Errands"}


# --- a worker that dies mid-import ---------------------------------------------------------


async def test_an_import_whose_worker_dies_mid_job_carries_on_without_duplicates(
    database_url: str, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_service_module, "IMPORT_BATCH_SIZE", 3)
    rows = b"".join(b"List %d,task %d\r\n" % (n % 2, n) for n in range(10))
    engine = create_engine(make_settings(database_url))
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    cache = MemoryReadCache(ttl_seconds=60)
    try:
        async with sessions() as session:
            job = await ImportService(session, cache, person.caller).create(
                b"list,title\r\n" + rows, filename="t.csv"
            )
        assert job.total == 10

        steps = 0

        async def dies_in_third_batch(context: JobContext, job: Job) -> Step:
            nonlocal steps
            steps += 1
            step = await IMPORT.step(context, job)
            if steps == 3:  # killed after inserting, before the batch committed
                await context.session.flush()
                raise SystemExit("killed")
            return step

        crashing = JobKind(name=IMPORT.name, step=dies_in_third_batch, audience=IMPORT.audience)
        settings = make_settings(database_url)
        async with sessions() as session:
            with pytest.raises(SystemExit):
                await runner.run(JobContext(session, cache, settings), crashing, job.id)
        async with sessions() as session:
            stored = await session.get_one(Job, job.id)
            assert (stored.status, stored.done) == ("running", 3)
            assert stored.cursor is not None
            assert stored.cursor["part"] == 1
            # The lease of the dead worker expires; the next delivery takes the job over.
            await session.execute(
                update(Job).where(Job.id == job.id).values(lease_expires_at=stored.created_at)
            )
            await session.commit()
        async with sessions() as session:
            ended = await runner.run(JobContext(session, cache, settings), IMPORT, job.id)
            assert (ended.status, ended.total, ended.done, ended.skipped) == ("done", 10, 10, 0)
            parts = await session.scalars(select(JobPart.part).where(JobPart.job_id == job.id))
            assert list(parts) == [0, 1, 2, 3, 4]
        titles = [t[1] for t in (await holdings(database_url, person.account_id))["tasks"]]
        assert sorted(titles) == sorted(f"task {n}" for n in range(10))
        lists = (await holdings(database_url, person.account_id))["lists"]
        assert lists == ["Inbox", "List 0", "List 1"]
    finally:
        await engine.dispose()


async def test_the_job_of_an_import_lives_in_the_one_job_table(
    client: Client, database_url: str
) -> None:
    job = await imported(client, b"title\r\none\r\n", "one.csv")
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with AsyncSession(engine) as session:
            row = await session.get_one(Job, UUID(job["id"]))
            assert (row.kind, row.status, row.done) == ("import", "done", 1)
    finally:
        await engine.dispose()


async def test_lists_named_across_batches_are_made_once_whatever_their_letters(
    client: Client, database_url: str, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list name matched as str.casefold has it (SQL's lower() knows only ASCII on
    SQLite, and "ß" is "ss"): one list however many batches its tasks fill, and none made
    again by importing the file again."""
    monkeypatch.setattr(import_service_module, "IMPORT_BATCH_SIZE", 2)
    await client.post("/api/lists", json={"name": "STRASSE"})
    rows = "".join(f"{name},task {n}\r\n" for n, name in enumerate(["Été", "été", "Straße"] * 3))
    csv = ("list,title\r\n" + rows).encode()
    for _ in range(2):
        job = await imported(client, csv, "x.csv")
    assert (job["imported"], job["skipped"]) == (0, 9)
    assert (await holdings(database_url, person.account_id))["lists"] == [
        "Inbox",
        "STRASSE",
        "Été",
    ]


async def test_a_list_deleted_during_an_import_is_not_made_again(
    database_url: str, person: Person
) -> None:
    """Batch 0 makes the lists; a list deleted before the next batch stays deleted and
    the rest of its tasks go to the Inbox."""
    engine = create_engine(make_settings(database_url))
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    cache = MemoryReadCache(ttl_seconds=60)
    csv = b"list,title\r\nTrip,passport\r\nTrip,tickets\r\n"
    try:
        async with sessions() as session:
            job = await ImportService(session, cache, person.caller).create(csv, filename="t.csv")
        deleted: list[str] = []

        async def delete_after_batch_0(context: JobContext, job: Job) -> Step:
            step = await IMPORT.step(context, job)
            if job.cursor and job.cursor["part"] == 0:
                list_id = job.cursor["lists"]["trip"]
                deleted.append(list_id)
                await context.session.execute(delete(TaskList).where(TaskList.id == UUID(list_id)))
            return step

        deleting = JobKind(name=IMPORT.name, step=delete_after_batch_0, audience=IMPORT.audience)
        async with sessions() as session:
            ended = await runner.run(
                JobContext(session, cache, make_settings(database_url)), deleting, job.id
            )
        assert deleted
        assert (ended.status, ended.done) == ("done", 2)
        stored = await holdings(database_url, person.account_id)
        assert stored["lists"] == ["Inbox"]
        assert [(task[0], task[1]) for task in stored["tasks"]] == [
            ("Inbox", "passport"),
            ("Inbox", "tickets"),
        ]
    finally:
        await engine.dispose()


async def test_an_editor_importing_a_shared_lists_export_back_makes_nothing_twice(
    client: Client, running: Any, database_url: str, person: Person, stranger: Person
) -> None:
    home = (await client.post("/api/lists", json={"name": "Home"})).json()["id"]
    for title in ("milk", "bread"):
        await client.post("/api/tasks", json={"title": title, "list_id": home})
    member = {"email": stranger.email, "role": "editor"}
    assert (await client.post(f"/api/lists/{home}/members", json=member)).status_code == 201
    async with alongside(running, stranger) as bob:
        exported = await bob.get("/api/export", params={"list": home, "format": "csv"})
        assert exported.status_code == 200
        job = await imported(bob, exported.content, "home.csv", list=home)
    assert (job["imported"], job["skipped"]) == (0, 2)
    titles = [task[1] for task in (await holdings(database_url, person.account_id))["tasks"]]
    assert sorted(titles) == ["bread", "milk"]


async def test_an_import_making_more_lists_than_an_account_may_have_imports_nothing(
    client: Client, database_url: str, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_kind_module, "LISTS_MAX", 3)
    csv = b"list,title\r\nA,one\r\nB,two\r\nC,three\r\n"
    response = await upload(client, csv, "x.csv")
    assert response.status_code == 202, response.text
    job = await until_finished(client, response.headers["location"])
    assert job["status"] == "failed"
    assert "at most 3 lists" in str(job)
    assert await holdings(database_url, person.account_id) == {"lists": ["Inbox"], "tasks": []}
