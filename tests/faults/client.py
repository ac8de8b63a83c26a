"""The one place where the fault suite makes HTTP clients for the app.

Every request to the app (the load, the probes, the restore job, the start-up check) goes
through a client made here, so that what every request must carry is added once: when
the API starts requiring a bearer token, `auth_headers` returns it and nothing else in
the suite changes.
"""

from __future__ import annotations

import httpx

from tests.services.worker_process import OWNER_TOKEN

# A request not answered within this long counts as a failure ("no answer"): a stalled
# dependency must give a prompt 503, not an unbounded wait. Generous against a noisy
# 2-core machine, where a healthy request takes milliseconds.
REQUEST_TIMEOUT_SECONDS = 10.0


def auth_headers() -> dict[str, str]:
    """What authenticates the suite to the API: the owner's token (put in the database
    with the owner by `tests.services.worker_process.empty_tables`)."""
    return {"Authorization": f"Bearer {OWNER_TOKEN}"}


def api_client(
    base_url: str, *, connections: int, timeout: float = REQUEST_TIMEOUT_SECONDS
) -> httpx.AsyncClient:
    """A client for `connections` concurrent requests at most.

    Callers never run more requests at once than `connections`: a request waiting for a
    free connection would time out on the client's side and be counted as the server's
    failure.
    """
    return httpx.AsyncClient(
        base_url=base_url,
        headers=auth_headers(),
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )
