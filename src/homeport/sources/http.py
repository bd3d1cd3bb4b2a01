"""The HTTP client every source shares: a request-rate limit, retries on 429 and 5xx that honour
``Retry-After`` (or back off exponentially with jitter), and cursor pagination.

Sources only read, so every request is safe to repeat.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from homeport.sources.errors import SourceError

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_THROTTLES = 1000
"""429s do not count against ``max_retries``: the platform said when to come back."""


class RateLimiter:
    """Spaces requests at most ``rate`` per second, evenly (no bursts), across threads."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)

    def pause(self, seconds: float) -> None:
        """Hold every request back (the server asked for it with Retry-After)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


@dataclass
class HttpStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, ``Retry-After`` seconds or date."""
    millis = response.headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


class HttpClient:
    """A read-only JSON client for one platform endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        rate: float | None = None,
        max_retries: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers or {},
            params=params or {},
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
        )
        self.limiter = RateLimiter(rate)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stats = HttpStats()
        self._lock = threading.Lock()

    def _count(self, field: str) -> None:
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + 1)

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        asked = retry_after(response) if response is not None else None
        if asked is not None:
            return min(asked, self.max_backoff)
        jitter = random.uniform(0.5, 1.0)
        return float(min(self.max_backoff, self.backoff * 2**attempt) * jitter)

    def request(
        self, path: str, params: dict[str, Any] | None = None, *, stream: bool = False
    ) -> httpx.Response:
        """GET ``path`` (relative to the base URL); retried until a final answer. Responses other
        than 2xx that are not worth retrying are returned for the caller to judge. With
        ``stream`` the body is not read yet: iterate it, then close the response."""
        attempt = throttles = 0
        while True:
            self.limiter.wait()
            self._count("requests")
            response: httpx.Response | None = None
            try:
                request = self.client.build_request("GET", path.lstrip("/"), params=params)
                response = self.client.send(request, stream=stream)
                if response.status_code not in RETRY_STATUSES:
                    return response
                failure = f"HTTP {response.status_code}"
                response.close()
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            throttled = response is not None and response.status_code == 429
            if (throttles if throttled else attempt) >= (
                MAX_THROTTLES if throttled else self.max_retries
            ):
                tries = attempt + throttles + 1
                raise SourceError(f"GET {path} failed after {tries} attempts ({failure})")
            delay = self._delay(attempt, response)
            self._count("retries")
            if throttled:
                self._count("throttled")
                self.limiter.pause(delay)
                throttles += 1
            else:
                time.sleep(delay)
                attempt += 1

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self.request(path, params)
        if response.status_code >= 400:
            raise SourceError(f"GET {path}: HTTP {response.status_code}: {_message(response)}")
        return response.json()

    def paginate(
        self,
        path: str,
        *,
        after: str | None = None,
        limit: int = 100,
        params: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every object of an OpenAI list endpoint, oldest first, from after ``after``."""
        while True:
            query = {"limit": limit, "order": "asc", **(params or {})}
            if after:
                query["after"] = after
            page = self.get_json(path, query)
            data = page.get("data", [])
            yield from data
            if not page.get("has_more") or not data:
                return
            after = page.get("last_id") or data[-1]["id"]

    def close(self) -> None:
        self.client.close()


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return response.text[:200]
