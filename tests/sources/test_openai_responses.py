"""openai-responses against homeport itself (an OpenAI-compatible Responses + Conversations
server): conversations and their items, stored responses with their items, from ID files."""

from __future__ import annotations

from pathlib import Path

from homeport.bundle import open_bundle
from homeport.importer import import_bundle
from homeport.reconcile import reconcile
from homeport.services import Services
from homeport.sources.base import make_source, run_export
from homeport.store.bootstrap import prepare_database
from homeport.testing.scripted_model import ScriptedModelServer
from tests.support.servers import HomeportServer, server_settings


def test_conversations_and_stored_responses(
    homeport: HomeportServer, scripted_model: ScriptedModelServer, tmp_path: Path
) -> None:
    with homeport.client() as client:
        conversation = client.conversations.create(
            metadata={"user": "u1"},
            items=[{"type": "message", "role": "user", "content": "Bonjour ✓"}],
        )
        in_conversation = client.responses.create(
            model="scripted", input="And the weather?", conversation=conversation.id
        )
        alone = client.responses.create(model="scripted", input="Standalone question")
        items = [
            i.model_dump(mode="json", exclude_unset=True)
            for i in client.conversations.items.list(conversation.id, order="asc")
        ]
        responses = {
            r.id: client.responses.retrieve(r.id).model_dump(mode="json", exclude_unset=True)
            for r in (in_conversation, alone)
        }
    (tmp_path / "conversations.txt").write_text(conversation.id + "\nconv_missing\n")
    (tmp_path / "responses.txt").write_text(f"{in_conversation.id}\n{alone.id}\n")
    source = make_source(
        "openai-responses",
        {
            "base_url": homeport.base_url,
            "api_key": homeport.api_key,
            "api_key_env": None,
            "conversation_ids_file": tmp_path / "conversations.txt",
            "response_ids_file": tmp_path / "responses.txt",
            "rate": None,
        },
    )
    manifest = run_export(source, tmp_path / "b")
    assert manifest.cursors["not_found"] == {"conversations": ["conv_missing"], "responses": []}
    with open_bundle(tmp_path / "b") as reader:
        conversations = list(reader.records("conversations"))
        bundle_items = list(reader.records("items"))
        runs = {r["id"]: r for r in reader.records("runs")}
    assert [c["id"] for c in conversations] == [conversation.id]
    in_conv = [i for i in bundle_items if i["conversation_id"] == conversation.id]
    assert [i["raw"] for i in in_conv] == items
    assert {k: r["raw"] for k, r in runs.items()} == responses
    assert runs[in_conversation.id]["conversation_id"] == conversation.id
    standalone = [i for i in bundle_items if i["response_id"] == alone.id]
    assert {i["io"] for i in standalone} == {"input", "output"}
    assert all(i["conversation_id"] is None for i in standalone)

    settings = server_settings(
        f"sqlite:///{tmp_path / 'second.db'}", tmp_path / "second", scripted_model
    )
    services = Services.from_settings(settings)
    prepare_database(services)
    with open_bundle(tmp_path / "b") as reader:
        import_bundle(reader, services.db, settings)
        assert reconcile(reader, services.db, settings).ok
    services.db.dispose()
    with HomeportServer(settings) as second, second.client() as client:
        assert [
            i.model_dump(mode="json", exclude_unset=True)
            for i in client.conversations.items.list(conversation.id, order="asc")
        ] == items
        assert (
            client.responses.retrieve(alone.id).model_dump(mode="json", exclude_unset=True)
            == responses[alone.id]
        )
