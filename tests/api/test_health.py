"""Health, readiness, metrics and the shape of authentication errors."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.support.servers import HomeportServer
from tests.support.spec import validate


def test_healthz_needs_no_key(homeport: HomeportServer) -> None:
    response = httpx.get(homeport.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"].startswith("req_")


def test_readyz_reports_database_and_schema(homeport: HomeportServer) -> None:
    response = httpx.get(homeport.url + "/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["schema"] == "ok"


def test_metrics_count_requests_by_route(homeport: HomeportServer) -> None:
    httpx.get(homeport.url + "/healthz")
    text = httpx.get(homeport.url + "/metrics").text
    assert 'homeport_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert "homeport_http_request_seconds_bucket" in text


def test_missing_key_is_openai_401(homeport: HomeportServer) -> None:
    response = httpx.get(homeport.base_url + "/assistants")
    assert response.status_code == 401
    body = response.json()
    validate("ErrorResponse", body)
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "invalid_api_key"
    assert "You didn't provide an API key" in body["error"]["message"]


def test_wrong_key_raises_authentication_error_in_sdk(homeport: HomeportServer) -> None:
    client = openai.OpenAI(base_url=homeport.base_url, api_key="hp-wrong-key-1234", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.beta.assistants.list()
    assert caught.value.code == "invalid_api_key"
    assert "hp-wro...1234" in caught.value.message


def test_azure_api_key_header_is_accepted(homeport: HomeportServer) -> None:
    response = httpx.get(homeport.base_url + "/assistants", headers={"api-key": homeport.api_key})
    assert response.status_code == 200


def test_unknown_route_is_openai_404(homeport: HomeportServer) -> None:
    response = httpx.get(homeport.base_url + "/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (GET /v1/nothing-here)"
