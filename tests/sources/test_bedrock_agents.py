"""bedrock-agents on botocore's own service models: every call and response is checked against
the published API shapes by ``Stubber``. Action groups, aliases and data sources are here only:
moto does not implement them (test_bedrock_moto.py runs what it does implement)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from homeport.bundle import BundleWriter, open_bundle
from homeport.sources.base import ExportContext
from homeport.sources.bedrock_agents import BedrockAgentsOptions, BedrockAgentsSource

WHEN = datetime(2025, 6, 1, tzinfo=UTC)
AGENT = "AGENT12345"
KB = "KB12345678"
ROLE = "arn:aws:iam::123456789012:role/agent"
TITAN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:orders"
OPENAPI = {
    "openapi": "3.0.0",
    "info": {"title": "Returns", "version": "1"},
    "paths": {
        "/returns/{orderId}": {
            "post": {
                "operationId": "startReturn",
                "description": "Start a return.",
                "parameters": [
                    {
                        "name": "orderId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"reason": {"type": "string"}},
                                "required": ["reason"],
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


class _Session:
    """Hands the source clients already wrapped by a Stubber."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def client(self, name: str, **_: Any) -> Any:
        return self.clients[name]


def _stub_agents(stub: Stubber) -> None:
    stub.add_response(
        "list_knowledge_bases",
        {
            "knowledgeBaseSummaries": [
                {"knowledgeBaseId": KB, "name": "manuals", "status": "ACTIVE", "updatedAt": WHEN}
            ]
        },
    )
    stub.add_response(
        "get_knowledge_base",
        {
            "knowledgeBase": {
                "knowledgeBaseId": KB,
                "name": "manuals",
                "knowledgeBaseArn": f"arn:kb/{KB}",
                "roleArn": ROLE,
                "status": "ACTIVE",
                "createdAt": WHEN,
                "updatedAt": WHEN,
                "knowledgeBaseConfiguration": {
                    "type": "VECTOR",
                    "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": TITAN},
                },
                "storageConfiguration": {"type": "OPENSEARCH_SERVERLESS"},
            }
        },
        {"knowledgeBaseId": KB},
    )
    stub.add_response(
        "list_data_sources",
        {
            "dataSourceSummaries": [
                {
                    "knowledgeBaseId": KB,
                    "dataSourceId": "DS12345678",
                    "name": "s3",
                    "status": "AVAILABLE",
                    "updatedAt": WHEN,
                }
            ]
        },
        {"knowledgeBaseId": KB},
    )
    stub.add_response(
        "get_data_source",
        {
            "dataSource": {
                "knowledgeBaseId": KB,
                "dataSourceId": "DS12345678",
                "name": "s3",
                "status": "AVAILABLE",
                "createdAt": WHEN,
                "updatedAt": WHEN,
                "dataSourceConfiguration": {
                    "type": "S3",
                    "s3Configuration": {"bucketArn": "arn:aws:s3:::manuals"},
                },
            }
        },
        {"knowledgeBaseId": KB, "dataSourceId": "DS12345678"},
    )
    stub.add_response(
        "list_agents",
        {
            "agentSummaries": [
                {
                    "agentId": AGENT,
                    "agentName": "orders",
                    "agentStatus": "PREPARED",
                    "updatedAt": WHEN,
                }
            ],
            "nextToken": "page2",
        },
    )
    stub.add_response(
        "get_agent",
        {
            "agent": {
                "agentId": AGENT,
                "agentName": "orders",
                "agentArn": f"arn:agent/{AGENT}",
                "agentVersion": "DRAFT",
                "agentStatus": "PREPARED",
                "idleSessionTTLInSeconds": 600,
                "agentResourceRoleArn": ROLE,
                "createdAt": WHEN,
                "updatedAt": WHEN,
                "foundationModel": "anthropic.claude-3-5-sonnet",
                "instruction": "Help customers with their orders, politely and briefly.",
                "guardrailConfiguration": {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"},
                "promptOverrideConfiguration": {
                    "promptConfigurations": [
                        {
                            "promptType": "ORCHESTRATION",
                            "promptCreationMode": "OVERRIDDEN",
                            "basePromptTemplate": "You are {{agent}}",
                        }
                    ]
                },
            }
        },
        {"agentId": AGENT},
    )
    stub.add_response(
        "list_agent_action_groups",
        {
            "actionGroupSummaries": [
                {
                    "actionGroupId": "AG00000001",
                    "actionGroupName": "orders",
                    "actionGroupState": "ENABLED",
                    "updatedAt": WHEN,
                },
                {
                    "actionGroupId": "AG00000002",
                    "actionGroupName": "returns",
                    "actionGroupState": "ENABLED",
                    "updatedAt": WHEN,
                },
            ]
        },
        {"agentId": AGENT, "agentVersion": "DRAFT"},
    )
    stub.add_response(
        "get_agent_action_group",
        {
            "agentActionGroup": {
                "agentId": AGENT,
                "agentVersion": "DRAFT",
                "actionGroupId": "AG00000001",
                "actionGroupName": "orders",
                "actionGroupState": "ENABLED",
                "createdAt": WHEN,
                "updatedAt": WHEN,
                "actionGroupExecutor": {"lambda": LAMBDA},
                "functionSchema": {
                    "functions": [
                        {
                            "name": "get_order_status",
                            "description": "Look an order up.",
                            "parameters": {
                                "order_id": {
                                    "type": "string",
                                    "description": "The order.",
                                    "required": True,
                                }
                            },
                        }
                    ]
                },
            }
        },
        {"agentId": AGENT, "agentVersion": "DRAFT", "actionGroupId": "AG00000001"},
    )
    stub.add_response(
        "get_agent_action_group",
        {
            "agentActionGroup": {
                "agentId": AGENT,
                "agentVersion": "DRAFT",
                "actionGroupId": "AG00000002",
                "actionGroupName": "returns",
                "actionGroupState": "ENABLED",
                "createdAt": WHEN,
                "updatedAt": WHEN,
                "actionGroupExecutor": {"customControl": "RETURN_CONTROL"},
                "apiSchema": {"payload": json.dumps(OPENAPI)},
            }
        },
        {"agentId": AGENT, "agentVersion": "DRAFT", "actionGroupId": "AG00000002"},
    )
    stub.add_response(
        "list_agent_knowledge_bases",
        {
            "agentKnowledgeBaseSummaries": [
                {"knowledgeBaseId": KB, "knowledgeBaseState": "ENABLED", "updatedAt": WHEN}
            ]
        },
        {"agentId": AGENT, "agentVersion": "DRAFT"},
    )
    stub.add_response(
        "list_agent_versions",
        {
            "agentVersionSummaries": [
                {
                    "agentName": "orders",
                    "agentStatus": "PREPARED",
                    "agentVersion": "1",
                    "createdAt": WHEN,
                    "updatedAt": WHEN,
                }
            ]
        },
        {"agentId": AGENT},
    )
    stub.add_response(
        "list_agent_aliases",
        {
            "agentAliasSummaries": [
                {
                    "agentAliasId": "ALIAS00001",
                    "agentAliasName": "live",
                    "agentAliasStatus": "PREPARED",
                    "createdAt": WHEN,
                    "updatedAt": WHEN,
                }
            ]
        },
        {"agentId": AGENT},
    )
    stub.add_response(
        "get_agent_alias",
        {
            "agentAlias": {
                "agentId": AGENT,
                "agentAliasId": "ALIAS00001",
                "agentAliasName": "live",
                "agentAliasArn": "arn:alias",
                "agentAliasStatus": "PREPARED",
                "createdAt": WHEN,
                "updatedAt": WHEN,
                "routingConfiguration": [{"agentVersion": "1"}],
            }
        },
        {"agentId": AGENT, "agentAliasId": "ALIAS00001"},
    )
    stub.add_response("list_agents", {"agentSummaries": []}, {"nextToken": "page2"})


def test_agents_action_groups_and_knowledge_bases(tmp_path: Path) -> None:
    client = boto3.client(
        "bedrock-agent", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        _stub_agents(stub)
        source = BedrockAgentsSource(
            BedrockAgentsOptions(rate=None), session=_Session({"bedrock-agent": client})
        )
        with BundleWriter(tmp_path / "b", source={"kind": "bedrock-agents"}) as writer:
            source.export(ExportContext(writer))
        stub.assert_no_pending_responses()
    with open_bundle(tmp_path / "b") as reader:
        agent = next(reader.records("agents"))
        tools = {t["name"]: t for t in reader.records("tools")}
        store = next(reader.records("vector_stores"))
    assert agent["id"] == AGENT and agent["model"] == "anthropic.claude-3-5-sonnet"
    assert agent["tool_resources"] == {"file_search": {"vector_store_ids": [KB]}}
    assert agent["extra"]["guardrail"]["guardrailIdentifier"] == "gr-1"
    assert agent["extra"]["aliases"][0]["routingConfiguration"] == [{"agentVersion": "1"}]
    assert agent["extra"]["prompt_override"]["promptConfigurations"][0]["promptType"] == (
        "ORCHESTRATION"
    )
    functions = {
        t["function"]["name"]: t["function"] for t in agent["tools"] if t["type"] == "function"
    }
    assert functions["get_order_status"]["parameters"] == {
        "type": "object",
        "properties": {"order_id": {"type": "string", "description": "The order."}},
        "required": ["order_id"],
    }
    assert functions["startReturn"]["parameters"]["required"] == ["orderId", "reason"]
    assert tools["get_order_status"]["executor"] == {"kind": "lambda", "arn": LAMBDA}
    assert tools["startReturn"]["executor"] == {"kind": "return_control"}
    assert store["id"] == KB and store["extra"]["data_sources"][0]["dataSourceId"] == "DS12345678"
    assert agent["raw"]["createdAt"] == WHEN.isoformat()


@pytest.mark.parametrize("missing", ["boto3"])
def test_missing_dependency_names_the_install_command(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from homeport.sources.errors import SourceError

    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(SourceError, match=r"pip install 'homeport\[bedrock\]'"):
        BedrockAgentsSource(BedrockAgentsOptions())
