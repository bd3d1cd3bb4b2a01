"""From pydantic's validation errors to the one error OpenAI would report, with its ``param``.

pydantic reports every branch of a union it tried and puts branch labels (``str``,
``literal['auto']``, tag values) into ``loc``. OpenAI names the field the client sent. So the
error chosen is the one that got deepest into the request, preferring a broken rule over a
mere type mismatch of some other branch, and its ``param`` keeps only the ``loc`` parts that
are really in the request body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request

from homeport.errors import InvalidRequest

SOURCES = ("body", "query", "path", "header")
TYPE_MISMATCHES = ("literal_error", "none_required", "is_instance_of", "model_type")


def _path_in_body(loc: Sequence[Any], body: Any, missing: bool) -> list[str | int]:
    """The parts of ``loc`` that name something in ``body``; a missing field is kept last."""
    path: list[str | int] = []
    node = body
    for index, part in enumerate(loc):
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        elif not (missing and index == len(loc) - 1):
            continue  # a union branch label or a tag value (the last part may be left out)
        path.append(part)
    return path


def _format(path: Sequence[str | int]) -> str | None:
    if not path:
        return None
    out = str(path[0])
    for part in path[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _is_type_mismatch(error: dict[str, Any]) -> bool:
    kind = str(error.get("type", ""))
    return kind.endswith("_type") or kind in TYPE_MISMATCHES


def choose_error(errors: Sequence[Any], body: Any) -> tuple[dict[str, Any], str | None]:
    """The error to report and its ``param`` (``None`` when it concerns the whole body)."""
    candidates: list[tuple[int, bool, int, dict[str, Any], str | None]] = []
    for order, error in enumerate(errors):
        loc = list(error.get("loc", ()))
        source = loc.pop(0) if loc and loc[0] in SOURCES else "body"
        if error.get("type") == "json_invalid":
            return error, None
        if source == "body":
            path = _path_in_body(loc, body, error.get("type") == "missing")
        else:
            path = [p for p in loc if isinstance(p, str | int)]
        candidates.append((-len(path), _is_type_mismatch(error), order, error, _format(path)))
    if not candidates:
        return {"type": "invalid", "msg": "Invalid request."}, None
    _, _, _, error, param = min(candidates, key=lambda c: c[:3])
    return error, param


def _json_has_nul(body: bytes) -> bool:
    """Whether JSON text holds an escaped NUL (``\\u0000`` not itself behind a backslash)."""
    start = body.find(b"\\u0000")
    while start != -1:
        slashes = len(body[:start]) - len(body[:start].rstrip(b"\\"))
        if slashes % 2 == 0:
            return True
        start = body.find(b"\\u0000", start + 1)
    return False


async def reject_nul(request: Request) -> None:
    """A router dependency: refuse NUL characters anywhere in the request (PostgreSQL cannot
    store them in text or JSON, so they would otherwise fail deep in the store)."""
    target = request.scope.get("raw_path", b"") + b"?" + request.scope.get("query_string", b"")
    if b"%00" in target or _json_has_nul(await request.body()):
        raise InvalidRequest("Invalid request: strings may not contain NUL (\\u0000) characters.")
