"""The shared HTTP client: retries 429 and 5xx honouring Retry-After, gives up clearly, pages."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from homeport.sources.errors import SourceError
from homeport.sources.http import HttpClient, RateLimiter, retry_after

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, **kwargs: object) -> HttpClient:
    return HttpClient(
        "https://platform.test/v1",
        transport=httpx.MockTransport(handler),
        backoff=0.001,
        **kwargs,  # type: ignore[arg-type]
    )


def test_429_and_5xx_are_retried_until_success() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"retry-after-ms": "5"}),
            httpx.Response(503),
            httpx.Response(502),
            httpx.Response(200, json={"id": "asst_1"}),
        ]
    )
    client = _client(lambda request: next(answers))
    assert client.get_json("assistants/asst_1") == {"id": "asst_1"}
    assert (client.stats.requests, client.stats.retries, client.stats.throttled) == (4, 3, 1)


def test_gives_up_after_max_retries_with_the_reason() -> None:
    client = _client(lambda request: httpx.Response(500), max_retries=2)
    with pytest.raises(SourceError, match=r"GET threads/t failed after 3 attempts \(HTTP 500\)"):
        client.get_json("threads/t")


def test_client_errors_are_not_retried_and_name_the_platform_message() -> None:
    body = {"error": {"message": "No thread found with id 't'.", "type": "invalid_request_error"}}
    client = _client(lambda request: httpx.Response(404, json=body))
    with pytest.raises(SourceError, match="HTTP 404: No thread found with id 't'"):
        client.get_json("threads/t")
    assert client.stats.requests == 1


def test_retry_after_forms() -> None:
    assert retry_after(httpx.Response(429, headers={"retry-after": "3"})) == 3.0
    assert retry_after(httpx.Response(429, headers={"retry-after-ms": "250"})) == 0.25
    dated = retry_after(
        httpx.Response(429, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    assert dated == 0.0  # a date in the past: go now
    assert retry_after(httpx.Response(429)) is None


def test_paginate_follows_after_cursors_in_ascending_order() -> None:
    seen: list[dict[str, str]] = []
    ids = [f"msg_{i}" for i in range(5)]

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        start = ids.index(params["after"]) + 1 if "after" in params else 0
        page = ids[start : start + 2]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": [{"id": i} for i in page],
                "first_id": page[0],
                "last_id": page[-1],
                "has_more": start + 2 < len(ids),
            },
        )

    client = _client(handler)
    assert [o["id"] for o in client.paginate("threads/t/messages", limit=2)] == ids
    assert all(p["order"] == "asc" for p in seen)
    assert [p.get("after") for p in seen] == [None, "msg_1", "msg_3"]


def test_rate_limiter_hands_out_evenly_spaced_slots() -> None:
    limiter = RateLimiter(1000.0)
    first = limiter._next
    for _ in range(10):
        limiter.wait()
    assert limiter._next == pytest.approx(first + 10 / 1000, abs=0.05)
    limiter.pause(5.0)
    assert limiter._next >= first + 5.0
