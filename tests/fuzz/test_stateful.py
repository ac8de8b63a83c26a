"""Chains of calls that feed each answer's ids into the next request, on each database.

The app's document declares no OpenAPI links; schemathesis infers them from the
document itself (a response's `id` of the type a path parameter names), e.g.
POST /api/tasks 201 -> GET, PATCH, DELETE /api/tasks/{task_id}, its complete, reopen
and restore, DELETE /api/trash/{task_id}; the lists' `items/*/id` -> the same; and
POST /api/restore-jobs 202 -> GET /api/restore-jobs/{job_id}. So scenarios reach real
tasks and jobs instead of the 404s of random ids, and every answer is checked as in the
stateless tests, plus the checks that need a history (use_after_free,
ensure_resource_availability).
"""

from __future__ import annotations

import time
from typing import Any, cast
from uuid import uuid4

import hypothesis
import pytest
from schemathesis import Case, CheckFunction, Response, checks
from schemathesis.core.result import Ok
from schemathesis.generation.stateful.state_machine import RecordingStateMachine
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.fuzz.config import STATEFUL_MAX_STEPS, STATEFUL_SCENARIOS, FuzzTarget, Tally

pytestmark = pytest.mark.fuzz

# A link that schemathesis no longer infers shows here, not as a quietly shorter run.
EXPECTED_LINKS = {
    ("POST /api/tasks", "GET /api/tasks/{task_id}"),
    ("POST /api/tasks", "PATCH /api/tasks/{task_id}"),
    ("POST /api/tasks", "DELETE /api/tasks/{task_id}"),
    ("POST /api/tasks", "POST /api/tasks/{task_id}/complete"),
    ("POST /api/tasks", "POST /api/tasks/{task_id}/reopen"),
    ("POST /api/tasks", "POST /api/tasks/{task_id}/restore"),
    ("POST /api/tasks", "DELETE /api/trash/{task_id}"),
    ("GET /api/trash", "DELETE /api/trash/{task_id}"),
    ("POST /api/restore-jobs", "GET /api/restore-jobs/{job_id}"),
}
RESTORE_TASK = "POST /api/tasks/{task_id}/restore"
START_RESTORE_JOB = "POST /api/restore-jobs"
# Restore jobs run on the app's in-process worker in milliseconds; a scenario waits at
# most this long for its own before the next one starts.
JOB_WAIT_SECONDS = 10.0


def inferred_links(schema: OpenApiSchema) -> set[tuple[str, str]]:
    """(source, target) of every link the state machine follows."""
    machine = schema.as_state_machine()  # infers the links into the document
    assert machine.bundles, "the state machine has no link to follow"
    links = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        for response in operation.definition.raw.get("responses", {}).values():
            for link in response.get("links", {}).values():
                pointer, method = link["operationRef"].removeprefix("#/paths/").rsplit("/", 1)
                links.add((operation.label, f"{method.upper()} {pointer.replace('~1', '/')}"))
    return links


def test_links_are_inferred(fuzz_schema: OpenApiSchema) -> None:
    missing = EXPECTED_LINKS - inferred_links(fuzz_schema)
    assert not missing, f"links schemathesis no longer infers: {sorted(missing)}"


def empty_the_app(target: FuzzTarget) -> None:
    """Every task to the trash, then the trash emptied: what the next scenario starts from.

    Through the API, as any client could: each scenario then meets the same state, so
    the same choices lead to the same answers (Hypothesis replays choices, and takes
    answers that change between replays for a flaky test), and a scenario's checks see
    only what it did itself.
    """
    with target.client() as client:
        for method, path in (
            ("POST", "/api/tasks/complete-all"),
            ("POST", "/api/tasks/clear-completed"),
            ("DELETE", "/api/trash"),
        ):
            response = client.request(method, path)
            assert response.status_code < 300, f"{method} {path}: {response.status_code}"


def wait_for_jobs(target: FuzzTarget, job_ids: list[str]) -> None:
    """Until the restore jobs `job_ids` are done or failed (they restore tasks meanwhile)."""
    deadline = time.monotonic() + JOB_WAIT_SECONDS
    with target.client() as client:
        for job_id in job_ids:
            while time.monotonic() < deadline:
                response = client.get(f"/api/restore-jobs/{job_id}")
                if response.status_code != 200 or response.json()["status"] in {"done", "failed"}:
                    break
                time.sleep(0.05)


def test_linked_calls(fuzz_schema: OpenApiSchema, fuzz_target: FuzzTarget, tally: Tally) -> None:
    machine = cast(type[RecordingStateMachine], fuzz_schema.as_state_machine())

    class Scenarios(machine):  # type: ignore[misc,valid-type]
        """The inferred scenarios, each from an empty app, counted, with use_after_free
        told about restores.

        DELETE /api/tasks/{id} moves a task to the trash, and a restore brings it back:
        use_after_free would then take the restored task's 200 for a deleted resource
        still served. It stays on for every call that no restore in the scenario can
        explain: a task deleted and not restored must be gone.
        """

        def setup(self) -> None:
            empty_the_app(fuzz_target)
            self.restored: set[str] = set()  # tasks restored one by one in this scenario
            self.jobs: list[str] = []  # restore jobs started: any task may come back
            self.keys = uuid4().hex  # this scenario's Idempotency-Key namespace

        def before_call(self, case: Case[Any]) -> None:
            # The app remembers an Idempotency-Key for 24 hours: a key drawn again in a
            # later scenario would replay that scenario's answer, and the same choices
            # would no longer meet the same answers (Hypothesis then reports a flaky
            # strategy). Each scenario's keys are its own; reuse within one still counts.
            if case.headers is not None and (key := case.headers.get("Idempotency-Key")):
                case.headers["Idempotency-Key"] = f"{self.keys}-{key}"[:255]
            super().before_call(case)

        def teardown(self) -> None:
            # A job still running would restore tasks in the next scenario's time.
            wait_for_jobs(fuzz_target, self.jobs)
            super().teardown()

        def after_call(self, response: Response, case: Case[Any]) -> None:
            tally.cases[fuzz_target.database, "stateful"] += 1
            if 200 <= response.status_code < 300:
                if case.operation.label == RESTORE_TASK:
                    self.restored.add(str((case.path_parameters or {})["task_id"]))
                elif case.operation.label == START_RESTORE_JOB:
                    self.jobs.append(str(response.json()["id"]))
            super().after_call(response, case)

        def validate_response(
            self,
            response: Response,
            case: Case[Any],
            additional_checks: list[CheckFunction] | None = None,
            **kwargs: Any,
        ) -> None:
            task_id = str((case.path_parameters or {}).get("task_id"))
            restored = bool(self.jobs) or task_id in self.restored
            # As RecordingStateMachine.validate_response, less use_after_free if restored.
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=[checks.use_after_free] if restored else None,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    Scenarios.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_MAX_STEPS,
            # The same scenarios every run (the stateless tests use the fixed SEED).
            derandomize=True,
            database=None,
            deadline=None,
            # Shrinking a chain of HTTP calls takes minutes; a failure is reported as found,
            # with the curl command of each call of the scenario.
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
