"""What a fuzz run does: its seed, its size, the checks' expectations, and where it goes."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import schemathesis

from tests.databases import make_settings
from webapp.app import create_app
from webapp.web.openapi import BEARER

# A fixed seed: CI runs the same cases every time, so a red run is a change in the app,
# never a new draw. FUZZ_SEED=<n> explores other cases by hand.
SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
# Examples per operation in the fuzzing phase; the examples and coverage phases add their
# own (a few dozen per operation). The suite checks that the total reaches
# MIN_CASES_PER_DATABASE, which the issue asks for.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "100"))
MIN_CASES_PER_DATABASE = 1000
# Stateful runs: scenarios, each a chain of up to STATEFUL_MAX_STEPS linked calls.
STATEFUL_SCENARIOS = int(os.environ.get("FUZZ_STATEFUL_SCENARIOS", "100"))
STATEFUL_MAX_STEPS = 10

# The fuzz database on the shared MariaDB server: its own, emptied and rebuilt each run,
# so that the fuzzer never touches `make test`'s tables (nor another checkout's).
MARIADB_FUZZ_DATABASE = os.environ.get("TEST_MARIADB_FUZZ_DATABASE", "tasks_fuzz")
OPENAPI_PATH = "/docs/openapi.json"

# Valid input that the app rightly refuses because of the state it finds, on top of
# schemathesis's defaults for positive_data_acceptance (2xx, 3xx, 401, 403, 404, 409,
# 429, 5xx; a 5xx is not_a_server_error's to report): a stale If-Match gets 412, and an
# Idempotency-Key the fuzzer happens to reuse with another request gets 422.
POSITIVE_DATA_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429", "5xx"]
# The fuzzer's API token, known before any server runs: the stateless tests are generated
# when pytest collects them. Schemathesis sends it as the document's bearer scheme says,
# and so knows to leave it out, or spoil it, to check that the API refuses such requests.
FUZZ_TOKEN = "tsk_" + "f" * 43


@dataclass(frozen=True)
class FuzzDatabase:
    name: str  # sqlite or mariadb: how tests and the report name it
    url: str


@dataclass(frozen=True)
class FuzzTarget:
    """Where the fuzzer sends its requests, and what each of them carries."""

    database: str  # the FuzzDatabase's name
    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    # A logged-in session, for the tests' own requests to the pages.
    cookies: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        """A client for requests of the tests' own (not schemathesis's), sent with the
        token, and logged in for the pages."""
        return httpx.Client(
            base_url=self.base_url,
            headers={**self.headers, "Authorization": f"Bearer {FUZZ_TOKEN}"},
            cookies=self.cookies,
            timeout=30,
        )


@dataclass
class Tally:
    """What the run did: cases sent per (database, kind of test), the operations fuzzed
    per database, and the operations the document has."""

    cases: Counter[tuple[str, str]] = field(default_factory=Counter)
    operations: dict[str, set[str]] = field(default_factory=dict)
    expected_operations: set[str] = field(default_factory=set)


TALLY = Tally()


def schemathesis_config(target: FuzzTarget | None = None) -> schemathesis.Config:
    """The run's settings, in the shape of a schemathesis.toml.

    Without a target, requests go where each call says (the stateless tests pass the
    target's base URL and headers themselves). Either way they carry FUZZ_TOKEN.
    """
    settings: dict[str, Any] = {
        "seed": SEED,
        "generation": {
            # Valid input (which must be accepted) and invalid input (which must get a
            # 4xx), each answer judged by every check schemathesis has: all are enabled
            # unless a config turns one off, and this one turns none off.
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            # Hypothesis would otherwise replay the failures it saved in .hypothesis/ on
            # the next run: a run's cases would depend on the runs before it.
            "database": "none",
        },
        "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_DATA_STATUSES}},
        "auth": {"openapi": {BEARER: {"bearer": FUZZ_TOKEN}}},
    }
    if target is not None:
        settings |= {"base-url": target.base_url, "headers": dict(target.headers)}
    return schemathesis.Config.from_dict(settings)


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, as /docs/openapi.json serves it, without serving it.

    The stateless tests are generated from it when pytest collects them, before any
    fixture has started a server; `test_stateless` checks that the server's is the same.
    """
    with TemporaryDirectory() as folder:
        # The document does not depend on the database; the app opens none to make it.
        url = f"sqlite+aiosqlite:///{Path(folder) / 'unused.sqlite3'}"
        app = create_app(make_settings(url, secret_key="fuzz-" + "x" * 43))
        document: dict[str, Any] = app.openapi_schema.to_schema()
    return document
