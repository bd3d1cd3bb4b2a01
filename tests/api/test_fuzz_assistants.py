"""Bad input never makes a 5xx: schemathesis fuzzes the assistants, threads and messages routes
of homeport's own OpenAPI description against a live server (a bounded number of examples)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case

from tests.support.servers import HomeportServer

MAX_EXAMPLES = 25


@pytest.fixture
def assistants_openapi(homeport: HomeportServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(homeport.app.openapi())


schema = (
    schemathesis.pytest.from_fixture("assistants_openapi")
    .include(path_regex=r"^/v1/(assistants|threads)")
    .exclude(path_regex=r"/runs")
)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors(case: Case, homeport: HomeportServer) -> None:
    response = case.call(
        base_url=homeport.url, headers={"Authorization": f"Bearer {homeport.api_key}"}
    )
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
