"""Health, readiness, metrics and the shape of authentication errors."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
import sqlean
from sqlalchemy.orm import Session

from homeport.store import keys
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


def _hold_sqlite_write_lock(homeport: HomeportServer) -> sqlean.Connection | None:
    """On SQLite, another connection holding the write lock (as a busy writer does). Through
    the same SQLite library as homeport's: two builds in one process do not share their POSIX
    lock bookkeeping, and closing one's file would drop the other's locks."""
    url = homeport.settings.database_url
    if not url.startswith("sqlite"):
        return None
    conn = sqlean.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_lapsed_key_is_looked_up_once_for_concurrent_requests_without_the_write_lock(
    homeport: HomeportServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a key's cached check lapses, the requests that carry it meanwhile share one lookup,
    and neither it nor the reads take SQLite's write lock: a busy writer delays none of them
    (before, each request looked the key up in a write transaction of its own, and each waited
    for the writer, then for the others, in SQLite's busy handler)."""
    lookups: list[str] = []
    real = keys.verify

    def counted(session: Session, secret: str) -> keys.Principal | None:
        lookups.append(secret)
        return real(session, secret)

    monkeypatch.setattr(keys, "verify", counted)
    homeport.services.key_cache.clear()
    lock = _hold_sqlite_write_lock(homeport)

    async def sixteen() -> list[int]:
        async with homeport.async_client() as client:
            pages = [client.beta.assistants.list() for _ in range(16)]
            # A guard against a hang, not a timing: a lookup that waited for the write lock
            # would sit in the busy handler for its whole 30 seconds.
            return [len(page.data) for page in await asyncio.wait_for(asyncio.gather(*pages), 10)]

    try:
        assert asyncio.run(sixteen()) == [0] * 16
    finally:
        if lock is not None:
            lock.rollback()
            lock.close()
    assert lookups == [homeport.api_key]
