"""Swagger UI at /docs (served from our own files) and the OpenAPI document it shows."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
SWAGGER_FILES = "/static/vendor/swagger-ui/"
# Schemas a client sends or gets back: each documents its fields with an example.
# Route prefixes whose errors are documented in the problem shape; the restore-job routes
# (webapp/restore/api.py) are to declare theirs with problem_responses and join them.
PROBLEM_DOCUMENTED = ("/api/tasks", "/api/trash")
EXAMPLED_SCHEMAS = (
    "TaskCreate",
    "TaskUpdate",
    "TaskRead",
    "TaskPage",
    "TaskCounts",
    "BulkResult",
    "ListRead",
    "ListCreate",
    "ListUpdate",
    "MemberRead",
    "MemberCreate",
    "MemberUpdate",
)


class References(HTMLParser):
    """Every URL a page makes the browser load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """The document does not depend on the database: SQLite only."""
    path = tmp_path / "tasks.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def spec(client: Client) -> dict[str, Any]:
    response = await client.get("/docs/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def api_operations(app: Litestar) -> list[tuple[str, str]]:
    """(path as OpenAPI spells it, method) for every /api route the app serves."""
    operations = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith("/api"):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            operations += [
                (path, method.lower())
                for method in route.methods
                if method not in {"HEAD", "OPTIONS"}
            ]
    return sorted(operations)


async def test_docs_page_loads_swagger_from_our_own_files_only(client: Client) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")

    parser = References()
    parser.feed(response.text)
    assets = [url for url in parser.urls if not url.startswith("data:")]
    assert sorted(assets) == [
        SWAGGER_FILES + "swagger-ui-bundle.js",
        SWAGGER_FILES + "swagger-ui-standalone-preset.js",
        SWAGGER_FILES + "swagger-ui.css",
    ]
    assert "http://" not in response.text
    assert "https://" not in response.text
    for url in assets:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url


async def test_every_api_route_is_documented(app: Litestar, spec: dict[str, Any]) -> None:
    operations = api_operations(app)
    assert len(operations) >= 15
    documented = sorted(
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if path.startswith("/api")
    )
    assert documented == operations


# Routes whose answer is a file (JSON, CSV or iCalendar, streamed), not a JSON schema.
FILE_DOWNLOADS = {"/api/export"}


async def test_every_api_operation_has_schemas(app: Litestar, spec: dict[str, Any]) -> None:
    for path, method in api_operations(app):
        operation = spec["paths"][path][method]
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert len(success) == 1, where
        if success != ["204"] and path not in FILE_DOWNLOADS:
            content = operation["responses"][success[0]]["content"]
            assert content["application/json"]["schema"], where
        if method in {"post", "patch"} and path in {"/api/tasks", "/api/tasks/{task_id}"}:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body["$ref"].startswith("#/components/schemas/Task"), where


async def test_every_documented_error_has_the_problem_shape(
    app: Litestar, spec: dict[str, Any]
) -> None:
    # Routes declare theirs with webapp.web.problems.problem_responses; a route that does not
    # would show Litestar's default error shape, which /api never sends.
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"status", "title", "detail"}
    assert set(problem["properties"]) == {"status", "title", "detail", "errors", "current_version"}
    for path, method in api_operations(app):
        if not path.startswith(PROBLEM_DOCUMENTED):
            continue
        for code, response in spec["paths"][path][method]["responses"].items():
            if code.startswith(("4", "5")):
                where = f"{method.upper()} {path} {code}"
                assert list(response["content"]) == ["application/problem+json"], where
                media = response["content"]["application/problem+json"]
                assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, where
                [example] = media["examples"].values()
                assert example["value"]["status"] == int(code), where


# Every route of /api may answer these (see webapp.web.problems.problem_responses).
EVERY = ("401", "429", "503")


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        # Every route may be 401, 429 or 503 (EVERY); a POST may be 409 or 422 for its
        # Idempotency-Key.
        # A task's write may be 403 (a viewer of its list); a list's, unless by its owner.
        ("/api/tasks", "post", {"201", "400", "403", "404", "409", "413", "422", *EVERY}),
        ("/api/tasks/{task_id}", "get", {"200", "400", "404", *EVERY}),
        (
            "/api/tasks/{task_id}",
            "patch",
            {"200", "400", "403", "404", "409", "412", "413", *EVERY},
        ),
        (
            "/api/lists/{list_id}",
            "patch",
            {"200", "400", "403", "404", "409", "412", "413", *EVERY},
        ),
        (
            "/api/lists/{list_id}/members",
            "post",
            {"201", "400", "403", "404", "409", "413", "422", *EVERY},
        ),
        ("/api/trash/{task_id}", "delete", {"204", "400", "404", "409", *EVERY}),
        ("/api/restore-jobs", "post", {"202", "400", "409", "413", "422", *EVERY}),
        ("/api/restore-jobs/{job_id}", "get", {"200", "400", "404", *EVERY}),
    ],
)
async def test_routes_document_the_errors_they_answer(
    spec: dict[str, Any], path: str, method: str, codes: set[str]
) -> None:
    assert set(spec["paths"][path][method]["responses"]) == codes


@pytest.mark.parametrize("name", EXAMPLED_SCHEMAS)
async def test_schemas_show_examples(spec: dict[str, Any], name: str) -> None:
    schema = spec["components"]["schemas"][name]
    scalars = {field: prop for field, prop in schema["properties"].items() if field != "items"}
    missing = [field for field, prop in scalars.items() if not prop.get("examples")]
    assert missing == [], f"{name}: no example for {missing}"


async def test_the_write_routes_are_reachable_from_the_docs(spec: dict[str, Any]) -> None:
    # The ETag / Location headers and the If-Match parameter a client needs are documented.
    create = spec["paths"]["/api/tasks"]["post"]["responses"]["201"]
    assert {"Location", "ETag"} <= set(create["headers"])
    patch = spec["paths"]["/api/tasks/{task_id}"]["patch"]
    assert "If-Match" in [parameter["name"] for parameter in patch["parameters"]]
    posts = [item["post"] for path, item in spec["paths"].items() if "post" in item]
    for post in posts:
        assert "Idempotency-Key" in [parameter["name"] for parameter in post["parameters"]]
