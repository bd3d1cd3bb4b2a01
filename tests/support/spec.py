"""Validate homeport's JSON against OpenAI's published API contract (spec/openai-openapi.yaml).

    from tests.support.spec import validate, validate_response
    validate("AssistantObject", assistant.model_dump(mode="json"))
    validate_response("/assistants/{assistant_id}", "get", 200, response.json())
    validate_response("/assistants/asst_abc", "get", 200, body)  # concrete paths match too

The spec marks nullable fields the OpenAPI 3.0 way (``nullable: true`` beside ``type``); they are
translated to JSON Schema type unions. Its duplicate ``?beta=true`` paths are skipped. The
schemas are parsed once per test session.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "openai-openapi.yaml"
SPEC_URI = "urn:openai-openapi"


def _nullable(node: Any) -> Any:
    """Translate ``nullable: true`` (3.0) into JSON Schema 2020-12, recursively."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items()}
    if out.pop("nullable", False) is not True:
        return out
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    if isinstance(kind, list):
        out["type"] = [*kind, "null"] if "null" not in kind else kind
        return out
    return {"anyOf": [out, {"type": "null"}]}


@functools.cache
def spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as handle:
        document: dict[str, Any] = _nullable(yaml.load(handle, Loader=loader))
    return document


@functools.cache
def _registry() -> Registry[Any]:
    resource = Resource.from_contents(spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


@functools.cache
def _validator(pointer: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"{SPEC_URI}#{pointer}"}
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def _check(pointer: str, instance: Any, what: str) -> None:
    errors = sorted(_validator(pointer).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in best.absolute_path) or "(root)"
        raise AssertionError(
            f"{what} does not match OpenAI's contract at {where}: {best.message}"
            f" ({len(errors)} error(s))"
        )


def validate(component: str, instance: Any) -> None:
    """Assert ``instance`` is valid for ``#/components/schemas/<component>``."""
    if component not in spec()["components"]["schemas"]:
        raise KeyError(f"no schema named {component!r} in the OpenAI spec")
    _check(f"/components/schemas/{component}", instance, component)


@functools.cache
def _path_patterns() -> list[tuple[re.Pattern[str], str]]:
    patterns = []
    for template in spec()["paths"]:
        if "?" in template:
            continue  # the duplicate ``?beta=true`` paths
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        patterns.append((re.compile(f"^{regex}$"), template))
    # Literal segments first: /threads/runs must not match /threads/{thread_id}.
    patterns.sort(key=lambda item: item[1].count("{"))
    return patterns


def spec_path(path: str) -> str:
    """The spec's path template for a concrete (or template) path, ``/v1`` prefix optional."""
    path = path.split("?", 1)[0].removeprefix("/v1")
    for pattern, template in _path_patterns():
        if pattern.match(path) or template == path:
            return template
    raise KeyError(f"no path in the OpenAI spec matches {path!r}")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def validate_response(path: str, method: str, status: int, body: Any) -> None:
    """Assert ``body`` is the JSON the spec documents for this operation and status."""
    template = spec_path(path)
    operation = spec()["paths"][template].get(method.lower())
    if operation is None:
        raise KeyError(f"the OpenAI spec has no {method.upper()} {template}")
    responses = operation["responses"]
    key = str(status) if str(status) in responses else "default"
    if key not in responses:
        raise AssertionError(f"{method.upper()} {template} documents no {status} response")
    content = responses[key].get("content", {})
    if "application/json" not in content:
        raise AssertionError(f"{method.upper()} {template} {key} has no JSON body in the spec")
    pointer = "/".join(
        ["", "paths", _escape(template), method.lower(), "responses", key, "content",
         "application~1json", "schema"]
    )  # fmt: skip
    _check(pointer, body, f"{method.upper()} {template} {status}")
