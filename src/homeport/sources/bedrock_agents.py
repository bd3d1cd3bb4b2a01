"""``bedrock-agents``: AWS Bedrock Agents through boto3, read-only (the ``bedrock`` extra).

Agents with their versions, aliases, prompt override configuration and guardrail (in
``agents.extra``); action groups as function tools, one per function or OpenAPI operation, with
their JSON Schemas and executor (Lambda or return of control); knowledge bases as vector stores
with their data sources; AgentCore Memory events when ``memory_ids`` is set. Bedrock keeps no
readable conversation history; AgentCore Memory is where it lives, if anywhere.

Credentials and region come from the usual AWS chain (``profile`` and ``region`` options).
Retries and throttling use botocore's adaptive retry mode, capped at ``rate`` requests/s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from homeport.bundle import Record
from homeport.sources.base import ExportContext, Source, SourceOptions
from homeport.sources.errors import SourceError
from homeport.sources.http import RateLimiter

INSTALL = "pip install 'homeport[bedrock]'"
DRAFT = "DRAFT"
PHASES = ("knowledge_bases", "agents", "memories", "done")
_NAME = re.compile(r"[^a-zA-Z0-9_-]+")


class BedrockAgentsOptions(SourceOptions):
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    memory_ids: list[str] = []
    rate: float | None = 5.0


def _plain(value: Any) -> Any:
    """boto3 values as JSON: datetimes to ISO strings, ResponseMetadata dropped."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _stamp(value: Any) -> int | None:
    return int(value.timestamp()) if isinstance(value, datetime) else None


def function_schema(function: dict[str, Any]) -> dict[str, Any]:
    """A Bedrock function's ``parameters`` map as JSON Schema."""
    properties: dict[str, Any] = {}
    required = []
    for name, spec in (function.get("parameters") or {}).items():
        properties[name] = {"type": spec.get("type", "string")}
        if spec.get("description"):
            properties[name]["description"] = spec["description"]
        if spec.get("required"):
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _load_openapi(payload: str) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(payload)
        return loaded
    except json.JSONDecodeError:
        try:
            import yaml
        except ImportError as exc:
            raise SourceError(f"a YAML OpenAPI schema needs PyYAML: {INSTALL}") from exc
        document: dict[str, Any] = yaml.safe_load(payload)
        return document


def openapi_functions(document: dict[str, Any]) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
    """(name, description, JSON Schema of the arguments) per operation of an OpenAPI document."""
    for path, methods in (document.get("paths") or {}).items():
        for method, operation in methods.items():
            if not isinstance(operation, dict):
                continue
            name = operation.get("operationId") or _NAME.sub("_", f"{method}_{path}").strip("_")
            properties: dict[str, Any] = {}
            required: list[str] = []
            for parameter in operation.get("parameters") or []:
                properties[parameter["name"]] = parameter.get("schema") or {"type": "string"}
                if parameter.get("required"):
                    required.append(parameter["name"])
            body = (
                ((operation.get("requestBody") or {}).get("content") or {})
                .get("application/json", {})
                .get("schema", {})
            )
            properties.update(body.get("properties") or {})
            required.extend(body.get("required") or [])
            schema: dict[str, Any] = {"type": "object", "properties": properties}
            if required:
                schema["required"] = required
            description = operation.get("description") or operation.get("summary")
            yield name, description, schema


def _executor(group: dict[str, Any]) -> dict[str, Any]:
    executor = group.get("actionGroupExecutor") or {}
    if "lambda" in executor:
        return {"kind": "lambda", "arn": executor["lambda"]}
    if executor.get("customControl") == "RETURN_CONTROL":
        return {"kind": "return_control"}
    return {"kind": "platform"}


def action_group_tools(agent_id: str, group: dict[str, Any]) -> list[Record]:
    """The tools of one action group: one per function or OpenAPI operation."""
    signature = group.get("parentActionGroupSignature")
    base = {"agent_id": agent_id, "executor": _executor(group), "raw": group}
    if signature:
        kind = "code_interpreter" if signature == "AMAZON.CodeInterpreter" else "builtin"
        return [
            {
                **base,
                "id": f"{agent_id}/{signature}",
                "type": kind,
                "name": signature,
                "description": group.get("description"),
                "parameters": None,
                "extra": {"action_group": group.get("actionGroupName")},
            }
        ]
    functions: list[tuple[str, str | None, dict[str, Any]]] = []
    extra: dict[str, Any] = {"action_group": group.get("actionGroupName")}
    if group.get("functionSchema"):
        for function in group["functionSchema"].get("functions") or []:
            functions.append(
                (function["name"], function.get("description"), function_schema(function))
            )
    api = group.get("apiSchema") or {}
    if api.get("payload"):
        functions.extend(openapi_functions(_load_openapi(api["payload"])))
    elif api.get("s3"):
        extra["openapi_s3"] = api["s3"]
    return [
        {
            **base,
            "id": f"{agent_id}/{name}",
            "type": "function",
            "name": name,
            "description": description,
            "parameters": schema,
            "extra": extra,
        }
        for name, description, schema in functions
    ]


def openai_tool(tool: Record) -> dict[str, Any]:
    if tool["type"] == "function":
        function = {"name": tool["name"], "parameters": tool["parameters"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        return {"type": "function", "function": function}
    return {"type": tool["type"]}


class BedrockAgentsSource(Source):
    kind = "bedrock-agents"
    description = "AWS Bedrock Agents: agents, action groups, knowledge bases, AgentCore Memory."
    Options = BedrockAgentsOptions
    options: BedrockAgentsOptions

    def __init__(self, options: SourceOptions, *, session: Any = None) -> None:
        super().__init__(options)
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise SourceError(f"the bedrock-agents source needs boto3: {INSTALL}") from exc
        session = session or boto3.Session(
            profile_name=self.options.profile, region_name=self.options.region
        )
        config = Config(retries={"mode": "adaptive", "max_attempts": self.options.max_retries})
        self.agents = session.client(
            "bedrock-agent", endpoint_url=self.options.endpoint_url, config=config
        )
        self.memory = (
            session.client(
                "bedrock-agentcore", endpoint_url=self.options.endpoint_url, config=config
            )
            if self.options.memory_ids
            else None
        )
        self.limiter = RateLimiter(self.options.rate)

    def _call(self, client: Any, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        self.limiter.wait()
        try:
            response: dict[str, Any] = getattr(client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"bedrock {operation} failed: {exc}") from exc
        return response

    def _pages(
        self, client: Any, operation: str, key: str, **params: Any
    ) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._call(
                client, operation, **params, **({"nextToken": token} if token else {})
            )
            yield from page.get(key) or []
            token = page.get("nextToken")
            if not token:
                return

    def export(self, ctx: ExportContext) -> None:
        cursors = ctx.cursors
        phase = cursors.get("phase", PHASES[0])
        for name in PHASES[PHASES.index(phase) : -1]:
            getattr(self, f"_{name}")(ctx, int(cursors.get("done", 0)) if name == phase else 0)
            ctx.checkpoint({"phase": PHASES[PHASES.index(name) + 1]}, force=True)

    def _knowledge_bases(self, ctx: ExportContext, _: int) -> None:
        for summary in self._pages(self.agents, "list_knowledge_bases", "knowledgeBaseSummaries"):
            kb_id = summary["knowledgeBaseId"]
            kb = self._call(self.agents, "get_knowledge_base", knowledgeBaseId=kb_id)[
                "knowledgeBase"
            ]
            sources = [
                _plain(
                    self._call(
                        self.agents,
                        "get_data_source",
                        knowledgeBaseId=kb_id,
                        dataSourceId=ds["dataSourceId"],
                    )["dataSource"]
                )
                for ds in self._pages(
                    self.agents, "list_data_sources", "dataSourceSummaries", knowledgeBaseId=kb_id
                )
            ]
            ctx.write(
                "vector_stores",
                {
                    "id": kb_id,
                    "created_at": _stamp(kb.get("createdAt")),
                    "name": kb.get("name"),
                    "metadata": {},
                    "expires_after": None,
                    "status": kb.get("status"),
                    "extra": {
                        "description": kb.get("description"),
                        "configuration": _plain(kb.get("knowledgeBaseConfiguration")),
                        "storage": _plain(kb.get("storageConfiguration")),
                        "data_sources": sources,
                    },
                    "raw": _plain(kb),
                },
            )

    def _agents(self, ctx: ExportContext, done: int) -> None:
        for n, summary in enumerate(self._pages(self.agents, "list_agents", "agentSummaries")):
            if n < done:
                continue
            agent_id = summary["agentId"]
            agent = self._call(self.agents, "get_agent", agentId=agent_id)["agent"]
            tools: list[Record] = []
            for group in self._pages(
                self.agents,
                "list_agent_action_groups",
                "actionGroupSummaries",
                agentId=agent_id,
                agentVersion=DRAFT,
            ):
                detail = self._call(
                    self.agents,
                    "get_agent_action_group",
                    agentId=agent_id,
                    agentVersion=DRAFT,
                    actionGroupId=group["actionGroupId"],
                )["agentActionGroup"]
                tools.extend(action_group_tools(agent_id, _plain(detail)))
            kbs = [
                kb["knowledgeBaseId"]
                for kb in self._pages(
                    self.agents,
                    "list_agent_knowledge_bases",
                    "agentKnowledgeBaseSummaries",
                    agentId=agent_id,
                    agentVersion=DRAFT,
                )
            ]
            versions = list(
                self._pages(
                    self.agents, "list_agent_versions", "agentVersionSummaries", agentId=agent_id
                )
            )
            aliases = [
                _plain(
                    self._call(
                        self.agents,
                        "get_agent_alias",
                        agentId=agent_id,
                        agentAliasId=alias["agentAliasId"],
                    )["agentAlias"]
                )
                for alias in self._pages(
                    self.agents, "list_agent_aliases", "agentAliasSummaries", agentId=agent_id
                )
            ]
            openai_tools = [openai_tool(t) for t in tools]
            if kbs:
                openai_tools.append({"type": "file_search"})
                tools.append(
                    {
                        "id": f"{agent_id}/file_search",
                        "agent_id": agent_id,
                        "type": "file_search",
                        "name": "file_search",
                        "description": None,
                        "parameters": None,
                        "executor": {"kind": "platform"},
                        "extra": {"knowledge_bases": kbs},
                        "raw": {},
                    }
                )
            ctx.write(
                "agents",
                {
                    "id": agent_id,
                    "created_at": _stamp(agent.get("createdAt")),
                    "name": agent.get("agentName"),
                    "description": agent.get("description"),
                    "model": agent.get("foundationModel"),
                    "instructions": agent.get("instruction"),
                    "tools": openai_tools,
                    "tool_resources": {"file_search": {"vector_store_ids": kbs}} if kbs else {},
                    "metadata": {},
                    "temperature": None,
                    "top_p": None,
                    "response_format": None,
                    "reasoning_effort": None,
                    "extra": {
                        "versions": _plain(versions),
                        "aliases": aliases,
                        "prompt_override": _plain(agent.get("promptOverrideConfiguration")),
                        "guardrail": _plain(agent.get("guardrailConfiguration")),
                        "memory": _plain(agent.get("memoryConfiguration")),
                        "idle_session_ttl": agent.get("idleSessionTTLInSeconds"),
                        "role_arn": agent.get("agentResourceRoleArn"),
                    },
                    "raw": _plain(agent),
                },
            )
            for tool in tools:
                ctx.write("tools", tool)
            ctx.checkpoint({"phase": "agents", "done": n + 1})

    def _memories(self, ctx: ExportContext, _: int) -> None:
        for memory_id in self.options.memory_ids:
            for actor in self._pages(
                self.memory, "list_actors", "actorSummaries", memoryId=memory_id
            ):
                actor_id = actor["actorId"]
                for session in self._pages(
                    self.memory,
                    "list_sessions",
                    "sessionSummaries",
                    memoryId=memory_id,
                    actorId=actor_id,
                ):
                    session_id = session["sessionId"]
                    for event in self._pages(
                        self.memory,
                        "list_events",
                        "events",
                        memoryId=memory_id,
                        actorId=actor_id,
                        sessionId=session_id,
                        includePayloads=True,
                    ):
                        ctx.write(
                            "memories",
                            {
                                "id": event["eventId"],
                                "namespace": memory_id,
                                "actor_id": actor_id,
                                "session_id": session_id,
                                "created_at": _stamp(event.get("eventTimestamp")),
                                "content": _plain(event.get("payload")),
                                "raw": _plain(event),
                            },
                        )
