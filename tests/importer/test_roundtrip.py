"""Round trip: homeport as the Assistants source, exported to a bundle and imported into a second
homeport; every object of the first is found in the second, equal, with the same ID."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from homeport.bundle import open_bundle
from homeport.importer import import_bundle
from homeport.reconcile import reconcile
from homeport.services import Services
from homeport.sources.base import make_source, run_export
from homeport.store.bootstrap import prepare_database
from homeport.testing.scripted_model import ScriptedModelServer
from tests.support.servers import HomeportServer, server_settings

MANUAL = (
    "# Lumen S2 thermostat\n\n## Pairing\n"
    "Hold the dial for five seconds until the ring blinks blue.\n"
)


def _populate(client: openai.OpenAI) -> list[str]:
    upload = client.files.create(file=("manual.md", MANUAL.encode()), purpose="assistants")
    store = client.vector_stores.create(name="manuals", file_ids=[upload.id], metadata={"k": "v"})
    while client.vector_stores.retrieve(store.id).status != "completed":
        pass
    assistant = client.beta.assistants.create(
        model="scripted",
        name="Support",
        instructions="Answer from the manual.",
        tools=[
            {"type": "file_search"},
            {
                "type": "function",
                "function": {
                    "name": "get_order",
                    "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
                },
            },
        ],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        metadata={"team": "support"},
        temperature=0.3,
    )
    threads = []
    for n, text in enumerate(["How do I pair it? 🔧", "Grüße — ça marche ? " + "long " * 5000]):
        thread = client.beta.threads.create(metadata={"user": f"u{n}"})
        client.beta.threads.messages.create(thread.id, role="user", content=text)
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        client.beta.threads.messages.create(thread.id, role="user", content="thanks")
        threads.append(thread.id)
    threads.append(client.beta.threads.create().id)  # an empty thread
    return threads


def _snapshot(client: openai.OpenAI, thread_ids: list[str]) -> dict[str, Any]:
    def dump(page: Any) -> list[dict[str, Any]]:
        return [item.model_dump(mode="json") for item in page]

    snap: dict[str, Any] = {
        "assistants": dump(client.beta.assistants.list(order="asc")),
        "files": dump(client.files.list()),
        "vector_stores": dump(client.vector_stores.list(order="asc")),
    }
    for store in snap["vector_stores"]:
        snap[store["id"]] = dump(client.vector_stores.files.list(store["id"], order="asc"))
    for thread_id in thread_ids:
        runs = dump(client.beta.threads.runs.list(thread_id, order="asc"))
        snap[thread_id] = {
            "thread": client.beta.threads.retrieve(thread_id).model_dump(mode="json"),
            "messages": dump(client.beta.threads.messages.list(thread_id, order="asc")),
            "runs": runs,
            "steps": [
                dump(
                    client.beta.threads.runs.steps.list(run["id"], thread_id=thread_id, order="asc")
                )
                for run in runs
            ],
        }
    return snap


@pytest.mark.slow
def test_every_object_arrives_equal_with_the_same_id(
    homeport: HomeportServer,
    database_url: str,
    scripted_model: ScriptedModelServer,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    with homeport.client() as client:
        thread_ids = _populate(client)
        before = _snapshot(client, thread_ids)
    ids_file = tmp_path / "thread_ids.txt"
    ids_file.write_text("\n".join(thread_ids))
    source = make_source(
        "assistants-api",
        {
            "base_url": homeport.base_url,
            "api_key": homeport.api_key,
            "thread_ids_file": ids_file,
            "rate": None,
        },
    )
    run_export(source, tmp_path / "bundle")

    if database_url.startswith("sqlite"):
        second_url = f"sqlite:///{tmp_path / 'second.db'}"
    else:
        second_url = request.getfixturevalue("postgres").create_database()
    settings = server_settings(second_url, tmp_path / "second-data", scripted_model)
    services = Services.from_settings(settings)
    prepare_database(services)
    with open_bundle(tmp_path / "bundle") as reader:
        import_bundle(reader, services.db, settings)
        assert reconcile(reader, services.db, settings).ok
    services.db.dispose()
    with HomeportServer(settings) as second, second.client() as client:
        after = _snapshot(client, thread_ids)
    assert after == before
