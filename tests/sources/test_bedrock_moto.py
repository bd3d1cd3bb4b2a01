"""bedrock-agents against moto (``mock_aws``) for the calls moto implements: agents
(create/list/get), knowledge bases (create/list/get) and AgentCore Memory events
(create/list). The calls moto does not implement (action groups, agent knowledge bases,
versions, aliases, data sources, memory actors and sessions) are answered by botocore's
``Stubber`` on the same service models, each checked against its published shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from homeport.bundle import open_bundle, verify_bundle
from homeport.sources.base import run_export
from homeport.sources.bedrock_agents import BedrockAgentsOptions, BedrockAgentsSource

REGION = "us-east-1"
MEMORY = "orders_memory-Z9y8X7w6V5"
ROLE = "arn:aws:iam::123456789012:role/agent"
TITAN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"
MOTO_CALLS = {
    "bedrock-agent": {"list_agents", "get_agent", "list_knowledge_bases", "get_knowledge_base"},
    "bedrock-agentcore": {"list_events"},
}


class _Split:
    """One service's client: the calls moto implements go to moto, the others to a client
    wrapped by a Stubber."""

    def __init__(self, moto: Any, stubbed: Any, calls: set[str]) -> None:
        self._moto = moto
        self._stubbed = stubbed
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._moto if name in self._calls else self._stubbed, name)


class _Session:
    def __init__(self, moto: boto3.Session, stubbed: dict[str, Any]) -> None:
        self.moto = moto
        self.stubbed = stubbed

    def client(self, name: str, **options: Any) -> _Split:
        return _Split(self.moto.client(name, **options), self.stubbed[name], MOTO_CALLS[name])


def _client(name: str) -> Any:
    return boto3.client(name, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def aws() -> Iterator[boto3.Session]:
    with mock_aws():
        yield boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


def _platform(aws: boto3.Session) -> dict[str, Any]:
    """Agents, a knowledge base and memory events created in moto as a team would."""
    agents = aws.client("bedrock-agent")
    made = [
        agents.create_agent(
            agentName=name,
            foundationModel="anthropic.claude-3-5-sonnet-20240620-v1:0",
            instruction=f"You are the {name} agent. Answer briefly and politely.",
            description=f"{name} desk",
            agentResourceRoleArn=ROLE,
            idleSessionTTLInSeconds=900,
        )["agent"]
        for name in ("orders", "returns")
    ]
    kb = agents.create_knowledge_base(
        name="manuals",
        roleArn=ROLE,
        knowledgeBaseConfiguration={
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": TITAN},
        },
        storageConfiguration={
            "type": "OPENSEARCH_SERVERLESS",
            "opensearchServerlessConfiguration": {
                "collectionArn": "arn:aws:aoss:us-east-1:123456789012:collection/manuals",
                "vectorIndexName": "manuals",
                "fieldMapping": {
                    "vectorField": "v",
                    "textField": "text",
                    "metadataField": "meta",
                },
            },
        },
    )["knowledgeBase"]
    memory = aws.client("bedrock-agentcore")
    events = [
        memory.create_event(
            memoryId=MEMORY,
            actorId="customer-7",
            sessionId="s-1",
            eventTimestamp=stamp,
            payload=[{"conversational": {"content": {"text": text}, "role": role}}],
        )["event"]
        for stamp, role, text in [
            (1_751_362_200, "USER", "Where is order LU-0042?"),
            (1_751_362_201, "ASSISTANT", "It left the warehouse this morning."),
        ]
    ]
    return {"agents": made, "kb": kb, "events": events}


def _stub_rest(agents: Stubber, memory: Stubber, made: dict[str, Any]) -> None:
    """What moto cannot answer: per agent no action group, one knowledge base, one version,
    no alias; the knowledge base's data source; the memory's one actor and session."""
    kb_id = made["kb"]["knowledgeBaseId"]
    agents.add_response(
        "list_data_sources",
        {
            "dataSourceSummaries": [
                {
                    "knowledgeBaseId": kb_id,
                    "dataSourceId": "DS00000001",
                    "name": "s3",
                    "status": "AVAILABLE",
                    "updatedAt": made["kb"]["updatedAt"],
                }
            ]
        },
        {"knowledgeBaseId": kb_id},
    )
    agents.add_response(
        "get_data_source",
        {
            "dataSource": {
                "knowledgeBaseId": kb_id,
                "dataSourceId": "DS00000001",
                "name": "s3",
                "status": "AVAILABLE",
                "createdAt": made["kb"]["createdAt"],
                "updatedAt": made["kb"]["updatedAt"],
                "dataSourceConfiguration": {
                    "type": "S3",
                    "s3Configuration": {"bucketArn": "arn:aws:s3:::manuals"},
                },
            }
        },
        {"knowledgeBaseId": kb_id, "dataSourceId": "DS00000001"},
    )
    for agent in made["agents"]:
        draft = {"agentId": agent["agentId"], "agentVersion": "DRAFT"}
        agents.add_response("list_agent_action_groups", {"actionGroupSummaries": []}, draft)
        agents.add_response(
            "list_agent_knowledge_bases",
            {
                "agentKnowledgeBaseSummaries": [
                    {
                        "knowledgeBaseId": kb_id,
                        "knowledgeBaseState": "ENABLED",
                        "updatedAt": agent["updatedAt"],
                    }
                ]
            },
            draft,
        )
        agents.add_response(
            "list_agent_versions",
            {
                "agentVersionSummaries": [
                    {
                        "agentName": agent["agentName"],
                        "agentStatus": "PREPARED",
                        "agentVersion": "1",
                        "createdAt": agent["createdAt"],
                        "updatedAt": agent["updatedAt"],
                    }
                ]
            },
            {"agentId": agent["agentId"]},
        )
        agents.add_response(
            "list_agent_aliases", {"agentAliasSummaries": []}, {"agentId": agent["agentId"]}
        )
    memory.add_response("list_actors", {"actorSummaries": [{"actorId": "customer-7"}]})
    memory.add_response(
        "list_sessions",
        {
            "sessionSummaries": [
                {
                    "sessionId": "s-1",
                    "actorId": "customer-7",
                    "createdAt": made["events"][0]["eventTimestamp"],
                }
            ]
        },
        {"memoryId": MEMORY, "actorId": "customer-7"},
    )


def test_export_from_moto(aws: boto3.Session, tmp_path: Path) -> None:
    made = _platform(aws)
    stubbed = {
        "bedrock-agent": _client("bedrock-agent"),
        "bedrock-agentcore": _client("bedrock-agentcore"),
    }
    with (
        Stubber(stubbed["bedrock-agent"]) as agents,
        Stubber(stubbed["bedrock-agentcore"]) as memory,
    ):
        _stub_rest(agents, memory, made)
        source = BedrockAgentsSource(
            BedrockAgentsOptions(rate=None, region=REGION, memory_ids=[MEMORY]),
            session=_Session(aws, stubbed),
        )
        run_export(source, tmp_path / "b")
        agents.assert_no_pending_responses()
        memory.assert_no_pending_responses()
    with open_bundle(tmp_path / "b") as reader:
        assert verify_bundle(reader).ok
        exported = {r["id"]: r for r in reader.records("agents")}
        stores = list(reader.records("vector_stores"))
        memories = list(reader.records("memories"))
    kb_id = made["kb"]["knowledgeBaseId"]
    for agent in made["agents"]:
        record = exported[agent["agentId"]]
        assert record["name"] == agent["agentName"]
        assert record["model"] == "anthropic.claude-3-5-sonnet-20240620-v1:0"
        assert record["instructions"] == agent["instruction"]
        assert record["created_at"] == int(agent["createdAt"].timestamp())
        assert record["tools"] == [{"type": "file_search"}]
        assert record["tool_resources"] == {"file_search": {"vector_store_ids": [kb_id]}}
        assert record["extra"]["idle_session_ttl"] == 900
        assert record["raw"]["agentArn"] == agent["agentArn"]
    assert [s["id"] for s in stores] == [kb_id]
    assert stores[0]["extra"]["storage"]["type"] == "OPENSEARCH_SERVERLESS"
    assert stores[0]["extra"]["data_sources"][0]["dataSourceId"] == "DS00000001"
    assert [m["id"] for m in memories] == [e["eventId"] for e in made["events"]]
    assert [m["created_at"] for m in memories] == [1_751_362_200, 1_751_362_201]
    assert memories[1]["content"] == [
        {
            "conversational": {
                "content": {"text": "It left the warehouse this morning."},
                "role": "ASSISTANT",
            }
        }
    ]
    assert {(m["namespace"], m["actor_id"], m["session_id"]) for m in memories} == {
        (MEMORY, "customer-7", "s-1")
    }
