"""Bad input never makes a 5xx: schemathesis generates requests for the assistants, threads and
messages operations of homeport's own OpenAPI description and sends them to a live server
(a bounded number of examples per operation)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case

from tests.support.servers import HomeportServer

MAX_EXAMPLES = 40


def test_no_server_errors(homeport: HomeportServer) -> None:
    schema = (
        schemathesis.openapi.from_dict(homeport.app.openapi())
        .include(path_regex=r"^/v1/(assistants|threads)")
        .exclude(path_regex=r"/runs")
    )
    headers = {"Authorization": f"Bearer {homeport.api_key}"}
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_5xx(case: Case) -> None:
            response = case.call(base_url=homeport.url, headers=headers)
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)

        no_5xx()
        checked.append(operation.label)
    assert len(checked) == 14, checked  # every assistants, threads and messages operation
