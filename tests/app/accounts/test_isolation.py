"""Nobody sees or changes what is not theirs, checked from the app's own route table.

Every route the app has is enumerated (so a route added later is checked too, or this
fails, asking how to fill in its path):
- the public ones are exactly the short list below;
- anonymous, every other one answers 401 with `WWW-Authenticate: Bearer` (/api) or sends
  the browser to log in (pages);
- Bob, signed in, aims every route at Ada's list, task, job, token, invite and account:
  each aimed one answers 404 as an unknown id does, and Ada's rows are the same
  afterwards, whatever Bob did with the routes that take no id (complete all, empty the
  trash...);
- on a list Ada shares, for every route that names the list or one of its tasks: an
  editor gets what Ada (the owner) gets, but 403 where only the owner may act; a viewer
  gets what Ada gets for reads, and 403 (404 for the trash, which a viewer does not
  see) for every write, which changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from tests.accounts import Person, alongside, form_token, log_in, make_person
from tests.app.forms import HX
from tests.databases import make_settings
from webapp.accounts.models import Account, ApiToken, Invite
from webapp.db import create_engine
from webapp.jobs.models import Job, JobItem
from webapp.lists.models import ListMember, TaskList
from webapp.tasks.models import Task

Client = AsyncTestClient[Litestar]

# (method, path) of every route anyone may use; anything under /static and /docs too.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/signup"),
    ("POST", "/signup"),
    ("GET", "/invites/{secret:str}"),
    ("GET", "/health"),
    ("GET", "/ready"),
}
PUBLIC_PREFIXES = ("/static/", "/docs")

# Routes that answer the same whoever asks and touch nothing: partials that, asked for
# without htmx, only redirect to the page they belong to (their htmx answer reads the
# task or job, and is checked; the list opened at ?edit= for a task not the caller's
# shows no editor, the job page answers 404).
SAME_FOR_EVERYONE = {
    ("GET", "/tasks/{task_id:uuid}"),
    ("GET", "/tasks/{task_id:uuid}/edit"),
    ("GET", "/restore-jobs/{job_id:uuid}/progress"),
    ("GET", "/import-jobs/{job_id:uuid}/progress"),
}
# Streams for as long as the client stays: it names nothing, and sends each signed-in
# caller only their own changes (tests/app/events/).
STREAMS = {("GET", "/events")}


def routes(app: Litestar) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route of the app, but OPTIONS and HEAD (which
    say what GET says, and nothing about anyone's data)."""
    for route in app.routes:
        assert isinstance(route, HTTPRoute), f"{route.path}: a route of a kind not checked"
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                yield method, route.path


def is_public(method: str, path: str) -> bool:
    return (method, path) in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def test_the_public_routes_are_exactly_the_short_list(app: Litestar) -> None:
    marked = set()
    for route in app.routes:
        assert isinstance(route, HTTPRoute)
        for handler in route.route_handlers:
            if handler.opt.get("public"):
                marked |= {(m, route.path) for m in handler.http_methods - {"OPTIONS", "HEAD"}}
    assert {r for r in marked if not r[1].startswith(PUBLIC_PREFIXES)} == PUBLIC
    assert all(is_public(*r) for r in marked)
    assert len(list(routes(app))) > 60  # the table was read, not an empty list


# ---------------------------------------------------------------- what each route is aimed at


class Targets:
    """Ada's things, by the path parameter that names each kind."""

    def __init__(self, **ids: UUID) -> None:
        self.ids = ids

    def fill(self, path: str, **overrides: UUID) -> str:
        def one(match: re.Match[str]) -> str:
            name = match[1]
            value = overrides.get(name, self.ids.get(name))
            assert value is not None, (
                f"{path}: no rule for the path parameter {name!r}; say in Targets whose "
                "thing it names, so that this test can aim the route at another account's"
            )
            return str(value)

        return re.sub(r"\{(\w+)(?::\w+)?\}", one, path)


def json_body(
    method: str, path: str, ada_trashed: UUID, list_id: UUID | None = None
) -> dict[str, Any] | None:
    """A valid body for the API routes that take one; `list_id`: where a new task goes."""
    if (method, path) == ("PATCH", "/api/lists/{list_id:uuid}"):
        return {"name": "renamed by someone else"}
    if (method, path) == ("PATCH", "/api/lists/{list_id:uuid}/members/{account_id:uuid}"):
        return {"role": "editor"}
    if (method, path) == ("POST", "/api/lists/{list_id:uuid}/members"):
        return {"email": "dan@example.com", "role": "editor"}
    if (method, path) == ("POST", "/api/lists"):
        return {"name": "Bob's own"}
    if method == "PATCH":
        return {"title": "changed by someone else"}
    if (method, path) == ("POST", "/api/tasks"):
        return {"title": "Bob's own", **({"list_id": str(list_id)} if list_id else {})}
    if (method, path) == ("POST", "/api/restore-jobs"):
        return {"ids": [str(ada_trashed)]}
    return None


# Routes whose body is a multipart form with a file (the import), aimed with `list`.
MULTIPART = {("POST", "/api/imports"), ("POST", "/transfer/imports")}


def multipart_body(list_id: UUID) -> dict[str, Any]:
    """An import of one task into `list_id`, as httpx's `files` and `data`."""
    return {
        "files": {"file": ("one.csv", b"title\r\nimported\r\n")},
        "data": {"list": str(list_id)},
    }


def form_body(path: str) -> dict[str, str]:
    """A form as the pages send it; the fields a route does not read are ignored."""
    return {
        "email": "dan@example.com",
        "role": "editor",
        "title": "changed by someone else",
        "notes": "",
        "version": "1",
        "name": "Changed",
        "token_name": "a token",
        "ids": "",
        "all": "true",
        "next": "/",
        # Bob's own account routes (password, deletion) get a wrong password: refused.
        "current_password": "not the password",
        "new_password": "another long password",
        "delete_password": "not the password",
    }


async def ada_has_one_of_everything(ada: Client) -> dict[str, UUID]:
    groceries = (await ada.post("/api/lists", json={"name": "Ada's list"})).json()
    live = (await ada.post("/api/tasks", json={"title": "Ada's live task"})).json()
    done = (await ada.post("/api/tasks", json={"title": "Ada's done task"})).json()
    await ada.post(f"/api/tasks/{done['id']}/complete")
    trashed = (await ada.post("/api/tasks", json={"title": "Ada's trashed task"})).json()
    await ada.delete(f"/api/tasks/{trashed['id']}")
    job = (await ada.post("/api/restore-jobs", json={"ids": [trashed["id"]]})).json()
    # The job ran (in-process); trash the task again, so the trash is not empty.
    for _ in range(100):
        if (await ada.get(f"/api/restore-jobs/{job['id']}")).json()["status"] == "done":
            break
    await ada.delete(f"/api/tasks/{trashed['id']}")
    imported = (await ada.post("/api/imports", **multipart_body(UUID(groceries["id"])))).json()
    page = await ada.get("/account")
    token_page = await ada.post(
        "/account/tokens",
        data={"_csrf_token": form_token(page.text), "token_name": "second"},
    )
    assert token_page.status_code == 200
    invited = await ada.post("/invites", data={"_csrf_token": form_token(page.text)})
    assert invited.status_code == 200
    me = (await ada.get("/api/me")).json()
    return {
        "list": UUID(groceries["id"]),
        "live": UUID(live["id"]),
        "trashed": UUID(trashed["id"]),
        "job": UUID(job["id"]),
        "import_job": UUID(imported["id"]),
        "account": UUID(me["id"]),
    }


async def rows_of(database_url: str, account_id: UUID) -> dict[str, list[dict[str, Any]]]:
    """Everything of one account's in the database, as plain values."""
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:

            async def rows(statement: Any) -> list[dict[str, Any]]:
                return sorted(
                    (dict(row._mapping) for row in await connection.execute(statement)),
                    key=repr,
                )

            return {
                "account": await rows(select(Account.__table__).where(Account.id == account_id)),
                "lists": await rows(
                    select(TaskList.__table__).where(TaskList.owner_id == account_id)
                ),
                "members": await rows(
                    select(ListMember.__table__)
                    .join(TaskList, TaskList.id == ListMember.list_id)
                    .where(TaskList.owner_id == account_id)
                ),
                "tasks": await rows(select(Task.__table__).where(Task.owner_id == account_id)),
                "jobs": await rows(select(Job.__table__).where(Job.owner_id == account_id)),
                "job_items": await rows(
                    select(JobItem.__table__).join(Job).where(Job.owner_id == account_id)
                ),
                "tokens": await rows(
                    select(ApiToken.__table__).where(ApiToken.account_id == account_id)
                ),
                "invites": await rows(
                    select(Invite.__table__).where(Invite.created_by == account_id)
                ),
            }
    finally:
        await engine.dispose()


async def ada_token_and_invite(database_url: str, account_id: UUID) -> tuple[UUID, UUID]:
    stored = await rows_of(database_url, account_id)
    return stored["tokens"][0]["id"], stored["invites"][0]["id"]


# ---------------------------------------------------------------- the checks


async def test_anonymous_requests_get_401_on_the_api_and_the_log_in_page_elsewhere(
    app: Litestar, anonymous: Client
) -> None:
    token = form_token((await anonymous.get("/signup")).text)
    targets = Targets(
        **dict.fromkeys(
            ("list_id", "task_id", "job_id", "token_id", "invite_id", "account_id"), uuid4()
        )
    )
    checked = 0
    for method, path in routes(app):
        if is_public(method, path):
            continue
        url = targets.fill(path)
        if is_api(path):
            response = await anonymous.request(method, url, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)
            assert response.headers["content-type"].startswith("application/problem+json")
        else:
            data = {"_csrf_token": token} if method == "POST" else None
            response = await anonymous.request(method, url, data=data, follow_redirects=False)
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login"), (method, path)
            with_htmx = await anonymous.request(
                method, url, headers={**HX, "X-CSRFToken": token}, follow_redirects=False
            )
            assert with_htmx.headers.get("hx-redirect", "").startswith("/login"), (method, path)
        checked += 1
    assert checked > 45


async def test_a_bad_token_is_a_401_that_says_so(anonymous: Client, person: Person) -> None:
    for header in (
        f"Bearer {person.token[:-1]}x",  # one character off
        "Bearer tsk_short",
        f"Basic {person.token}",
        "Bearer",
    ):
        response = await anonymous.get("/api/tasks", headers={"Authorization": header})
        assert response.status_code == 401, header
    refused = await anonymous.get("/api/tasks", headers={"Authorization": "Bearer tsk_" + "x" * 43})
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert (await anonymous.get("/api/tasks", headers=person.bearer)).status_code == 200


async def test_another_account_gets_404_for_every_route_aimed_at_what_is_not_theirs(
    app: Litestar, client: Client, person: Person, stranger: Person, database_url: str
) -> None:
    ada = client
    things = await ada_has_one_of_everything(ada)
    token_id, invite_id = await ada_token_and_invite(database_url, person.account_id)
    before = await rows_of(database_url, person.account_id)
    ada_list = (await ada.get("/api/tasks")).json()

    async with alongside(ada, stranger) as bob:
        token = form_token((await bob.get("/account")).text)
        aimed = 0
        for method, path in routes(app):
            if is_public(method, path) or (method, path) in STREAMS:
                continue
            for task in (things["live"], things["trashed"]):
                targets = Targets(
                    list_id=things["list"],
                    task_id=task,
                    # A job of the kind the route serves: another kind's is unknown anyway.
                    job_id=things["import_job"] if "import" in path else things["job"],
                    token_id=token_id,
                    invite_id=invite_id,
                    account_id=things["account"],
                )
                url = targets.fill(path)
                for response in await requests_as(bob, token, method, path, url, things):
                    if url == path:  # no id in it: Bob acts on his own things only
                        assert response.status_code < 500, (method, path, response.text)
                    elif (method, path) in SAME_FOR_EVERYONE and "hx-request" not in {
                        k.lower() for k in response.request.headers
                    }:
                        assert response.status_code == 303
                    else:
                        assert response.status_code == 404, (method, url, response.text[:300])
                        aimed += 1
                if url == path:
                    break  # once is enough for a route without an id
            if (method, path) == ("POST", "/logout"):
                await log_in(bob, stranger)  # and on with the next route
                token = form_token((await bob.get("/account")).text)
    assert aimed > 40
    after = await rows_of(database_url, person.account_id)
    assert after == before
    # Nor did anything Bob did reach Ada's cached reads.
    assert (await ada.get("/api/tasks")).json() == ada_list


async def requests_as(
    bob: httpx.AsyncClient, token: str, method: str, path: str, url: str, things: dict[str, UUID]
) -> list[httpx.Response]:
    """The request a door's user would send: JSON with the token (/api), or the form
    post both ways, plain and with htmx (pages)."""
    if (method, path) in MULTIPART:
        # Into Ada's list: unknown to Bob (404), who may import into his own lists only.
        headers = {} if is_api(path) else {"X-CSRFToken": token}
        response = await bob.post(url, headers=headers, **multipart_body(things["list"]))
        assert response.status_code == 404, (method, path, response.text[:300])
        return [response]
    if is_api(path):
        body = json_body(method, path, things["trashed"])
        return [await bob.request(method, url, json=body)]
    if method == "GET":
        return [
            await bob.get(url, follow_redirects=False),
            await bob.get(url, headers=HX, follow_redirects=False),
        ]
    form = form_body(path)
    return [
        await bob.post(url, data={**form, "_csrf_token": token}, follow_redirects=False),
        await bob.post(
            url, data=form, headers={**HX, "X-CSRFToken": token}, follow_redirects=False
        ),
    ]


async def test_a_cached_read_is_never_served_to_another_account(
    client: Client, app: Litestar, stranger: Person
) -> None:
    """Both accounts' lists have the same cache key; each is cached in its own scope."""
    await client.post("/api/tasks", json={"title": "Ada's"})
    for _ in range(2):
        ada = await client.get("/api/tasks")
    assert ada.headers["x-cache"] == "HIT"
    async with alongside(client, stranger) as bob:
        for path in ("/api/tasks", "/api/tasks/counts", "/api/trash"):
            seen = await bob.get(path)
            assert "Ada" not in seen.text, path
        assert (await bob.get("/api/tasks/counts")).json()["active"] == 0


# ---------------------------------------------------------------- the roles of a shared list

# Routes only a list's owner may use: its members and viewers get 403.
OWNER_ONLY = {
    ("PATCH", "/api/lists/{list_id:uuid}"),
    ("DELETE", "/api/lists/{list_id:uuid}"),
    ("POST", "/api/lists/{list_id:uuid}/members"),
    ("PATCH", "/api/lists/{list_id:uuid}/members/{account_id:uuid}"),
    ("DELETE", "/api/lists/{list_id:uuid}/members/{account_id:uuid}"),
    ("POST", "/lists/{list_id:uuid}/rename"),
    ("POST", "/lists/{list_id:uuid}/delete"),
    ("POST", "/lists/{list_id:uuid}/members"),
    ("POST", "/lists/{list_id:uuid}/members/{account_id:uuid}/role"),
    ("POST", "/lists/{list_id:uuid}/members/{account_id:uuid}/remove"),
}
# Routes without an id in their path that act on the list named in the query (API) or in
# the page they were posted from (pages), or on the list a new task goes to.
ON_A_LIST = {
    ("GET", "/api/export"),
    ("POST", "/api/imports"),
    ("GET", "/api/tasks"),
    ("GET", "/api/tasks/counts"),
    ("POST", "/api/tasks"),
    ("POST", "/api/tasks/complete-all"),
    ("POST", "/api/tasks/reopen-all"),
    ("POST", "/api/tasks/clear-completed"),
    ("POST", "/tasks"),
    ("POST", "/tasks/complete-all"),
    ("POST", "/tasks/clear-completed"),
}


async def shared_world(ada: httpx.AsyncClient, viewer: Person, editor: Person) -> dict[str, UUID]:
    """A list of Ada's shared with a viewer and an editor, with a live, a completed and a
    trashed task in it."""
    shared = (await ada.post("/api/lists", json={"name": "Shared"})).json()
    for member, role in ((viewer, "viewer"), (editor, "editor")):
        response = await ada.post(
            f"/api/lists/{shared['id']}/members", json={"email": member.email, "role": role}
        )
        assert response.status_code == 201
    made = []
    for title in ("live", "done", "trashed"):
        body = {"title": f"Shared {title} task", "list_id": shared["id"]}
        made.append((await ada.post("/api/tasks", json=body)).json())
    await ada.post(f"/api/tasks/{made[1]['id']}/complete")
    await ada.delete(f"/api/tasks/{made[2]['id']}")
    return {"list": UUID(shared["id"]), "live": UUID(made[0]["id"]), "trashed": UUID(made[2]["id"])}


async def world_rows(database_url: str, list_id: UUID) -> dict[str, list[dict[str, Any]]]:
    engine = create_engine(make_settings(database_url), pooled=False)
    try:
        async with engine.connect() as connection:

            async def rows(statement: Any) -> list[dict[str, Any]]:
                found = await connection.execute(statement)
                return sorted((dict(row._mapping) for row in found), key=repr)

            return {
                "list": await rows(select(TaskList.__table__).where(TaskList.id == list_id)),
                "members": await rows(
                    select(ListMember.__table__).where(ListMember.list_id == list_id)
                ),
                "tasks": await rows(select(Task.__table__).where(Task.list_id == list_id)),
            }
    finally:
        await engine.dispose()


async def aimed_requests(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    world: dict[str, UUID],
    task: UUID,
    member: UUID,
) -> list[httpx.Response]:
    """The requests of one route aimed at the shared list, its `task`, its `member`."""
    url = Targets(list_id=world["list"], task_id=task, account_id=member).fill(path)
    list_page = f"/lists/{world['list']}"
    if (method, path) in MULTIPART:
        token = form_token((await client.get("/account")).text)
        headers = {} if is_api(path) else {"X-CSRFToken": token}
        return [await client.post(url, headers=headers, **multipart_body(world["list"]))]
    if is_api(path):
        params = {"list": str(world["list"])} if (method, path) in ON_A_LIST else None
        body = json_body(method, path, world["trashed"], world["list"])
        return [await client.request(method, url, json=body, params=params)]
    if method == "GET":
        return [
            await client.get(url, follow_redirects=False),
            await client.get(url, headers={**HX, "HX-Current-URL": list_page}),
        ]
    token = form_token((await client.get("/account")).text)
    form = {**form_body(path), "next": list_page, "list_id": str(world["list"])}
    return [
        await client.post(url, data={**form, "_csrf_token": token}, follow_redirects=False),
        await client.post(
            url, data=form, headers={**HX, "X-CSRFToken": token}, follow_redirects=False
        ),
    ]


def names_the_list(method: str, path: str) -> bool:
    return ("{list_id" in path or "{task_id" in path or (method, path) in ON_A_LIST) and not (
        "{job_id" in path or "{token_id" in path or "{invite_id" in path
    )


async def test_owner_editor_and_viewer_of_a_shared_list_get_what_their_role_allows(
    app: Litestar, client: Client, person: Person, stranger: Person, database_url: str
) -> None:
    """For every route that names a shared list or one of its tasks, in a world made anew
    for each request: the editor's answers are the owner's (403 where only the owner
    may act); the viewer's are the owner's for reads and refusals for writes, which leave
    the world as it was."""
    ada = client
    cy = await make_person(database_url, "cy@example.com", name="Cy")
    await make_person(database_url, "dan@example.com", name="Dan")
    checked = 0
    async with alongside(ada, stranger) as bob, alongside(ada, cy) as cy_client:
        for method, path in routes(app):
            if is_public(method, path) or not names_the_list(method, path):
                continue
            for target in ("live", "trashed"):
                answers: dict[str, list[int]] = {}
                for role, who in (("owner", ada), ("editor", cy_client), ("viewer", bob)):
                    world = await shared_world(ada, viewer=stranger, editor=cy)
                    before = await world_rows(database_url, world["list"])
                    # A member route names the other member (removing oneself is
                    # leaving, which every member may do).
                    other = stranger if role == "editor" else cy
                    responses = await aimed_requests(
                        who, method, path, world, world[target], other.account_id
                    )
                    answers[role] = [response.status_code for response in responses]
                    if role == "viewer" and method != "GET":
                        assert await world_rows(database_url, world["list"]) == before, (
                            method,
                            path,
                            target,
                        )
                where = (method, path, target, answers)
                assert all(code < 500 for codes in answers.values() for code in codes), where
                if (method, path) in OWNER_ONLY:
                    assert answers["owner"][0] < 400, where
                    assert set(answers["editor"]) == {403}, where
                    assert set(answers["viewer"]) == {403}, where
                    continue
                assert answers["editor"] == answers["owner"], where
                if method == "GET":
                    assert answers["viewer"] == answers["owner"], where
                elif any(code < 400 for code in answers["owner"]):
                    # A write the owner may make: the viewer is refused, 403 where he
                    # sees the task, 404 for the trash he does not see.
                    expected = {404} if target == "trashed" else {403}
                    assert set(answers["viewer"]) == expected, where
                else:
                    assert all(code >= 400 for code in answers["viewer"]), where
                checked += 1
                if "{task_id" not in path:
                    break  # the task aimed at does not matter
    assert checked > 25
