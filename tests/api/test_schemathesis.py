"""Schemathesis against the served OpenAPI document: no generated input, valid or not, makes the API answer 5xx,
and every answer is a documented status in the documented shape.

Path ids are sometimes swapped for real workflows and escalations, so generated events reach the pathway itself
rather than stopping at 404.
"""

from __future__ import annotations

import pytest
import schemathesis
from api_support import ApiServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 30  # per operation; with the examples and coverage phases this keeps the run to well under a minute
# No 5xx; and every answer, errors included, is one the document declares, in the declared shape and media type.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


@pytest.fixture
def api_schema(api: ApiServer):
    real = {"workflow_id": [api.workflow_in(stage) for stage in ("referred", "evaluation_scheduled",
                                                                  "treatment_planned")]}
    with api.client("admin") as client:
        items = client.get("/v1/escalations", params={"workflow_id": real["workflow_id"][0]}).json()["items"]
    real["escalation_id"] = [item["id"] for item in items]

    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")

    @schema.hook
    def flatmap_path_parameters(_context, path_parameters):
        if not path_parameters:
            return st.just(path_parameters)
        options = [path_parameters] + [{**path_parameters, name: value} for name in path_parameters
                                       for value in real.get(name, [])]
        return st.sampled_from(options)

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_input_is_a_server_error(case, api: ApiServer) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {api.tokens['admin']}"}, checks=CHECKS, timeout=30)
