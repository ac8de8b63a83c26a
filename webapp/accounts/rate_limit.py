"""API_RATE_LIMIT: at most so many requests a minute per API token (off when 0).

Litestar's rate limiting, counted per token (not per address: many scripts may share
one) in the app's `rate_limit` store (Redis when REDIS_URL is set, so the limit holds
across replicas). Over the limit: 429 with Retry-After, and RateLimit-* headers on every
answer say how much is left.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import TooManyRequestsException
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.types import Receive, Scope, Send

RATE_LIMIT_STORE = "rate_limit"


def _token_of(request: Request[Any, Any, Any]) -> str:
    return str(request.scope["user"].token_id)


def _has_token(request: Request[Any, Any, Any]) -> bool:
    signed_in = request.scope.get("user")
    return getattr(signed_in, "token_id", None) is not None


class TokenRateLimit(RateLimitMiddleware):
    """Litestar's middleware, plus the Retry-After a client needs to wait right."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except TooManyRequestsException as error:
            reset = (error.headers or {}).get(self.config.rate_limit_reset_header_key)
            error.headers = {**(error.headers or {}), "Retry-After": reset or "60"}
            raise


def api_rate_limit(requests_a_minute: int) -> DefineMiddleware:
    return RateLimitConfig(
        rate_limit=("minute", requests_a_minute),
        identifier_for_request=_token_of,
        check_throttle_handler=_has_token,
        middleware_class=TokenRateLimit,
        store=RATE_LIMIT_STORE,
    ).middleware
