"""Replay an exchange against any OpenAI-compatible endpoint and capture its answer.

Two protocols: ``responses`` (homeport and OpenAI's Responses API: the agent's instructions, tools
and output format are sent inline with the recorded history as input items) and ``chat`` (any
Chat Completions server, e.g. a bare model). Both stream, so time to first token is measured;
latency is the whole call. Failures become an ``Answer`` with ``error`` set, never an exception:
an erroring candidate is a finding, not a crash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from homeport.compare.answers import Answer, ToolCall
from homeport.compare.protocols import Protocol_
from homeport.compare.transcripts import AgentSpec, Exchange, Record


class Target(Protocol):
    name: str

    def answer(self, agent: AgentSpec, exchange: Exchange) -> Answer: ...


def responses_tools(agent: AgentSpec) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for tool in agent.tools:
        kind = tool.get("type")
        if kind == "function":
            function = tool.get("function", tool)
            tools.append(
                {
                    "type": "function",
                    "name": function["name"],
                    "description": function.get("description"),
                    "parameters": function.get("parameters") or {"type": "object"},
                    "strict": bool(function.get("strict")),
                }
            )
        elif kind == "file_search":
            stores = (agent.tool_resources.get("file_search") or {}).get("vector_store_ids", [])
            if stores:
                tools.append({"type": "file_search", "vector_store_ids": stores})
        elif kind == "code_interpreter":
            tools.append({"type": "code_interpreter", "container": {"type": "auto"}})
    return tools


def responses_format(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_object":
        return {"type": "json_object"}
    if response_format.get("type") == "json_schema":
        inner = response_format.get("json_schema", response_format)
        return {
            "type": "json_schema",
            "name": inner.get("name", "output"),
            "schema": inner.get("schema", {}),
            "strict": bool(inner.get("strict")),
        }
    return None


def responses_input(items: tuple[Record, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if item["type"] == "message":
            out.append({"role": item["role"], "content": item["text"]})
        else:
            out.append(dict(item))
    return out


def chat_messages(agent: AgentSpec, items: tuple[Record, ...]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if agent.instructions:
        messages.append({"role": "system", "content": agent.instructions})
    for item in items:
        if item["type"] == "message":
            messages.append({"role": item["role"], "content": item["text"]})
        elif item["type"] == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif item["type"] == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": item["call_id"], "content": str(item["output"])}
            )
    return messages


def _error(exc: Exception) -> str:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return f"http {exc.status_code}"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    return type(exc).__name__


@dataclass
class OpenAITarget:
    """An OpenAI-compatible deployment (homeport, the managed platform, a model server)."""

    name: str
    base_url: str
    api_key: str
    protocol: Protocol_ = "responses"
    model: str | None = None
    timeout_seconds: float = 120.0
    max_output_tokens: int | None = None  # a cap on each answer (None: the target's own limit)

    def __post_init__(self) -> None:
        import openai  # here, not at the top: the CLI starts without the SDK loaded

        self.client = openai.OpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            timeout=self.timeout_seconds,
            max_retries=0,
        )

    def answer(self, agent: AgentSpec, exchange: Exchange) -> Answer:
        import openai

        started = time.perf_counter()
        try:
            if self.protocol == "chat":
                return self._chat(agent, exchange, started)
            return self._responses(agent, exchange, started)
        except (openai.OpenAIError, ValueError) as exc:
            return Answer(error=_error(exc), latency_s=time.perf_counter() - started)

    def _responses(self, agent: AgentSpec, exchange: Exchange, started: float) -> Answer:
        params: dict[str, Any] = {
            "model": self.model or agent.model,
            "input": responses_input(exchange.history + exchange.inputs),
            "store": False,
            "stream": True,
        }
        if agent.instructions:
            params["instructions"] = agent.instructions
        if self.max_output_tokens is not None:
            params["max_output_tokens"] = self.max_output_tokens
        if tools := responses_tools(agent):
            params["tools"] = tools
        if text_format := responses_format(agent.response_format):
            params["text"] = {"format": text_format}
        for key in ("temperature", "top_p"):
            if getattr(agent, key) is not None:
                params[key] = getattr(agent, key)
        ttft = None
        final: Any = None
        for event in self.client.responses.create(**params):
            if ttft is None and event.type in (
                "response.output_text.delta",
                "response.output_item.added",
            ):
                ttft = time.perf_counter() - started
            if event.type in ("response.completed", "response.incomplete", "response.failed"):
                final = event.response
        latency = time.perf_counter() - started
        if final is None:
            return Answer(error="stream ended without a response", latency_s=latency)
        if final.status == "failed":
            code = final.error.code if final.error else "failed"
            return Answer(error=str(code), latency_s=latency, ttft_s=ttft)
        texts, calls, refusal = [], [], None
        for item in final.output:
            if item.type == "message":
                for part in item.content:
                    if part.type == "output_text":
                        texts.append(part.text)
                    elif part.type == "refusal":
                        refusal = part.refusal
            elif item.type == "function_call":
                calls.append(ToolCall(item.name, item.arguments))
        usage = final.usage
        return Answer(
            text="".join(texts),
            tool_calls=tuple(calls),
            refusal=refusal,
            latency_s=latency,
            ttft_s=ttft,
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
        )

    def _chat(self, agent: AgentSpec, exchange: Exchange, started: float) -> Answer:
        params: dict[str, Any] = {
            "model": self.model or agent.model,
            "messages": chat_messages(agent, exchange.history + exchange.inputs),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.max_output_tokens is not None:
            params["max_completion_tokens"] = self.max_output_tokens
        functions = [t for t in responses_tools(agent) if t["type"] == "function"]
        if functions:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        k: v for k, v in t.items() if k in ("name", "description", "parameters")
                    },
                }
                for t in functions
            ]
        if isinstance(agent.response_format, dict) and agent.response_format.get("type") in (
            "json_object",
            "json_schema",
        ):
            params["response_format"] = agent.response_format
        for key in ("temperature", "top_p"):
            if getattr(agent, key) is not None:
                params[key] = getattr(agent, key)
        ttft = None
        text: list[str] = []
        refusal: list[str] = []
        calls: dict[int, list[str]] = {}
        usage: Any = None
        for chunk in self.client.chat.completions.create(**params):
            usage = chunk.usage or usage
            for choice in chunk.choices:
                delta = choice.delta
                if ttft is None and (delta.content or delta.tool_calls):
                    ttft = time.perf_counter() - started
                text.append(delta.content or "")
                refusal.append(delta.refusal or "")
                for call in delta.tool_calls or ():
                    name_args = calls.setdefault(call.index, ["", ""])
                    if call.function is not None:
                        name_args[0] += call.function.name or ""
                        name_args[1] += call.function.arguments or ""
        return Answer(
            text="".join(text),
            tool_calls=tuple(ToolCall(n, a or "{}") for _, (n, a) in sorted(calls.items())),
            refusal="".join(refusal) or None,
            latency_s=time.perf_counter() - started,
            ttft_s=ttft,
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
        )
