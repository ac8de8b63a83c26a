"""The reverse proxy's behaviour, on Debian's nginx with the very file docker-compose.yml
mounts (deploy/nginx/tasks-site.conf), in front of stub replicas
whose answers each test chooses (tests/cluster/stubs.py). What the real app does behind
it is tests/cluster/test_replicas.py's business; this is the proxy alone, in seconds.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster.proxy import PORTS, Nginx
from tests.cluster.stubs import Replica, replicas
from tests.faults.client import api_client
from tests.faults.processes import reserved_port

CLIENT_ADDRESS = "127.0.0.7"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Nginx, list[Replica]]]:
    """Three stub replicas and nginx in front of them, fresh for each test (nginx's memory
    of failed replicas included)."""
    with replicas(3, PORTS) as stubs, reserved_port(PORTS) as port:
        nginx = Nginx(tmp_path / "nginx", port, [stub.name for stub in stubs])
        try:
            yield nginx, stubs
        finally:
            nginx.stop()


def client(nginx: Nginx) -> httpx.Client:
    return api_client(nginx.base_url, connections=1, source_address=CLIENT_ADDRESS, sync=True)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def test_requests_go_round_the_replicas_with_the_client_and_the_host_forwarded(
    stack: tuple[Nginx, list[Replica]],
) -> None:
    nginx, stubs = stack
    with client(nginx) as http:
        # A client's own X-Forwarded-For is not passed on: nginx is the edge.
        answers = [
            http.get("/echo", headers={"X-Forwarded-For": "198.51.100.1"}).json() for _ in range(6)
        ]
    assert Counter(answer["name"] for answer in answers) == {stub.name: 2 for stub in stubs}
    for answer in answers:
        headers = lower(answer["headers"])
        assert headers["x-forwarded-for"] == CLIENT_ADDRESS
        assert headers["x-forwarded-proto"] == "http"
        # With the port: the app compares Host with a form's Origin.
        assert headers["host"] == headers["x-forwarded-host"] == f"127.0.0.1:{nginx.port}"
        # One connection a request: a stopping replica cannot close one under a request.
        assert headers["connection"] == "close"
    assert {line.client for line in nginx.requests()} == {CLIENT_ADDRESS}


def test_a_read_cut_short_by_a_dying_replica_is_answered_by_another(
    stack: tuple[Nginx, list[Replica]],
) -> None:
    nginx, stubs = stack
    stubs[0].breaks = True
    with client(nginx) as http:
        statuses = [http.get("/echo").status_code for _ in range(6)]
    assert statuses == [200] * 6
    assert stubs[0].seen["GET /echo"] == 1, "after failing once, the replica is left alone"
    (passed_on,) = [line for line in nginx.requests() if line.passed_on]
    assert passed_on.upstreams[0] == stubs[0].name
    assert passed_on.status == 200


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_write_that_reached_a_dying_replica_is_not_sent_again(
    stack: tuple[Nginx, list[Replica]], method: str
) -> None:
    nginx, stubs = stack
    stubs[0].breaks = True
    with client(nginx) as http:
        statuses = [http.request(method, "/echo", json={}).status_code for _ in range(3)]
    # The one that reached the dying replica is the client's to retry (with its
    # Idempotency-Key); the replica after it never saw it.
    assert sorted(statuses) == [200, 200, 502]
    assert [stub.seen[f"{method} /echo"] for stub in stubs] == [1, 1, 1]


def test_a_write_to_a_replica_that_is_gone_goes_to_another(
    stack: tuple[Nginx, list[Replica]],
) -> None:
    nginx, stubs = stack
    stubs[0].close()  # connection refused: the request never reached it
    with client(nginx) as http:
        statuses = [http.post("/echo", json={}).status_code for _ in range(4)]
    assert statuses == [200] * 4
    assert stubs[1].seen["POST /echo"] + stubs[2].seen["POST /echo"] == 4
    assert len([line for line in nginx.requests() if line.passed_on]) == 1


def test_the_apps_503_reaches_the_client_and_leaves_every_replica_in_service(
    stack: tuple[Nginx, list[Replica]],
) -> None:
    """What every replica answers while the database is down: passed on as it is, once
    (not three times a request), and nginx keeps sending to them once it is back."""
    nginx, stubs = stack
    with client(nginx) as http:
        down = [http.get("/status/503") for _ in range(6)]
        back = [http.get("/echo") for _ in range(3)]
    assert [response.status_code for response in down] == [503] * 6
    assert {response.text for response in down} == {stub.name for stub in stubs}
    assert not [line for line in nginx.requests() if line.passed_on]
    assert [response.status_code for response in back] == [200] * 3


def test_server_sent_events_reach_the_browser_as_they_are_sent(
    stack: tuple[Nginx, list[Replica]],
) -> None:
    nginx, stubs = stack
    received: list[tuple[str, float]] = []
    with (
        client(nginx) as http,
        http.stream("GET", "/events", headers={"Accept": "text/event-stream"}) as stream,
    ):
        assert stream.headers["content-type"] == "text/event-stream"
        for line in stream.iter_lines():
            if not line:
                continue
            received.append((line, time.monotonic()))
            # The replica sends the next event only now: had nginx held the first one
            # back (buffering), this loop would wait for ever (the stub gives up at 10 s).
            for stub in stubs:
                stub.next_event.release()
    assert [line for line, _ in received] == ["data: 0", "data: 1", "data: 2"]
