"""Replaying the client's tool outputs into the candidate.

In shadow mode the client only ever sees the primary's function calls and answers them. The
candidate's own calls are never executed: when the candidate asked for the same calls (same
function, same arguments, compared as canonical JSON), the client's outputs are sent to it under
the candidate's call IDs. When the calls differ, the candidate's conversation has diverged and the
gateway stops mirroring it (the pair of that turn already shows the difference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from homeport.gateway.seams import CapturedResponse


@dataclass(frozen=True, slots=True)
class Call:
    id: str
    name: str
    arguments: str

    def signature(self) -> tuple[str, str]:
        try:
            canonical = orjson.dumps(orjson.loads(self.arguments), option=orjson.OPT_SORT_KEYS)
            return self.name, canonical.decode()
        except orjson.JSONDecodeError:
            return self.name, self.arguments


def _documents(answer: CapturedResponse) -> list[Any]:
    try:
        if answer.streamed:
            return [e.get("response", e) if isinstance(e, dict) else e for e in answer.events()]
        return [answer.json()]
    except orjson.JSONDecodeError:
        return []


def function_calls(answer: CapturedResponse) -> list[Call]:
    """The function calls an answer asks for: Responses ``function_call`` output items, or an
    Assistants run's ``required_action`` (JSON or SSE)."""
    calls: dict[str, Call] = {}
    for doc in _documents(answer):
        if not isinstance(doc, dict):
            continue
        for item in doc.get("output") or ():
            if isinstance(item, dict) and item.get("type") == "function_call":
                calls[item["call_id"]] = Call(item["call_id"], item["name"], item["arguments"])
        action = (doc.get("required_action") or {}).get("submit_tool_outputs") or {}
        for call in action.get("tool_calls") or ():
            calls[call["id"]] = _tool_call(call)
    return list(calls.values())


def _tool_call(call: dict[str, Any]) -> Call:
    """An Assistants function tool call (``required_action`` or a run step's)."""
    fn = call.get("function") or {}
    return Call(call["id"], fn.get("name", ""), fn.get("arguments", ""))


def step_function_calls(page: CapturedResponse, answered: set[str]) -> list[Call]:
    """The function calls of the run step that asked for ``answered``, from a page of
    ``GET /threads/{t}/runs/{r}/steps``: a run's record of its calls, still there once the run
    has moved on (its ``required_action`` is gone after the outputs are submitted)."""
    try:
        page_data = page.json()
    except orjson.JSONDecodeError:
        return []
    steps = page_data.get("data") if isinstance(page_data, dict) else None
    for step in steps if isinstance(steps, list) else ():
        details = step.get("step_details") if isinstance(step, dict) else None
        if not isinstance(details, dict) or details.get("type") != "tool_calls":
            continue
        calls = [
            _tool_call(c)
            for c in details.get("tool_calls") or ()
            if isinstance(c, dict) and c.get("type") == "function"
        ]
        if calls and answered <= {c.id for c in calls}:
            return calls
    return []


def match_calls(primary: list[Call], candidate: list[Call]) -> dict[str, str] | None:
    """Primary call ID -> candidate call ID when the candidate asked for the same calls."""
    if len(primary) != len(candidate):
        return None
    free = list(candidate)
    mapping: dict[str, str] = {}
    for call in primary:
        twin = next((c for c in free if c.signature() == call.signature()), None)
        if twin is None:
            return None
        free.remove(twin)
        mapping[call.id] = twin.id
    return mapping


def tool_output_ids(body: Any) -> list[str]:
    """Call IDs answered by a request body (Responses input items or ``tool_outputs``)."""
    if not isinstance(body, dict):
        return []
    found = [o.get("tool_call_id") for o in body.get("tool_outputs") or () if isinstance(o, dict)]
    items = body.get("input")
    if isinstance(items, list):
        found += [
            i.get("call_id")
            for i in items
            if isinstance(i, dict) and i.get("type") == "function_call_output"
        ]
    return [f for f in found if isinstance(f, str)]


def rewrite_tool_outputs(body: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """A copy of ``body`` answering the candidate's call IDs instead of the primary's."""
    out = dict(body)
    if isinstance(body.get("tool_outputs"), list):
        out["tool_outputs"] = [
            {**o, "tool_call_id": mapping.get(o.get("tool_call_id"), o.get("tool_call_id"))}
            for o in body["tool_outputs"]
        ]
    if isinstance(body.get("input"), list):
        out["input"] = [
            {**i, "call_id": mapping.get(i["call_id"], i["call_id"])}
            if isinstance(i, dict) and i.get("type") == "function_call_output"
            else i
            for i in body["input"]
        ]
    return out
