"""The REST API fuzzed from its own OpenAPI schema (schemathesis): no input makes it fail
with a server error or answer outside its schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from conftest import service_settings
from prism.server.app import create_app

ADMIN = "fuzz-admin"
APP = create_app(service_settings(admin_token=ADMIN, database=":memory:", warm_up_sessions=0))
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.parametrize("authorization", [None, ADMIN, "not-a-token"])
def test_rest_api_never_fails_with_a_server_error(
    case: schemathesis.Case, authorization: str | None
) -> None:
    headers = {"Authorization": f"Bearer {authorization}"} if authorization else {}
    case.call_and_validate(
        headers=headers,
        checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
    )
