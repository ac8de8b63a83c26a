"""The one place where the tests that drive real servers make HTTP clients: the fault
suite (tests/faults) and the proxy and replicas proof (tests/cluster).

Every request to the app (the load, the probes, the restore jobs, the start-up checks,
the requests through nginx) goes through a client made here, so that what every request
must carry is added once: when the API starts requiring a bearer token (and the pages a
session cookie), `auth_headers` returns it and nothing else in the suites changes.
"""

from __future__ import annotations

from typing import Literal, overload

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


@overload
def api_client(
    base_url: str,
    *,
    connections: int,
    timeout: float = ...,
    source_address: str | None = ...,
    sync: Literal[False] = ...,
) -> httpx.AsyncClient: ...


@overload
def api_client(
    base_url: str,
    *,
    connections: int,
    timeout: float = ...,
    source_address: str | None = ...,
    sync: Literal[True],
) -> httpx.Client: ...


def api_client(
    base_url: str,
    *,
    connections: int,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
    source_address: str | None = None,
    sync: bool = False,
) -> httpx.AsyncClient | httpx.Client:
    """A client for `connections` concurrent requests at most (async, or `sync`).

    Callers never run more requests at once than `connections`: a request waiting for a
    free connection would time out on the client's side and be counted as the server's
    failure. `source_address`: the local address its connections come from (another
    loopback address than 127.0.0.1, say, so that a server's log can tell this client
    from a proxy on the same machine).
    """
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    if sync:
        return httpx.Client(
            base_url=base_url,
            headers=auth_headers(),
            timeout=httpx.Timeout(timeout),
            transport=httpx.HTTPTransport(limits=limits, local_address=source_address),
        )
    return httpx.AsyncClient(
        base_url=base_url,
        headers=auth_headers(),
        timeout=httpx.Timeout(timeout),
        transport=httpx.AsyncHTTPTransport(limits=limits, local_address=source_address),
    )
