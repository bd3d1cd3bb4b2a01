"""The two upstreams: one pooled HTTP client each, header hygiene, and whole-answer capture."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from urllib.parse import quote, urlsplit

import orjson

from homeport.gateway.config import SideConfig
from homeport.gateway.seams import CapturedRequest, CapturedResponse, Headers, Upstream
from homeport.httpclient import Pool, Response, UpstreamError
from homeport.tls import Reload

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
# Sent as they are; other paths are percent-encoded again (the server decodes the path).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=\-._~%]*")


class Side:
    """One upstream and its keep-alive connection pool (``httpclient.Pool``)."""

    def __init__(
        self,
        upstream: Upstream,
        config: SideConfig,
        on_tls_reload: Callable[[Reload], None] | None = None,
    ) -> None:
        """``on_tls_reload`` hears of renewed TLS files taken or refused (``homeport.tls``)."""
        self.upstream = upstream
        self.base = config.base_url.rstrip("/")
        self._prefix = urlsplit(self.base).path
        key = config.resolved_api_key()
        self._auth = b"authorization: Bearer %s\r\n" % key.encode("latin-1") if key else b""
        self._drop = _DROP_REQUEST | _CREDENTIALS if key else _DROP_REQUEST
        self._pool = Pool(
            self.base,
            max_connections=config.max_connections,
            connect_timeout=config.connect_timeout_seconds,
            read_timeout=config.timeout_seconds,
            tls=config.tls(on_tls_reload),
        )

    def target(self, path: str, query: str) -> str:
        """The request target upstream: ``/v1/x`` is ``{base_url's path}/x``."""
        tail = path[3:] if path.startswith("/v1") else path
        tail = tail if _PLAIN_PATH.fullmatch(tail) else quote(tail, safe=_PATH_SAFE)
        return f"{self._prefix}{tail}?{query}" if query else f"{self._prefix}{tail}"

    def headers(
        self, incoming: Iterable[tuple[bytes, bytes]], extra: Iterable[tuple[str, str]] = ()
    ) -> bytes:
        """The header lines sent upstream: the client's (without hop-by-hop and the gateway's
        own), identity encoding, this side's key when it has one, then ``extra``."""
        drop = self._drop
        lines: list[bytes] = []
        accept = False
        for key, value in incoming:
            name = key.lower()
            if name in drop:
                continue
            accept = accept or name == b"accept"
            lines += (key, b": ", value, b"\r\n")
        if not accept:
            lines.append(b"accept: */*\r\n")
        lines.append(b"accept-encoding: identity\r\n")
        lines.append(self._auth)
        for key_, value_ in extra:
            lines.append(f"{key_}: {value_}\r\n".encode("latin-1"))
        return b"".join(lines)

    async def open(
        self, method: str, path: str, query: str, headers: bytes, body: bytes
    ) -> Response:
        """Send a request; the caller reads the answer's body, then ``release()``s it."""
        return await self._pool.request(method, self.target(path, query), headers, body)

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
                async for chunk in response:
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    chunks.append(chunk)
            finally:
                response.release()
            status: int | None = response.status
            kept = response_headers(response.headers)
            streamed = is_event_stream(response.header(b"content-type") or b"")
            error = None
        except UpstreamError as exc:
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
        await self._pool.close()


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


def credential_headers(raw: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The client's credential headers (never recorded; see ``recordable_headers``)."""
    return tuple(
        (k.decode("latin-1").lower(), v.decode("latin-1"))
        for k, v in raw
        if k.lower() in _CREDENTIALS
    )


def is_event_stream(content_type: bytes) -> bool:
    return content_type.startswith(b"text/event-stream")


def usage(body: bytes, streamed: bool) -> tuple[int, int]:
    """(input, output) tokens reported in an answer; (0, 0) when it reports none."""
    try:
        if streamed:
            found = _last_stream_usage(body)
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


def _last_stream_usage(body: bytes) -> object:
    """The last event's ``usage`` that is not null. Found by searching backwards for the word,
    not by splitting the stream into lines: on a long stream that was most of the cost."""
    end = len(body)
    while (at := body.rfind(b'"usage"', 0, end)) >= 0:
        start = body.rfind(b"\n", 0, at) + 1
        stop = body.find(b"\n", at)
        line = body[start : stop if stop >= 0 else len(body)].strip()
        if line.startswith(b"data:"):
            event = orjson.loads(line[5:])
            found = event.get("usage") or (event.get("response") or {}).get("usage")
            if found:
                return found
        end = start
    return None
