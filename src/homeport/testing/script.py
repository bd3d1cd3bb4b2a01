"""The deterministic behaviour of the scripted model, apart from any wire format.

A request is OpenAI chat-completions shaped (messages, tools, tool_choice, ...); the reply is
decided by directives in the last user message (see ``homeport.testing.scripted_model`` for the
list). Same request in, same reply out: IDs are derived from the request, never random.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

FILLER = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
STYLES = ("echo", "paraphrase", "shout")
_DIRECTIVE = re.compile(r"\[\[\s*([a-z_]+)")


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI sends it


@dataclass
class Reply:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"  # stop | length | tool_calls
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fail_status: int | None = None
    delay_ms: float = 0.0
    drip_ms: float = 0.0
    cut: bool = False  # a streamed answer stops mid-way: no finish_reason, usage or [DONE]


@dataclass(frozen=True)
class Directive:
    name: str
    arg: str
    value: Any = None  # the parsed JSON argument of ``call``


@dataclass
class ChatRequest:
    """The parts of a chat request the script looks at (OpenAI chat-completions shapes)."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = None
    parallel_tool_calls: bool = True
    response_format: dict[str, Any] | None = None
    max_tokens: int | None = None


def count_tokens(text: str) -> int:
    """Whitespace-separated words: a deterministic stand-in for a tokenizer."""
    return len(text.split())


def content_text(content: Any) -> str:
    """Text of a message content: a string, or a list of parts with ``text`` fields."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return " ".join(parts)


def parse_directives(text: str) -> tuple[list[Directive], str]:
    """Split ``text`` into its ``[[name arg]]`` directives and the remaining plain text."""
    directives: list[Directive] = []
    plain: list[str] = []
    pos = 0
    decoder = json.JSONDecoder()
    while (match := _DIRECTIVE.search(text, pos)) is not None:
        plain.append(text[pos : match.start()])
        name, cursor = match.group(1), match.end()
        value: Any = None
        if name == "call":
            call = re.compile(r"\s+([A-Za-z0-9_.-]+)\s*").match(text, cursor)
            if call is None:
                raise ValueError("[[call NAME {json}]] needs a tool name")
            arg, cursor = call.group(1), call.end()
            value = {}
            if text.startswith("{", cursor):
                value, cursor = decoder.raw_decode(text, cursor)
        end = text.find("]]", cursor)
        if end < 0:
            raise ValueError(f"directive [[{name} is not closed with ]]")
        if name != "call":
            arg = text[cursor:end].strip()
        directives.append(Directive(name, arg, value))
        pos = end + 2
    plain.append(text[pos:])
    return directives, " ".join("".join(plain).split())


def example_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A small instance valid for ``schema`` (the subset structured outputs allow)."""
    root = root if root is not None else schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return example_instance(target, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return example_instance(schema[key][0], root)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example_instance(sub, root) for name, sub in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [example_instance(schema.get("items", {}), root) for _ in range(count)]
    return {"string": "text", "integer": 1, "number": 1.5, "boolean": True, "null": None}[kind]


def _call_id(request: ChatRequest, index: int, name: str) -> str:
    seed = json.dumps([len(request.messages), index, name, _last_user_text(request)])
    return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def _last_user_index(messages: list[dict[str, Any]]) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return -1


def _last_user_text(request: ChatRequest) -> str:
    index = _last_user_index(request.messages)
    return content_text(request.messages[index].get("content")) if index >= 0 else ""


def _tool_names(tools: list[dict[str, Any]]) -> list[str]:
    return [t["function"]["name"] for t in tools if t.get("type", "function") == "function"]


def _tool_parameters(tools: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for tool in tools:
        function = tool.get("function", {})
        if function.get("name") == name:
            params: dict[str, Any] = function.get("parameters") or {}
            return params
    return {}


class Script:
    """Decides replies. ``style`` and ``persona`` make two instances answer differently."""

    def __init__(self, style: str = "echo", persona: str | None = None) -> None:
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
        self.style = style
        self.persona = persona

    def reply(self, request: ChatRequest) -> Reply:
        reply = self._decide(request)
        reply.prompt_tokens = sum(_message_tokens(m) for m in request.messages)
        if not reply.tool_calls:
            words = reply.text.split()
            limit = request.max_tokens
            if limit is not None and len(words) > limit:
                reply.text = " ".join(words[:limit])
                reply.finish_reason = "length"
            reply.completion_tokens = count_tokens(reply.text) + count_tokens(reply.reasoning)
        else:
            reply.finish_reason = "tool_calls"
            reply.completion_tokens = sum(count_tokens(c.arguments) + 1 for c in reply.tool_calls)
        return reply

    def _decide(self, request: ChatRequest) -> Reply:
        messages = request.messages
        user_index = _last_user_index(messages)
        directives, plain = parse_directives(_last_user_text(request))
        reply = Reply()
        rounds: list[list[Directive]] = [[]]
        for directive in directives:
            if directive.name == "fail":
                reply.fail_status = int(directive.arg or 500)
            elif directive.name == "slow":
                reply.delay_ms = float(directive.arg)
            elif directive.name == "drip":
                reply.drip_ms = float(directive.arg)
            elif directive.name == "cut":
                reply.cut = True
            elif directive.name == "think":
                reply.reasoning = directive.arg
            elif directive.name == "next":
                rounds.append([])
            else:
                rounds[-1].append(directive)
        if reply.fail_status is not None:
            return reply
        later = messages[user_index + 1 :]
        tool_round = sum(1 for m in later if m.get("role") == "assistant" and m.get("tool_calls"))
        if tool_round < len(rounds):
            calls = self._tool_calls(request, rounds[tool_round], plain)
            if calls:
                reply.tool_calls = calls
                return reply
        if later and later[-1].get("role") == "tool":
            reply.text = self._decorate(_tool_results(messages[user_index + 1 :]))
            return reply
        current = rounds[min(tool_round, len(rounds) - 1)]
        names = {d.name for d in current}
        if "tokens" in names:
            count = int(next(d.arg for d in current if d.name == "tokens"))
            reply.text = " ".join(FILLER[i % len(FILLER)] for i in range(count))
        elif "json" in names:
            reply.text = json.dumps(self._json_answer(request, plain))
        else:
            reply.text = self._decorate(self._answer(plain))
        return reply

    def _tool_calls(
        self, request: ChatRequest, directives: list[Directive], plain: str
    ) -> list[ToolCall]:
        choice = request.tool_choice
        offered = _tool_names(request.tools)
        if choice == "none" or not offered:
            return []
        wanted: list[tuple[str, Any]] = []
        for directive in directives:
            if directive.name == "call":
                wanted.append((directive.arg, directive.value))
            elif directive.name == "search" and "file_search" in offered:
                params = _tool_parameters(request.tools, "file_search").get("properties", {})
                query = directive.arg or plain
                args = {"queries": [query]} if "queries" in params else {"query": query}
                wanted.append(("file_search", args))
        if isinstance(choice, dict):
            forced = str(choice.get("function", {}).get("name") or choice.get("name"))
            wanted = [w for w in wanted if w[0] == forced] or [(forced, None)]
        elif choice == "required" and not wanted:
            wanted = [(offered[0], None)]
        if not request.parallel_tool_calls:
            wanted = wanted[:1]
        calls = []
        for index, (name, args) in enumerate(wanted):
            if args is None:
                args = example_instance(_tool_parameters(request.tools, name))
            calls.append(ToolCall(_call_id(request, index, name), name, json.dumps(args)))
        return calls

    def _json_answer(self, request: ChatRequest, plain: str) -> Any:
        response_format = request.response_format or {}
        if response_format.get("type") == "json_schema":
            schema = response_format.get("json_schema", {}).get("schema") or {}
            return example_instance(schema)
        return {"answer": self._answer(plain)}

    def _answer(self, plain: str) -> str:
        if self.style == "paraphrase":
            return f"You said: {' '.join(reversed(plain.split()))}".strip()
        if self.style == "shout":
            return f"Echo: {plain.upper()}".strip()
        return f"Echo: {plain}".strip()

    def _decorate(self, text: str) -> str:
        return f"[{self.persona}] {text}" if self.persona else text


def _tool_results(messages: list[dict[str, Any]]) -> str:
    """``Tool results: name=output; ...`` for the tool messages of the latest round."""
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            names[call["id"]] = call["function"]["name"]
    latest: list[dict[str, Any]] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        latest.insert(0, message)
    parts = [
        f"{names.get(m.get('tool_call_id', ''), 'unknown')}={content_text(m.get('content'))}"
        for m in latest
    ]
    return "Tool results: " + "; ".join(parts)


def _message_tokens(message: dict[str, Any]) -> int:
    tokens = 3 + count_tokens(content_text(message.get("content")))
    for call in message.get("tool_calls") or []:
        tokens += 1 + count_tokens(call["function"].get("arguments", ""))
    return tokens
