"""Every operation of the app's OpenAPI document, one request at a time, on each database.

Schemathesis runs its examples, coverage and fuzzing phases for each operation (valid and
invalid input, edge values, unexpected methods) and every check it has on each answer:
no 5xx, a status the document declares, the declared content type, headers and body
schema, valid input accepted, invalid input refused, the Allow header of a 405, ...
Each operation on each database is a test of its own, e.g.
`test_api[POST /api/tasks][sqlite]`.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis.core.result import Ok

from tests.fuzz.config import OPENAPI_PATH, TALLY, FuzzTarget, Tally, openapi_document
from tests.fuzz.config import schemathesis_config as make_config

pytestmark = pytest.mark.fuzz

# Built when pytest collects this module, before any server runs (schemathesis makes one
# test per operation then); so the document comes from the app object, and each request
# goes to the fixture's server. test_the_fuzzed_document_is_the_served_one keeps them equal.
# (schemathesis.pytest.from_fixture would load the served one at run time instead, but in
# schemathesis 4.32.5 it reads `request.node._nodeid`, which pytest 9.2 no longer has.)
DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=make_config())
TALLY.expected_operations = {
    result.ok().label for result in schema.get_all_operations() if isinstance(result, Ok)
}


def test_the_fuzzed_document_is_the_served_one(fuzz_target: FuzzTarget) -> None:
    with fuzz_target.client() as client:
        response = client.get(OPENAPI_PATH)
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    assert served == DOCUMENT


@schema.parametrize()
def test_api(case: schemathesis.Case[Any], fuzz_target: FuzzTarget, tally: Tally) -> None:
    tally.cases[fuzz_target.database, "stateless"] += 1
    tally.operations.setdefault(fuzz_target.database, set()).add(case.operation.label)
    case.call_and_validate(base_url=fuzz_target.base_url, headers=fuzz_target.headers)
