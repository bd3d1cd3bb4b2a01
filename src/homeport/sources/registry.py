"""Which sources exist: the built-ins and those installed plugins declare under the entry point
group ``homeport.sources``. Kept apart from ``base`` so naming the sources imports none of them."""

from __future__ import annotations

from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "homeport.sources"
BUILTIN: dict[str, str] = {
    "assistants-api": "homeport.sources.assistants_api:AssistantsApiSource",
    "openai-objects": "homeport.sources.openai_objects:OpenAIObjectsSource",
    "openai-responses": "homeport.sources.openai_responses:OpenAIResponsesSource",
    "bedrock-agents": "homeport.sources.bedrock_agents:BedrockAgentsSource",
}


def available_sources() -> dict[str, str]:
    """Source kind -> ``module:Class`` for built-ins and installed plugins."""
    found = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found[entry.name] = entry.value
    return found
