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


_EXPECTED = {
    "string": "a string",
    "int": "an integer",
    "float": "a decimal",
    "decimal": "a decimal",
    "bool": "a boolean",
    "dict": "an object",
    "model": "an object",
    "model_attributes": "an object",
    "typed_dict": "an object",
    "list": "an array",
    "tuple": "an array",
}


def _kind_of(value: Any) -> str:
    """What OpenAI calls the JSON type of ``value`` in its error texts."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _quoted(values: Any) -> str:
    """``'a', 'b', and 'c'`` from pydantic's ``"'a', 'b' or 'c'"`` or a list of values."""
    if isinstance(values, str):
        items = [part.strip() for part in values.replace(" or ", ", ").split(",")]
    else:
        items = [repr(value) if isinstance(value, str) else str(value) for value in values]
    items = [item for item in items if item]
    return items[0] if len(items) < 2 else ", ".join(items[:-1]) + f", and {items[-1]}"


def _bound(kind: str, value: Any, ctx: dict[str, Any]) -> tuple[str, str]:
    """The text after ``Invalid 'x': `` and the code for a number out of range; pydantic
    gives a float field's limit as a float, which tells a decimal field from an integer one."""
    if kind in ("less_than_equal", "less_than"):
        op, limit = ("<=", ctx.get("le")) if kind == "less_than_equal" else ("<", ctx.get("lt"))
        where, end = "above maximum", "above_max_value"
    else:
        op, limit = (">=", ctx.get("ge")) if kind == "greater_than_equal" else (">", ctx.get("gt"))
        where, end = "below minimum", "below_min_value"
    number = "decimal" if isinstance(limit, float) else "integer"
    shown = f"{limit:g}" if isinstance(limit, float) else limit
    text = f"{number} {where} value. Expected a value {op} {shown}, but got {value} instead."
    return text, f"{number}_{end}"


def describe(error: dict[str, Any], param: str | None) -> tuple[str, str | None]:
    """OpenAI's wording and ``code`` for one pydantic error about ``param``."""
    kind = str(error.get("type", ""))
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    name = f"'{param}'" if param else "the request body"
    if kind == "json_invalid":
        return "We could not parse the JSON body of your request.", None
    if kind == "missing":
        return f"Missing required parameter: {name}.", "missing_required_parameter"
    if kind == "extra_forbidden":
        return f"Unknown parameter: {name}.", "unknown_parameter"
    base = (
        "int" if kind == "int_from_float" else kind.removesuffix("_type").removesuffix("_parsing")
    )
    if base != kind and base in _EXPECTED:
        got = _kind_of(value)
        return f"Invalid type for {name}: expected {_EXPECTED[base]}, but got {got} instead.", (
            "invalid_type"
        )
    if kind in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        text, code = _bound(kind, value, ctx)
        return f"Invalid {name}: {text}", code
    if kind in ("string_too_long", "string_too_short") and isinstance(value, str):
        if kind == "string_too_short" and not value:
            return (
                f"Invalid {name}: empty string. Expected a string with minimum length "
                f"{ctx.get('min_length')}, but got an empty string instead.",
                "empty_string",
            )
        limit, word, code = (
            (ctx.get("max_length"), "too long", "string_above_max_length")
            if kind == "string_too_long"
            else (ctx.get("min_length"), "too short", "string_below_min_length")
        )
        bound = "maximum" if kind == "string_too_long" else "minimum"
        return (
            f"Invalid {name}: string {word}. Expected a string with {bound} length {limit}, "
            f"but got a string with length {len(value)} instead.",
            code,
        )
    if kind in ("too_long", "too_short") and isinstance(value, list | dict):
        shape = "array" if isinstance(value, list) else "object"
        long = kind == "too_long"
        limit = ctx.get("max_length") if long else ctx.get("min_length")
        return (
            f"Invalid {name}: {shape} too {'long' if long else 'short'}. Expected an {shape} "
            f"with {'maximum' if long else 'minimum'} length {limit}, but got an {shape} with "
            f"length {len(value)} instead.",
            f"{shape}_{'above_max' if long else 'below_min'}_length",
        )
    if kind in ("literal_error", "enum"):
        return (
            f"Invalid value: {value!r}. Supported values are: {_quoted(ctx.get('expected', ''))}.",
            "invalid_value",
        )
    if kind == "union_tag_invalid":
        tag = ctx.get("tag")
        return (
            f"Invalid value: {tag!r}. Supported values are: "
            f"{_quoted(ctx.get('expected_tags', ''))}.",
            "invalid_value",
        )
    message = str(error.get("msg", "Invalid request.")).removeprefix("Value error, ")
    return (f"Invalid value for {name}: {message}" if param else message), None


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
