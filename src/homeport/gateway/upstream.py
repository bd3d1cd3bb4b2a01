"""The two upstreams: one pooled HTTP client each, header hygiene, and whole-answer capture."""

from __future__ import annotations

import time
from collections.abc import Iterable

import aiohttp
import orjson

from homeport.gateway.config import SideConfig
from homeport.gateway.seams import CapturedRequest, CapturedResponse, Headers, Upstream

UPSTREAM_HEADER = "homeport-upstream"
CONVERSATION_KEY_HEADER = "homeport-conversation-key"

# Not forwarded: hop-by-hop headers, the ones the client library recomputes, and the gateway's
# own. ``accept-encoding`` is replaced by identity so the gateway can read every answer it
# forwards (pins, token counts, shadow pairs) without decompressing.
_DROP_REQUEST = frozenset(
    {
        b"host",
        b"connection",
        b"keep-alive",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"accept-encoding",
        CONVERSATION_KEY_HEADER.encode(),
    }
)
_DROP_RESPONSE = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "proxy-connection",
        "upgrade",
        "trailer",
        UPSTREAM_HEADER,
    }
)
_CREDENTIALS = frozenset({b"authorization", b"api-key", b"openai-organization", b"openai-project"})
_SAFE_TO_RECORD = frozenset({"content-type", "openai-beta", "accept", "user-agent"})


class Side:
    """One upstream and its connection pool (aiohttp: measured leaner than httpx here)."""

    def __init__(self, upstream: Upstream, config: SideConfig) -> None:
        self.upstream = upstream
        self.base = config.base_url.rstrip("/")
        key = config.resolved_api_key()
        self._auth: list[tuple[str, str]] = [("authorization", f"Bearer {key}")] if key else []
        self._config = config
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled client, made on first use (it needs the running loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._config.max_connections, keepalive_timeout=60
                ),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=self._config.connect_timeout_seconds,
                    sock_read=self._config.timeout_seconds,
                ),
                auto_decompress=False,
                skip_auto_headers=("user-agent", "content-type"),
            )
        return self._session

    def url(self, path: str, query: str) -> str:
        """``/v1/x`` on the gateway is ``{base_url}/x`` upstream (base_url ends with /v1)."""
        tail = path[3:] if path.startswith("/v1") else path
        return f"{self.base}{tail}?{query}" if query else f"{self.base}{tail}"

    def headers(
        self, incoming: Iterable[tuple[bytes, bytes]], extra: Iterable[tuple[str, str]] = ()
    ) -> list[tuple[str, str]]:
        drop = _DROP_REQUEST | _CREDENTIALS if self._auth else _DROP_REQUEST
        out = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in incoming if k.lower() not in drop
        ]
        out.append(("accept-encoding", "identity"))
        out.extend(self._auth)
        out.extend(extra)
        return out

    async def open(
        self, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes
    ) -> aiohttp.ClientResponse:
        """Send a request; the caller reads the answer's body, then ``release()``s it."""
        return await self.session.request(
            method, self.url(path, query), headers=headers, data=body or None
        )

    async def fetch(self, request: CapturedRequest, extra: Headers = ()) -> CapturedResponse:
        """Send a request and read the whole answer (shadow copies and mirrored writes)."""
        started_at = time.time()
        t0 = time.perf_counter()
        ttft: float | None = None
        chunks: list[bytes] = []
        headers = self.headers(((k.encode(), v.encode()) for k, v in request.headers), extra)
        try:
            response = await self.open(
                request.method, request.path, request.query, headers, request.body
            )
            try:
                async for chunk in response.content.iter_any():
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    chunks.append(chunk)
            finally:
                response.release()
            status: int | None = response.status
            kept = response_headers(response.raw_headers)
            streamed = is_event_stream(response.headers.get("content-type", ""))
            error = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, kept, streamed = None, (), False
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return CapturedResponse(
            upstream=self.upstream,
            status=status,
            headers=kept,
            body=b"".join(chunks),
            error=error,
            started_at=started_at,
            ttft_seconds=ttft if streamed else None,
            total_seconds=time.perf_counter() - t0,
            streamed=streamed,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def response_headers(raw: Iterable[tuple[bytes, bytes]]) -> Headers:
    return tuple(
        (k.decode("latin-1").lower(), v.decode("latin-1"))
        for k, v in raw
        if k.decode("latin-1").lower() not in _DROP_RESPONSE
    )


def recordable_headers(raw: Iterable[tuple[bytes, bytes]]) -> Headers:
    """Request headers worth keeping in a pair: no credentials, no transport details."""
    return tuple(
        (k.decode("latin-1").lower(), v.decode("latin-1"))
        for k, v in raw
        if k.decode("latin-1").lower() in _SAFE_TO_RECORD
    )


def is_event_stream(content_type: str) -> bool:
    return content_type.startswith("text/event-stream")


def usage(body: bytes, streamed: bool) -> tuple[int, int]:
    """(input, output) tokens reported in an answer; (0, 0) when it reports none."""
    try:
        if streamed:
            found: dict[str, object] | None = None
            for line in reversed(body.splitlines()):
                if line.startswith(b"data:") and b'"usage"' in line:
                    event = orjson.loads(line[5:])
                    found = event.get("usage") or (event.get("response") or {}).get("usage")
                    if found:
                        break
        else:
            data = orjson.loads(body)
            found = data.get("usage") if isinstance(data, dict) else None
    except (orjson.JSONDecodeError, AttributeError):
        return 0, 0
    if not isinstance(found, dict):
        return 0, 0
    given = found.get("input_tokens", found.get("prompt_tokens", 0))
    made = found.get("output_tokens", found.get("completion_tokens", 0))
    return (given if isinstance(given, int) else 0), (made if isinstance(made, int) else 0)
