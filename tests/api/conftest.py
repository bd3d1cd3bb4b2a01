"""API-test fixtures: SDK clients whose every JSON response is checked against OpenAI's spec.

- ``spec_checked(homeport, key=…)``: an ``openai.OpenAI`` on ``homeport`` with that key whose
  HTTP client validates each JSON response (successes against the operation's schema, errors
  against ``ErrorResponse``).
- ``client`` / ``admin`` / ``other_project``: such clients with the normal key, the admin key
  and a key of a second project.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest

from homeport.store import keys
from tests.support.servers import HomeportServer
from tests.support.spec import validate, validate_response

SpecChecked = Callable[..., openai.OpenAI]


def check_response(response: httpx2.Response) -> None:
    """Validate one JSON response against the spec (an httpx2 response hook)."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return
    response.read()
    body: Any = response.json()
    if response.status_code >= 400:
        validate("ErrorResponse", body)
        return
    if isinstance(body, dict) and body.get("object") == "list" and not body.get("data"):
        # OpenAI answers an empty page with null cursors; the spec types them as strings.
        assert body["first_id"] is None and body["last_id"] is None
        body = {**body, "first_id": "", "last_id": ""}
    request = response.request
    validate_response(request.url.path, request.method, response.status_code, body)


@pytest.fixture
def spec_checked() -> Iterator[SpecChecked]:
    made: list[openai.OpenAI] = []

    def make(server: HomeportServer, *, key: str | None = None) -> openai.OpenAI:
        http = httpx2.Client(event_hooks={"response": [check_response]})
        client = openai.OpenAI(
            base_url=server.base_url, api_key=key or server.api_key, max_retries=0, http_client=http
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(homeport: HomeportServer, spec_checked: SpecChecked) -> openai.OpenAI:
    return spec_checked(homeport)


@pytest.fixture
def admin(homeport: HomeportServer, spec_checked: SpecChecked) -> openai.OpenAI:
    return spec_checked(homeport, key=homeport.admin_key)


@pytest.fixture
def other_project(homeport: HomeportServer, spec_checked: SpecChecked) -> openai.OpenAI:
    with homeport.services.db.session() as session:
        _, secret = keys.create_key(session, project="other", name="other")
    return spec_checked(homeport, key=secret)
