"""The problems the fuzzing issue lists, each pinned down by the request that shows it.

Schemathesis finds some of them itself (the offset, the Allow header, the document's
gaps); the others need input it does not generate (JSON 1,000 levels deep, bytes that
are not UTF-8, a latin-1 digit in a header) or requests outside the document (HEAD,
/static). Each test says what a fixed app answers, and goes through `fuzz_target` like
the fuzzer, so it keeps working when /api needs a token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fuzz.config import OPENAPI_PATH, FuzzTarget

pytestmark = pytest.mark.fuzz

PROBLEM_JSON = "application/problem+json"
# Past what the databases take as an OFFSET: SQLite fails from 2**63 (a signed 64-bit
# integer), MariaDB from 2**64 (unsigned); both with a 500 today.
TOO_LARGE_OFFSETS = [2**63, 2**64]
JSON_DEPTH = 1000
# `"²"`: str.isdigit() says yes, int() says no. A client sends it as one latin-1 byte.
SUPERSCRIPT_TWO_ETAG = b'"\xb2"'


@pytest.fixture
def client(fuzz_target: FuzzTarget) -> Iterator[httpx.Client]:
    with fuzz_target.client() as client:
        yield client


@pytest.fixture
def task_id(client: httpx.Client) -> str:
    response = client.post("/api/tasks", json={"title": "known problems"})
    assert response.status_code == 201
    task: dict[str, Any] = response.json()
    return str(task["id"])


@pytest.fixture
def document(client: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = client.get(OPENAPI_PATH).json()
    return body


def assert_refused(response: httpx.Response, field: str) -> None:
    """A 400 in the problem shape, naming the bad field: not a 500."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert field in [error["field"] for error in response.json()["errors"]], response.text


@pytest.mark.parametrize("offset", TOO_LARGE_OFFSETS, ids=["2**63", "2**64"])
@pytest.mark.parametrize("path", ["/api/tasks", "/api/trash"])
def test_an_offset_beyond_64_bits_is_refused(client: httpx.Client, path: str, offset: int) -> None:
    assert_refused(client.get(path, params={"offset": offset}), "offset")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/tasks"), ("PATCH", "/api/tasks/{id}"), ("POST", "/api/restore-jobs")],
)
def test_json_nested_too_deep_is_refused(
    client: httpx.Client, task_id: str, method: str, path: str
) -> None:
    body = "[" * JSON_DEPTH + "]" * JSON_DEPTH
    response = client.request(
        method,
        path.format(id=task_id),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert_refused(response, "body")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/tasks", b'{"title": "\xff"}'),
        ("PATCH", "/api/tasks/{id}", b'{"title": "\xff"}'),
        ("POST", "/api/restore-jobs", b'{"ids": ["\xff"]}'),
    ],
    ids=["create", "update", "restore-job"],
)
def test_a_body_that_is_not_utf8_is_refused(
    client: httpx.Client, task_id: str, method: str, path: str, body: bytes
) -> None:
    response = client.request(
        method,
        path.format(id=task_id),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert_refused(response, "body")


def test_an_if_match_of_a_digit_that_is_not_ascii_is_refused(
    client: httpx.Client, task_id: str
) -> None:
    # A well-formed entity-tag (obs-text is allowed in one) that names no version of the
    # task: its precondition fails (412), as RFC 9110 has it. Not a 500.
    response = client.patch(
        f"/api/tasks/{task_id}", json={}, headers=[(b"If-Match", SUPERSCRIPT_TWO_ETAG)]
    )
    assert response.status_code == 412, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["current_version"] == 1


# Not in the list; the same str.isdigit() mistake as If-Match's, found while
# checking it: "²" passes isdigit() and fails int().
@pytest.mark.parametrize("path", ["/", "/trash"])
def test_a_page_number_of_a_digit_that_is_not_ascii_shows_a_page(
    client: httpx.Client, path: str
) -> None:
    # ListView.from_params is lenient on purpose: a hand-edited URL shows a page.
    assert client.get(path, params={"page": "²"}).status_code == 200


def test_an_edit_form_version_of_a_digit_that_is_not_ascii_is_refused(
    client: httpx.Client, task_id: str
) -> None:
    edit_page = client.get(f"/tasks/{task_id}/edit", follow_redirects=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', edit_page.text)
    assert token, "the edit page carries no CSRF token"
    form = {"title": "t", "notes": "", "priority": "none", "due_date": "", "version": "²"}
    response = client.post(f"/tasks/{task_id}", data=form | {"_csrf_token": token[1]})
    # As for any other version the form cannot have sent: the form again, with a notice.
    assert response.status_code == 422, response.status_code


def test_a_nul_in_a_static_path_is_a_client_error(client: httpx.Client) -> None:
    response = client.get("/static/%00")
    assert 400 <= response.status_code < 500, response.text


GET_PATHS = [
    "/",
    "/trash",
    "/api/tasks",
    "/api/tasks/counts",
    "/api/tasks/{id}",
    "/api/trash",
    "/health",
    "/ready",
    OPENAPI_PATH,
]


@pytest.mark.parametrize("path", GET_PATHS)
def test_head_answers_as_get_without_a_body(client: httpx.Client, task_id: str, path: str) -> None:
    url = path.format(id=task_id)
    head, get = client.head(url), client.get(url)
    assert head.status_code == get.status_code == 200, head.headers
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def documented_methods(document: dict[str, Any], path: str) -> set[str]:
    return {method.upper() for method in document["paths"][path] if method != "parameters"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/tasks",
        "/api/tasks/{task_id}",
        "/api/trash",
        "/api/trash/{task_id}",
        "/api/restore-jobs",
        "/api/tasks/{task_id}/complete",
    ],
)
def test_options_allows_every_method_of_the_path(
    client: httpx.Client, document: dict[str, Any], task_id: str, path: str
) -> None:
    response = client.options(path.format(task_id=task_id))
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    expected = documented_methods(document, path) | {"OPTIONS"}
    # HEAD may be announced too, wherever GET is (see the test above).
    assert expected <= allowed <= expected | {"HEAD"}


def test_the_document_declares_the_restore_job_errors(document: dict[str, Any]) -> None:
    get_job = document["paths"]["/api/restore-jobs/{job_id}"]["get"]["responses"]
    assert PROBLEM_JSON in get_job["404"]["content"]
    create_job = document["paths"]["/api/restore-jobs"]["post"]["responses"]
    # In the problem shape the app sends, not Litestar's default {status_code, detail}.
    assert list(create_job["400"]["content"]) == [PROBLEM_JSON]


def test_the_document_declares_ready_503(document: dict[str, Any]) -> None:
    assert "503" in document["paths"]["/ready"]["get"]["responses"]


@pytest.mark.parametrize("schema", ["TaskCreate", "TaskUpdate", "RestoreJobCreate"])
def test_the_document_says_which_bodies_refuse_unknown_fields(
    document: dict[str, Any], schema: str
) -> None:
    # msgspec's forbid_unknown_fields=True: an unknown field gets a 400.
    assert document["components"]["schemas"][schema].get("additionalProperties") is False
