"""The two upstreams: one pooled HTTP client each, header hygiene, and whole-answer capture."""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx
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
    """One upstream and its connection pool."""

    def __init__(self, upstream: Upstream, config: SideConfig) -> None:
        self.upstream = upstream
        self.base = config.base_url.rstrip("/")
        key = config.resolved_api_key()
        self._auth: list[tuple[bytes, bytes]] = (
            [(b"authorization", f"Bearer {key}".encode())] if key else []
        )
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_seconds, connect=config.connect_timeout_seconds),
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_connections,
            ),
        )

    def url(self, path: str, query: str) -> str:
        """``/v1/x`` on the gateway is ``{base_url}/x`` upstream (base_url ends with /v1)."""
        tail = path[3:] if path.startswith("/v1") else path
        return f"{self.base}{tail}?{query}" if query else f"{self.base}{tail}"

    def headers(
        self, incoming: Iterable[tuple[bytes, bytes]], extra: Iterable[tuple[bytes, bytes]] = ()
    ) -> list[tuple[bytes, bytes]]:
        drop = _DROP_REQUEST | _CREDENTIALS if self._auth else _DROP_REQUEST
        out = [(k, v) for k, v in incoming if k.lower() not in drop]
        out.append((b"accept-encoding", b"identity"))
        out.extend(self._auth)
        out.extend(extra)
        return out

    async def fetch(self, request: CapturedRequest, extra: Headers = ()) -> CapturedResponse:
        """Send a request and read the whole answer (shadow copies and mirrored writes)."""
        started_at = time.time()
        t0 = time.perf_counter()
        ttft: float | None = None
        chunks: list[bytes] = []
        headers = self.headers(
            ((k.encode(), v.encode()) for k, v in request.headers),
            ((k.encode(), v.encode()) for k, v in extra),
        )
        try:
            async with self.client.stream(
                request.method,
                self.url(request.path, request.query),
                headers=headers,
                content=request.body,
            ) as response:
                async for chunk in response.aiter_raw():
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    chunks.append(chunk)
                status: int | None = response.status_code
                kept = response_headers(response.headers.raw)
                streamed = is_event_stream(response.headers.get("content-type", ""))
                error = None
        except httpx.HTTPError as exc:
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
        await self.client.aclose()


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
