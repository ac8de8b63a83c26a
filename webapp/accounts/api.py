"""JSON API: who the token belongs to."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from webapp.accounts.auth import SignedIn
from webapp.accounts.schemas import AccountRead
from webapp.web.api import ApiController
from webapp.web.problems import problem_responses


class MeController(ApiController):
    path = "/api/me"
    tags = ["account"]

    @get(
        "/",
        summary="The account the token belongs to",
        responses=problem_responses(),
    )
    async def me(self, request: Request[SignedIn, Any, Any]) -> AccountRead:
        return request.user.account
