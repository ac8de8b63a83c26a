"""Which shared services the tests can reach, and what to do when one is missing.

Without REQUIRE_SERVICES=1 a test needing an unreachable service is skipped with the
reason; with it (CI), the test fails instead, so a missing service is never hidden.
"""

from __future__ import annotations

import os
import shutil
import socket
from functools import cache

import pytest

MARIADB_URL = os.environ.get("TEST_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

_PORTS = {"mariadb": 3306, "redis": 6379, "rabbitmq": 5672}


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") in {"1", "true", "yes"}


@cache
def reachable(service: str) -> bool:
    if service == "chromium":
        return os.access(CHROMIUM, os.X_OK) or shutil.which("chromium") is not None
    try:
        with socket.create_connection(("127.0.0.1", _PORTS[service]), timeout=0.5):
            return True
    except OSError:
        return False


def need(service: str) -> None:
    """Skip (or, under REQUIRE_SERVICES=1, fail) the calling test when `service` is down."""
    if reachable(service):
        return
    reason = f"{service} is not reachable on this machine"
    if services_required():
        pytest.fail(f"{reason}, and REQUIRE_SERVICES=1 says it must be", pytrace=False)
    pytest.skip(reason)
