"""The load a fault lands on: concurrent API clients, plus an open-loop prober, each
answer checked and timed.

- `clients` closed-loop clients (async, one connection each) mix GET /api/tasks,
  GET /api/tasks/{id}, POST /api/tasks, PATCH and complete/reopen. After an answer that is
  not a success a client waits BACKOFF_SECONDS, as a polite program would, so that a
  failing app is not hammered by a spin.
- Each client (and the prober) changes only tasks of its own (a share of the seeded ones,
  and those it created); it reads any. Two clients changing one task at once can get a
  409 (optimistic concurrency, even for a PATCH without a version), which would be noise
  here: any 4xx in this suite is then a real anomaly.
- A prober sends a request every PROBE_INTERVAL_SECONDS whether or not the previous ones
  have been answered. Closed-loop clients all stuck on hung requests would send nothing
  new when the dependency comes back; the prober keeps sending, so the time to recover
  is measured from requests sent at a steady rhythm.

Writes are tracked: every 201 is an acknowledged write (its id and title), to be found in
the database afterwards. Every create carries an Idempotency-Key (its title), as a
careful client sends one. A client whose POST got a well-formed 503 sends it again with
the same key: a title stored twice means the app applied one request twice. (A 503 may
come after the commit, when the database dies before saying it committed; the key is
what tells the retry apart: it is then answered 409 "applied already", and counted as
`applied_without_answer`, not as an error.) A POST without an answer is not retried.

Every versioned write acknowledged (201/200) raises the floor for reads of that task: a
GET sent after it returned that shows an older version is a stale read.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from tests.faults.client import REQUEST_TIMEOUT_SECONDS, api_client

PROBLEM_JSON = "application/problem+json"
BACKOFF_SECONDS = 0.2
PROBE_INTERVAL_SECONDS = 0.1
# Probes in flight at most (each needs a connection; see client.api_client).
PROBE_CAP = 32

OPERATIONS = ("list", "get", "create", "update", "complete")
WEIGHTS = (3, 3, 2, 1, 1)
PROBE_CYCLE = ("get", "list", "create", "get", "update")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request and what came of it.

    `status` is None when no HTTP answer arrived (`failure` names the transport error);
    otherwise `failure` says what is wrong with the answer, if anything.
    """

    operation: str
    started: float  # time.monotonic()
    ended: float
    status: int | None
    failure: str | None
    retry_after: bool
    probe: bool
    cache_hit: bool = False  # X-Cache: HIT (reads served from the read cache)
    applied_already: bool = False  # a create's retry answered 409 "applied already"

    @property
    def settled(self) -> bool:
        """A success, or a create answered "applied already" (its first try committed)."""
        return self.ok or self.applied_already

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.failure is None

    @property
    def label(self) -> str:
        """What the counts by status group it under: the status, or the error's name."""
        return str(self.status) if self.status is not None else str(self.failure)


def _applied_already(response: httpx.Response) -> bool:
    """A 409 for an Idempotency-Key whose first request committed, answer lost."""
    if response.status_code != 409:
        return False
    try:
        return "applied already" in str(response.json().get("detail", ""))
    except ValueError:
        return False


def answer_failure(response: httpx.Response, expected: int) -> str | None:
    """What is wrong with an answer, or None.

    A 5xx must be a complete problem+json whose `status` is the response's; a success
    must be the expected status with a JSON body (a cut body is a transport error already).
    """
    status = response.status_code
    if status >= 500:
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type != PROBLEM_JSON:
            body = response.content[:80].decode(errors="replace")
            return f"{status} as {media_type or 'no content type'}, not problem+json: {body!r}"
        try:
            body = response.json()
        except ValueError:
            return f"{status} problem+json that is not JSON"
        if not isinstance(body, dict) or body.get("status") != status:
            return f"{status} problem+json without a matching status"
        return None
    if 200 <= status < 300:
        if status != expected:
            return f"{status} where {expected} was expected"
        try:
            response.json()
        except ValueError:
            return f"{status} body that is not JSON"
    return None


class Load:
    """Run with `async with Load(...)`: clients and prober start on entry, and on exit stop
    sending and wait (bounded) for the requests in flight, so that every request sent is
    counted."""

    def __init__(
        self,
        base_url: str,
        *,
        clients: int,
        task_ids: Sequence[str],
        title_prefix: str,
        source_address: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.clients = clients
        self.title_prefix = title_prefix
        self.ids = list(task_ids)
        # Tasks each writer may change: client n gets every (clients + 1)th seeded task
        # from n; the prober is writer number `clients`.
        self.owned = [list(task_ids[n :: clients + 1]) for n in range(clients + 1)]
        self.outcomes: list[Outcome] = []
        self.acknowledged: dict[str, str] = {}  # id -> title
        self.unknown_titles: set[str] = set()  # POSTs that got no answer
        # Creates whose retry was told "applied already": the first try committed.
        self.applied_without_answer: set[str] = set()
        self.version_floor: dict[str, int] = {}
        self._in_flight: dict[int, float] = {}  # request number -> started
        self._numbers = 0
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._probes: set[asyncio.Task[None]] = set()
        self.probes_skipped = 0
        self._client_http = api_client(base_url, connections=clients, source_address=source_address)
        self._probe_http = api_client(
            base_url, connections=PROBE_CAP, source_address=source_address
        )

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(self.clients)]
        self._tasks.append(asyncio.create_task(self._prober()))
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        pending = [*self._tasks, *self._probes]
        if not pending:
            return
        # Every request has the client's timeout, so this wait is bounded; the margin
        # covers a loaded machine.
        _, late = await asyncio.wait(pending, timeout=REQUEST_TIMEOUT_SECONDS + 5)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        await self._client_http.aclose()
        await self._probe_http.aclose()

    # -- what the scenario reads while the load runs

    def in_flight_longer_than(self, seconds: float) -> int:
        now = time.monotonic()
        return sum(1 for started in self._in_flight.values() if now - started > seconds)

    def since(self, moment: float) -> list[Outcome]:
        """The outcomes of requests sent at or after `moment`."""
        return [o for o in self.outcomes if o.started >= moment]

    # -- the clients

    async def _client(self, number: int) -> None:
        rng = random.Random(number)
        pending_title: str | None = None
        sequence = 0
        while not self._stopping.is_set():
            operation = rng.choices(OPERATIONS, WEIGHTS)[0]
            title = None
            if operation == "create":
                if pending_title is None:
                    sequence += 1
                    pending_title = f"{self.title_prefix}-c{number}-{sequence}"
                title = pending_title
            outcome = await self._request(
                self._client_http, operation, rng, title, writer=number, probe=False
            )
            if operation == "create" and not (outcome.status == 503 and outcome.failure is None):
                # Acknowledged, applied already, refused, or unknown: never sent again.
                pending_title = None
            if not outcome.settled:
                await asyncio.sleep(BACKOFF_SECONDS)

    async def _prober(self) -> None:
        rng = random.Random(-1)
        tick = 0
        next_at = time.monotonic()
        while not self._stopping.is_set():
            if len(self._probes) >= PROBE_CAP:
                self.probes_skipped += 1
            else:
                operation = PROBE_CYCLE[tick % len(PROBE_CYCLE)]
                title = f"{self.title_prefix}-p-{tick}" if operation == "create" else None
                task = asyncio.create_task(self._probe(operation, rng, title))
                self._probes.add(task)
                task.add_done_callback(self._probes.discard)
            tick += 1
            next_at += PROBE_INTERVAL_SECONDS
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _probe(self, operation: str, rng: random.Random, title: str | None) -> None:
        await self._request(
            self._probe_http, operation, rng, title, writer=self.clients, probe=True
        )

    # -- one request

    def _request_for(
        self, operation: str, rng: random.Random, title: str | None, writer: int
    ) -> tuple[str, str, dict[str, Any] | None, int, str | None]:
        """Method, path, JSON body, expected status, and the task it concerns."""
        if operation == "list":
            status = rng.choice(("all", "active", "completed"))
            return "GET", f"/api/tasks?status={status}&limit=20", None, 200, None
        if operation == "create":
            return "POST", "/api/tasks", {"title": title}, 201, None
        if operation == "get":
            task_id = rng.choice(self.ids)
            return "GET", f"/api/tasks/{task_id}", None, 200, task_id
        task_id = rng.choice(self.owned[writer])
        if operation == "update":
            body = {"notes": f"note {uuid.uuid4().hex[:8]}"}
            return "PATCH", f"/api/tasks/{task_id}", body, 200, task_id
        action = rng.choice(("complete", "reopen"))
        return "POST", f"/api/tasks/{task_id}/{action}", None, 200, task_id

    async def _request(
        self,
        http: httpx.AsyncClient,
        operation: str,
        rng: random.Random,
        title: str | None,
        *,
        writer: int,
        probe: bool,
    ) -> Outcome:
        method, path, body, expected, task_id = self._request_for(operation, rng, title, writer)
        floor = self.version_floor.get(task_id, 0) if task_id is not None else 0
        self._numbers += 1
        number = self._numbers
        started = time.monotonic()
        self._in_flight[number] = started
        headers = {"Idempotency-Key": title} if operation == "create" and title else None
        try:
            response = await http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as error:
            if title is not None:
                self.unknown_titles.add(title)
            outcome = Outcome(
                operation, started, time.monotonic(), None, type(error).__name__, False, probe
            )
            self.outcomes.append(outcome)
            return outcome
        finally:
            self._in_flight.pop(number, None)
        ended = time.monotonic()
        failure = answer_failure(response, expected)
        if failure is None and 200 <= response.status_code < 300:
            failure = self._take_success(operation, response, title, writer, floor)
        applied_already = operation == "create" and _applied_already(response)
        if applied_already and title is not None:
            self.applied_without_answer.add(title)
        outcome = Outcome(
            operation,
            started,
            ended,
            response.status_code,
            failure,
            "retry-after" in response.headers,
            probe,
            response.headers.get("x-cache") == "HIT",
            applied_already,
        )
        self.outcomes.append(outcome)
        return outcome

    def _take_success(
        self,
        operation: str,
        response: httpx.Response,
        title: str | None,
        writer: int,
        floor: int,
    ) -> str | None:
        """Record what a success acknowledged; returns a failure for a stale read."""
        if operation == "list":
            return None
        try:
            task = json.loads(response.content)
            version = int(task["version"])
            returned_id = str(task["id"])
        except (ValueError, KeyError, TypeError):
            return f"{response.status_code} body without a task"
        if operation == "create":
            assert title is not None
            if task.get("title") != title:
                return "201 with another title than the one sent"
            self.acknowledged[returned_id] = title
            self.ids.append(returned_id)
            self.owned[writer].append(returned_id)
        elif operation == "get":
            if version < floor:
                return f"stale read: version {version} after version {floor} was acknowledged"
            # A read raises no floor: until the write that made it returns, an older
            # version may still be served (the cache's contract, webapp/cache/backends.py).
            return None
        if version > self.version_floor.get(returned_id, 0):
            self.version_floor[returned_id] = version
        return None
