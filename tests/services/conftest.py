"""Fixtures shared by the tests against real services."""

from tests.services.redis_server import private_redis

__all__ = ["private_redis"]
