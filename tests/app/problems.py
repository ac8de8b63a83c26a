"""What every error of the JSON API must look like (the problem+json shape)."""

from __future__ import annotations

from typing import Any

from httpx import Response

PROBLEM_KEYS = {"status", "title", "detail", "errors", "current_version"}


def assert_problem(response: Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The one error shape of /api, with `field` named among the errors when given."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert set(body) <= PROBLEM_KEYS, body
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    for error in body.get("errors", []):
        assert set(error) == {"field", "message"}
        assert isinstance(error["field"], str)
        assert isinstance(error["message"], str)
    if field is not None:
        assert field in [error["field"] for error in body.get("errors", [])], body
    return body
