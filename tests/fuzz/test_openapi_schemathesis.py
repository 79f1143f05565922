"""Schemathesis against the served OpenAPI document, as a logged-in user who accepted the policy.

Every documented operation gets schema-valid (positive) and schema-breaking (negative) requests
through the WSGI app itself. Checks: never a 5xx, only documented statuses, the documented content
type, bodies that match the documented schema, and invalid input refused with a 4xx. The two
operations that end the caller's own sessions run last, so every other one is fuzzed authenticated.

The examples are derandomised (the same every run, so CI is reproducible); ``FUZZ_EXAMPLES=200``
explores more locally.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.fuzz

POSITIVE_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
NEGATIVE_EXAMPLES = max(1, POSITIVE_EXAMPLES * 2 // 3)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SESSION_ENDING = ("POST /api/v1/auth/logout", "DELETE /api/v1/me/sessions")


def fuzz(operation, mode: GenerationMode, examples: int, token: str) -> None:
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None, print_blob=False,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        case.validate_response(response, checks=checks)

    run()


@pytest.mark.timeout(600)  # ~50 s with the defaults; FUZZ_EXAMPLES=200 takes several minutes
def test_every_operation_answers_as_documented(app, member):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: op.label in SESSION_ENDING)
    assert len(operations) > 40 and {op.label for op in operations} >= set(SESSION_ENDING)
    failures: dict[str, str] = {}
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, POSITIVE_EXAMPLES),
                               (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)):
            try:
                fuzz(operation, mode, examples, member.token)
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE, operation.label  # nothing in it can be made invalid
            except Exception as exc:  # a FailureGroup per operation: collect them all, then report
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
