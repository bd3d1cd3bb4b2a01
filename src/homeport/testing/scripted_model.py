"""A scripted, deterministic model server with OpenAI's and Anthropic's wire formats.

It stands in for a paid model in tests, and is the "instant upstream" benchmarks measure
homeport's own overhead against. Routes:

- ``GET /v1/models`` (Anthropic's shape when the request has an ``anthropic-version`` header)
- ``POST /v1/chat/completions``: JSON, or SSE with ``stream: true`` (``data: [DONE]`` at the end,
  a usage chunk with ``stream_options.include_usage``, tool calls in OpenAI's delta format)
- ``POST /v1/messages``: Anthropic Messages API, JSON or SSE events, ``tool_use`` blocks
- ``POST /v1/embeddings``: deterministic bag-of-words vectors (shared words -> similar vectors),
  ``dimensions`` and ``encoding_format: base64`` honoured
- ``GET /health``; ``GET /_scripted/requests`` lists the request bodies received (newest last),
  ``DELETE /_scripted/requests`` clears that list

What the model answers is scripted by directives in the last user message:

- ``[[call NAME {json args}]]``: call tool NAME (several -> parallel calls; ``tool_choice`` and
  ``parallel_tool_calls`` are honoured; a forced tool without a directive gets arguments made
  from its parameters schema)
- ``[[search QUERY]]``: call the offered ``file_search`` tool with ``{"query": QUERY}`` (or
  ``{"queries": [QUERY]}`` when its schema asks for that)
- ``[[next]]``: starts the directives of the next tool round (call A, then after its result B)
- after tool results (``role: tool`` messages) it answers ``Tool results: name=output; ...``
- ``[[json]]``: a JSON instance valid for ``response_format``'s json_schema
- ``[[tokens N]]``: N filler words; every answer respects ``max_tokens`` (finish_reason length)
- ``[[think TEXT]]``: reasoning (``reasoning_content`` deltas; Anthropic thinking blocks)
- ``[[fail STATUS]]``: answer with that HTTP error; ``[[slow MS]]`` waits before answering;
  ``[[drip MS]]`` waits between streamed chunks; ``[[cut]]`` ends a stream mid-answer (no
  finish_reason, no ``[DONE]``), as a dropped upstream connection does
- otherwise ``Echo: <text without directives>``

``style`` (echo, paraphrase, shout) and ``persona`` (a ``[persona]`` prefix) make two instances
answer differently; ``latency_ms`` and ``failure_rate`` (seeded) add faults. Token counts are
whitespace-separated words, so usage is deterministic too.

Run it: ``python -m homeport.testing.scripted_model --port 8001 [--style paraphrase]``, or
in-process: ``with ScriptedModelServer(ScriptedModelOptions()) as model: model.base_url``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import random
import re
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
import typer
import uvicorn

from homeport.testing import anthropic_wire
from homeport.testing.background import BackgroundServer
from homeport.testing.script import STYLES, ChatRequest, Reply, Script, count_tokens

Scope = dict[str, Any]
Message = dict[str, Any]

_PIECES = re.compile(r"\s*\S+")
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class ScriptedModelOptions:
    style: str = "echo"
    persona: str | None = None
    latency_ms: float = 0.0
    failure_rate: float = 0.0
    seed: int = 0
    api_key: str | None = None  # when set, requests must carry it
    models: tuple[str, ...] = ("scripted",)
    embedding_dimensions: int = 64
    log_size: int = 1000


@dataclass
class _Response:
    status: int
    body: bytes = b""
    events: list[bytes] = field(default_factory=list)
    drip_ms: float = 0.0

    @property
    def streaming(self) -> bool:
        return bool(self.events)


def _json(status: int, value: Any) -> _Response:
    return _Response(status, orjson.dumps(value))


def _openai_error(status: int, message: str, type_: str = "invalid_request_error") -> _Response:
    body = {"error": {"message": message, "type": type_, "param": None, "code": None}}
    return _json(status, body)


def pieces(text: str) -> list[str]:
    """Text split the way it is streamed: one word (with its leading space) per chunk."""
    return _PIECES.findall(text)


def embed(text: str, dimensions: int) -> list[float]:
    """A unit vector from hashed lower-cased words: texts sharing words point alike."""
    vector = [0.0] * dimensions
    for word in _WORDS.findall(text.lower()) or [""]:
        digest = hashlib.sha256(word.encode()).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


class ScriptedModel:
    """The ASGI app. ``requests`` holds the bodies received, for tests to inspect."""

    def __init__(self, options: ScriptedModelOptions | None = None) -> None:
        self.options = options or ScriptedModelOptions()
        self.script = Script(self.options.style, self.options.persona)
        self.requests: deque[dict[str, Any]] = deque(maxlen=self.options.log_size)
        self._random = random.Random(self.options.seed)
        self._ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        response = await self.handle(scope["method"], scope["path"], headers, b"".join(chunks))
        await self._send(response, send)

    async def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> _Response:
        route = (method, path.removesuffix("/"))
        if route == ("GET", "/health"):
            return _json(200, {"status": "ok"})
        if route == ("GET", "/_scripted/requests"):
            return _json(200, list(self.requests))
        if route == ("DELETE", "/_scripted/requests"):
            self.requests.clear()
            return _json(200, {"deleted": True})
        anthropic = path.endswith("/messages")
        if self.options.api_key is not None and self.options.api_key not in (
            headers.get("x-api-key"),
            headers.get("authorization", "").removeprefix("Bearer "),
        ):
            if anthropic:
                return _json(401, anthropic_wire.error(401, "invalid x-api-key"))
            return _openai_error(401, "Incorrect API key provided.")
        if route == ("GET", "/v1/models"):
            return _json(200, self._models("anthropic-version" in headers))
        handlers = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/messages"): self._messages,
            ("POST", "/v1/embeddings"): self._embeddings,
        }
        handler = handlers.get(route)
        if handler is None:
            return _openai_error(404, f"Invalid URL ({method} {path})")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _openai_error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return _openai_error(400, "The request body must be a JSON object.")
        self.requests.append({"path": path, "body": body})
        if self.options.latency_ms:
            await asyncio.sleep(self.options.latency_ms / 1000)
        if self.options.failure_rate and self._random.random() < self.options.failure_rate:
            if anthropic:
                return _json(500, anthropic_wire.error(500, "Injected failure."))
            return _openai_error(500, "Injected failure.", "server_error")
        try:
            return await handler(body)
        except (KeyError, TypeError, ValueError) as exc:
            if anthropic:
                return _json(400, anthropic_wire.error(400, f"Invalid request: {exc}"))
            return _openai_error(400, f"Invalid request: {exc}")

    def _models(self, anthropic: bool) -> dict[str, Any]:
        if anthropic:
            listed = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in self.options.models
            ]
            return {
                "data": listed,
                "has_more": False,
                "first_id": listed[0]["id"],
                "last_id": listed[-1]["id"],
            }
        data: list[dict[str, Any]] = [
            {"id": m, "object": "model", "created": 0, "owned_by": "homeport-testing"}
            for m in self.options.models
        ]
        return {"object": "list", "data": data}

    async def _reply(self, request: ChatRequest) -> Reply:
        reply = self.script.reply(request)
        if reply.delay_ms:
            await asyncio.sleep(reply.delay_ms / 1000)
        return reply

    async def _chat(self, body: dict[str, Any]) -> _Response:
        if not isinstance(body.get("messages"), list):
            return _openai_error(400, "Missing required parameter: 'messages'.")
        request = ChatRequest(
            model=body.get("model", self.options.models[0]),
            messages=body["messages"],
            tools=body.get("tools") or [],
            tool_choice=body.get("tool_choice"),
            parallel_tool_calls=body.get("parallel_tool_calls", True) is not False,
            response_format=body.get("response_format"),
            max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        )
        reply = await self._reply(request)
        if reply.fail_status:
            return _openai_error(
                reply.fail_status, f"Scripted failure ({reply.fail_status}).", "server_error"
            )
        completion_id = f"chatcmpl-scripted{next(self._ids)}"
        created = int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _chat_chunks(reply, completion_id, created, request.model, include_usage)
            return _Response(200, events=events, drip_ms=reply.drip_ms)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text if reply.text or not reply.tool_calls else None,
            "refusal": None,
            "annotations": [],
        }
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in reply.tool_calls
            ]
        return _json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": request.model,
                "system_fingerprint": None,
                "service_tier": "default",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": _chat_usage(reply),
            },
        )

    async def _messages(self, body: dict[str, Any]) -> _Response:
        for key in ("model", "max_tokens", "messages"):
            if key not in body:
                return _json(400, anthropic_wire.error(400, f"{key}: Field required"))
        request = anthropic_wire.to_chat_request(body)
        reply = await self._reply(request)
        if reply.fail_status:
            message = f"Scripted failure ({reply.fail_status})."
            return _json(reply.fail_status, anthropic_wire.error(reply.fail_status, message))
        message_id = f"msg_scripted{next(self._ids)}"
        if not body.get("stream"):
            return _json(200, anthropic_wire.message(reply, message_id, request.model))
        events = [
            b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
            for name, data in anthropic_wire.stream_events(
                reply, message_id, request.model, pieces(reply.text)
            )
        ]
        return _Response(200, events=events, drip_ms=reply.drip_ms)

    async def _embeddings(self, body: dict[str, Any]) -> _Response:
        given = body.get("input")
        if given is None or given == [] or given == "":
            return _openai_error(400, "'input' must be a non-empty string or array.")
        inputs = [given] if isinstance(given, str) or _is_tokens(given) else list(given)
        texts = [" ".join(map(str, i)) if isinstance(i, list) else str(i) for i in inputs]
        dimensions = int(body.get("dimensions") or self.options.embedding_dimensions)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector: Any = embed(text, dimensions)
            if as_base64:
                vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(count_tokens(t) for t in texts)
        return _json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model", self.options.models[0]),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    async def _send(self, response: _Response, send: Any) -> None:
        kind = b"text/event-stream" if response.streaming else b"application/json"
        headers = [(b"content-type", kind)]
        if response.streaming:
            headers.append((b"cache-control", b"no-cache"))
        else:
            headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if not response.streaming:
            await send({"type": "http.response.body", "body": response.body})
            return
        if not response.drip_ms:
            await send({"type": "http.response.body", "body": b"".join(response.events)})
            return
        for event in response.events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
            await asyncio.sleep(response.drip_ms / 1000)
        await send({"type": "http.response.body", "body": b""})


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], int)


def _chat_usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": count_tokens(reply.reasoning),
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_chunks(
    reply: Reply, completion_id: str, created: int, model: str, include_usage: bool
) -> list[bytes]:
    """The SSE ``data:`` lines of a streamed chat completion, ``[DONE]`` last."""
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "service_tier": "default",
    }
    if include_usage:
        base["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    out += [chunk({"reasoning_content": piece}) for piece in pieces(reply.reasoning)]
    out += [chunk({"content": piece}) for piece in pieces(reply.text)]
    if reply.cut:
        return out
    for index, call in enumerate(reply.tool_calls):
        head = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        out.append(chunk({"tool_calls": [head]}))
        half = len(call.arguments) // 2
        for part in (call.arguments[:half], call.arguments[half:]):
            if part:
                out.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
                )
    out.append(chunk({}, reply.finish_reason))
    if include_usage:
        usage = {**base, "choices": [], "usage": _chat_usage(reply)}
        out.append(b"data: " + orjson.dumps(usage) + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out


class ScriptedModelServer(BackgroundServer):
    """The scripted model on a free port in a background thread (a context manager)."""

    def __init__(self, options: ScriptedModelOptions | None = None, *, port: int = 0) -> None:
        self.model = ScriptedModel(options)
        super().__init__(self.model, port=port)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``.../v1``); the Anthropic SDK wants ``url`` instead."""
        return self.url + "/v1"


def main(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    style: Annotated[str, typer.Option(help=f"Answer style: {', '.join(STYLES)}.")] = "echo",
    persona: Annotated[str | None, typer.Option(help="Prefix answers with [PERSONA].")] = None,
    latency_ms: Annotated[float, typer.Option(help="Added latency per request.")] = 0.0,
    failure_rate: Annotated[float, typer.Option(help="Share of requests failing with 500.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for injected failures.")] = 0,
    api_key: Annotated[str | None, typer.Option(help="Require this API key.")] = None,
    model: Annotated[list[str] | None, typer.Option(help="Model id to list (repeatable).")] = None,
) -> None:
    """Serve the scripted model until interrupted."""
    options = ScriptedModelOptions(
        style=style,
        persona=persona,
        latency_ms=latency_ms,
        failure_rate=failure_rate,
        seed=seed,
        api_key=api_key,
        models=tuple(model or ("scripted",)),
    )
    uvicorn.run(ScriptedModel(options), host=host, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    typer.run(main)
