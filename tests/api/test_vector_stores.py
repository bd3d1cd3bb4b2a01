"""Vector stores, their files, file batches and search through the official SDK against a live
homeport (real local embeddings), on SQLite and PostgreSQL, every JSON response checked against
OpenAI's spec. Also the file_search tool in an Assistants run, with citations."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import func, select, update

from homeport.knowledge.rewrite import INSTRUCTIONS
from homeport.store.models.knowledge import Chunk, VectorStore
from homeport.testing.scripted_model import ScriptedModelServer

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")

GUIDE = (
    "# Returns policy\nCustomers may return unworn shoes within 30 days for a full refund. "
    "Sale items can be exchanged but not refunded."
)
SHIPPING = (
    "# Shipping\nOrders ship from our Rotterdam warehouse within two business days. Express "
    "delivery to Germany takes one day."
)
RECIPES = "Pancakes need flour, eggs, milk and a pinch of salt. Rest the batter for ten minutes."


def _file(client: openai.OpenAI, name: str, data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return client.files.create(file=(name, io.BytesIO(raw)), purpose="assistants").id


def _wait_store(client: openai.OpenAI, store_id: str) -> Any:
    deadline = time.monotonic() + 120
    while True:
        store = client.vector_stores.retrieve(store_id)
        if store.status != "in_progress" or time.monotonic() > deadline:
            return store
        time.sleep(0.05)


def _store(client: openai.OpenAI, **files: str) -> str:
    ids = [_file(client, name.replace("_", "."), text) for name, text in files.items()]
    store = client.vector_stores.create(name="docs", file_ids=ids)
    assert _wait_store(client, store.id).status == "completed"
    return store.id


def test_create_index_retrieve_modify_list_delete(client: openai.OpenAI) -> None:
    file_id = _file(client, "guide.md", GUIDE)
    created = client.vector_stores.create(
        name="support",
        file_ids=[file_id],
        metadata={"team": "support"},
        expires_after={"anchor": "last_active_at", "days": 7},
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50},
        },
    )
    assert created.object == "vector_store" and created.id.startswith("vs_")
    assert created.file_counts.total == 1
    store = _wait_store(client, created.id)
    assert store.status == "completed"
    assert store.file_counts.completed == 1 and store.usage_bytes > 0
    assert store.expires_at == store.last_active_at + 7 * 86400
    vs_file = client.vector_stores.files.retrieve(file_id, vector_store_id=store.id)
    assert vs_file.status == "completed" and vs_file.last_error is None
    assert vs_file.chunking_strategy.static.max_chunk_size_tokens == 200  # type: ignore[union-attr]
    renamed = client.vector_stores.update(store.id, name="renamed", metadata={"v": "2"})
    assert (renamed.name, renamed.metadata) == ("renamed", {"v": "2"})
    assert [s.id for s in client.vector_stores.list()] == [store.id]
    assert client.vector_stores.delete(store.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve(store.id)


def test_upload_and_poll_then_search(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="kb")
    for name, text in (("guide.md", GUIDE), ("shipping.md", SHIPPING), ("recipes.txt", RECIPES)):
        done = client.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=(name, io.BytesIO(text.encode()))
        )
        assert done.status == "completed", done.last_error
    page = client.vector_stores.search(store.id, query="How long do I have to send shoes back?")
    results = list(page)
    assert results[0].filename == "guide.md"
    assert 0 < results[-1].score <= results[0].score <= 1
    assert "30 days" in results[0].content[0].text
    limited = client.vector_stores.search(store.id, query="warehouse", max_num_results=1)
    assert [r.filename for r in limited] == ["shipping.md"]
    content = client.vector_stores.files.content(results[0].file_id, vector_store_id=store.id)
    assert "full refund" in "".join(part.text for part in content)  # type: ignore[misc]


def test_search_with_attribute_filters(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="filtered")
    for name, text, attributes in (
        ("guide.md", GUIDE, {"team": "support", "year": 2024}),
        ("shipping.md", SHIPPING, {"team": "logistics", "year": 2025}),
        ("recipes.txt", RECIPES, {"team": "kitchen", "year": 2023, "draft": True}),
    ):
        file_id = _file(client, name, text)
        client.vector_stores.files.create_and_poll(
            vector_store_id=store.id, file_id=file_id, attributes=attributes
        )

    def names(filters: dict[str, Any]) -> set[str]:
        page = client.vector_stores.search(store.id, query="orders", filters=filters)  # type: ignore[arg-type]
        return {r.filename for r in page}

    assert names({"type": "eq", "key": "team", "value": "logistics"}) == {"shipping.md"}
    assert names({"type": "gte", "key": "year", "value": 2024}) == {"guide.md", "shipping.md"}
    assert names({"type": "in", "key": "team", "value": ["kitchen", "support"]}) == {
        "guide.md",
        "recipes.txt",
    }
    assert names(
        {
            "type": "and",
            "filters": [
                {"type": "lt", "key": "year", "value": 2025},
                {"type": "ne", "key": "draft", "value": True},
            ],
        }
    ) == {"guide.md"}
    assert names(
        {
            "type": "or",
            "filters": [
                {"type": "eq", "key": "draft", "value": True},
                {"type": "eq", "key": "team", "value": "logistics"},
            ],
        }
    ) == {"recipes.txt", "shipping.md"}
    assert names({"type": "eq", "key": "team", "value": "nobody"}) == set()
    with pytest.raises(openai.BadRequestError) as bad:
        names({"type": "like", "key": "team", "value": "x"})
    assert "filters.type" in bad.value.message
    updated = client.vector_stores.files.update(
        vector_store_id=store.id,
        file_id=next(iter(client.vector_stores.files.list(store.id))).id,
        attributes={"team": "moved"},
    )
    assert updated.attributes == {"team": "moved"}
    assert names({"type": "eq", "key": "team", "value": "moved"}) == {_name(client, updated.id)}


def _name(client: openai.OpenAI, file_id: str) -> str:
    return client.files.retrieve(file_id).filename


def test_file_batches_create_list_and_cancel(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="batches")
    batch = client.vector_stores.file_batches.upload_and_poll(
        store.id,
        files=[
            ("guide.md", io.BytesIO(GUIDE.encode())),
            ("shipping.md", io.BytesIO(SHIPPING.encode())),
        ],
    )
    assert batch.object == "vector_store.files_batch"
    assert batch.status == "completed" and batch.file_counts.completed == 2
    again = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert again.id == batch.id and again.status == "completed"
    assert again.file_counts.completed == batch.file_counts.completed
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert {f.status for f in listed} == {"completed"}
    assert len(listed.data) == 2
    ids = [_file(client, f"r{i}.txt", RECIPES + f" Variation {i}.") for i in range(6)]
    second = client.vector_stores.file_batches.create(store.id, file_ids=ids)
    cancelled = client.vector_stores.file_batches.cancel(second.id, vector_store_id=store.id)
    counts = cancelled.file_counts
    assert counts.total == 6 and counts.in_progress == 0
    assert cancelled.status in ("cancelled", "completed")
    assert counts.cancelled + counts.completed == 6
    assert _wait_store(client, store.id).status == "completed"


def test_bad_files_fail_alone_and_never_leave_the_store_in_progress(client: openai.OpenAI) -> None:
    good = _file(client, "guide.md", GUIDE)
    bad = {
        "empty.txt": b"   \n",
        "junk.bin": bytes(range(256)) * 8,
        "empty.pdf": b"",
        "broken.pdf": b"%PDF-1.4 this is not really a pdf",
        "broken.json": b"{not json",
    }
    bad_ids = {name: _file(client, name, data) for name, data in bad.items()}
    store = client.vector_stores.create(name="mixed", file_ids=[good, *bad_ids.values()])
    done = _wait_store(client, store.id)
    assert done.status == "completed"
    assert (done.file_counts.completed, done.file_counts.failed) == (1, len(bad))
    failed = client.vector_stores.files.list(store.id, filter="failed")
    errors = {_name(client, f.id): f.last_error for f in failed}
    assert set(errors) == set(bad)
    assert errors["junk.bin"].code == "unsupported_file"  # type: ignore[union-attr]
    assert errors["empty.pdf"].code == "invalid_file"  # type: ignore[union-attr]
    assert errors["broken.json"].code == "invalid_file"  # type: ignore[union-attr]
    assert all(e is not None and e.message for e in errors.values())
    assert [r.filename for r in client.vector_stores.search(store.id, query="refund")] == [
        "guide.md"
    ]


def test_deleted_files(client: openai.OpenAI) -> None:
    store_id = _store(client, guide_md=GUIDE)
    file_id = next(iter(client.vector_stores.files.list(store_id))).id
    client.files.delete(file_id)
    # As on OpenAI, the indexed content stays searchable after the file is deleted.
    assert [r.file_id for r in client.vector_stores.search(store_id, query="refund")] == [file_id]
    with pytest.raises(openai.NotFoundError) as missing:
        client.vector_stores.files.create(vector_store_id=store_id, file_id=file_id)
    assert missing.value.message.endswith(f"No such File object: {file_id}") or (
        file_id in missing.value.message
    )
    gone = _file(client, "shipping.md", SHIPPING)
    queued = client.vector_stores.create(name="late", file_ids=[gone])
    client.files.delete(gone)
    store = _wait_store(client, queued.id)
    assert store.status == "completed"
    vs_file = client.vector_stores.files.retrieve(gone, vector_store_id=queued.id)
    assert vs_file.status in ("completed", "failed")
    client.vector_stores.files.delete(file_id, vector_store_id=store_id)
    assert list(client.vector_stores.search(store_id, query="refund")) == []


def test_bad_requests(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.create(file_ids=["file-nope"])
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.create(
            chunking_strategy={
                "type": "static",
                "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 80},
            }
        )
    store = client.vector_stores.create(name="x")
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.search(store.id, query="a", max_num_results=51)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.search("vs_missing", query="a")


def test_file_search_in_a_run_cites_its_sources(client: openai.OpenAI) -> None:
    store_id = _store(client, guide_md=GUIDE, shipping_md=SHIPPING)
    assistant = client.beta.assistants.create(
        model="scripted",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}},
    )
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "[[search return shoes refund]]"}]
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    reply = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    text = reply.content[0].text  # type: ignore[union-attr]
    citations = [a for a in text.annotations if a.type == "file_citation"]
    guide_id = next(
        f.id for f in client.vector_stores.files.list(store_id) if _name(client, f.id) == "guide.md"
    )
    assert citations and citations[0].file_citation.file_id == guide_id  # type: ignore[union-attr]
    for note in citations:
        assert text.value[note.start_index : note.end_index] == note.text
    steps = client.beta.threads.runs.steps.list(
        run.id,
        thread_id=thread.id,
        order="asc",
        include=["step_details.tool_calls[*].file_search.results[*].content"],
    ).data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    call = steps[0].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert call.type == "file_search"
    results = call.file_search.results  # type: ignore[union-attr]
    assert results[0].file_id == guide_id and results[0].file_name == "guide.md"
    assert results[0].content and "30 days" in results[0].content[0].text  # type: ignore[index]


def test_message_attachments_make_a_thread_store(client: openai.OpenAI) -> None:
    file_id = _file(client, "shipping.md", SHIPPING)
    assistant = client.beta.assistants.create(model="scripted", tools=[{"type": "file_search"}])
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "[[search express delivery Germany]]",
                "attachments": [{"file_id": file_id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    reply = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    notes = reply.content[0].text.annotations  # type: ignore[union-attr]
    assert {n.file_citation.file_id for n in notes} == {file_id}  # type: ignore[union-attr]
    resources = client.beta.threads.retrieve(thread.id).tool_resources
    assert resources is not None and resources.file_search is not None
    (store_id,) = resources.file_search.vector_store_ids or []
    store = client.vector_stores.retrieve(store_id)
    assert store.file_counts.completed == 1
    assert store.expires_after is not None and store.expires_after.days == 7


def test_file_search_in_a_response(client: openai.OpenAI) -> None:
    store_id = _store(client, guide_md=GUIDE, shipping_md=SHIPPING)
    response = client.responses.create(
        model="scripted",
        input="[[search warehouse shipping days]]",
        tools=[{"type": "file_search", "vector_store_ids": [store_id], "max_num_results": 2}],
        include=["file_search_call.results"],
    )
    assert response.status == "completed"
    call, message = response.output[0], response.output[-1]
    assert call.type == "file_search_call" and call.status == "completed"
    assert call.queries == ["warehouse shipping days"]
    assert call.results and call.results[0].filename == "shipping.md"
    assert len(call.results) <= 2
    assert message.type == "message"
    notes = message.content[0].annotations  # type: ignore[union-attr]
    assert notes and notes[0].type == "file_citation"
    assert notes[0].file_id == call.results[0].file_id  # type: ignore[union-attr]


def test_file_content_is_the_parsed_text_whole(client: openai.OpenAI) -> None:
    long = " ".join(f"Sentence {i} is about returns and refunds." for i in range(150))
    page = "<html><body><h1>Shipping</h1><p>Orders ship in <b>two</b> days.</p><script>x()</script>"
    store = client.vector_stores.create(
        name="content",
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
        },
    )
    ids = {}
    for name, body in (("long.txt", long), ("page.html", page)):
        done = client.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=(name, io.BytesIO(body.encode()))
        )
        assert done.status == "completed", done.last_error
        ids[name] = done.id
    # Overlapping chunks are not the text: the content is the parsed file, once, whole.
    content = client.vector_stores.files.content(ids["long.txt"], vector_store_id=store.id)
    assert [(part.type, part.text) for part in content] == [("text", long)]
    assert not content.has_next_page()
    html = list(client.vector_stores.files.content(ids["page.html"], vector_store_id=store.id))
    assert [part.text for part in html] == ["Shipping\nOrders ship in\ntwo\ndays."]
    client.files.delete(ids["long.txt"])
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.content(ids["long.txt"], vector_store_id=store.id)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.content("file-nope", vector_store_id=store.id)


def test_search_results_are_one_page(client: openai.OpenAI) -> None:
    """As on OpenAI: no page parameter, ``max_num_results`` is the only limit, and the page
    never has a next one, even when more chunks match."""
    store_id = _store(client, guide_md=GUIDE, shipping_md=SHIPPING, recipes_txt=RECIPES)
    raw = client.vector_stores.with_raw_response.search(store_id, query="days", max_num_results=1)
    body = raw.http_response.json()
    assert len(body["data"]) == 1
    assert (body["has_more"], body["next_page"]) == (False, None)
    assert not raw.parse().has_next_page()
    assert len(list(client.vector_stores.search(store_id, query="days"))) > 1
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.search(store_id, query="days", extra_body={"after": "x"})


def test_rewrite_query_searches_what_the_model_wrote(
    homeport_server: Any, spec_checked: Any, scripted_model: ScriptedModelServer
) -> None:
    client = spec_checked(homeport_server(knowledge={"rewrite_model": "scripted"}))
    store_id = _store(client, guide_md=GUIDE, shipping_md=SHIPPING)
    question = "How long do I have to send shoes back?"

    def searched(query: str, rewrite: bool) -> tuple[list[str], list[tuple[str, float]]]:
        raw = client.vector_stores.with_raw_response.search(
            store_id, query=query, rewrite_query=rewrite, ranking_options={"ranker": "none"}
        )
        body = raw.http_response.json()
        return body["search_query"], [(hit["filename"], hit["score"]) for hit in body["data"]]

    queries, rewritten = searched(question, rewrite=True)
    assert queries == [f"Echo: {question}"]  # what the scripted model answered
    sent = httpx.get(scripted_model.url + "/_scripted/requests").json()
    asked = [
        entry["body"]["messages"]
        for entry in sent
        if entry["path"] == "/v1/chat/completions"
        and entry["body"].get("messages")
        and entry["body"]["messages"][0].get("content") == INSTRUCTIONS
    ]
    assert asked[-1][-1] == {"role": "user", "content": question}
    # The results are those of the rewritten query, not of the question.
    assert rewritten == searched(f"Echo: {question}", rewrite=False)[1]
    assert rewritten != searched(question, rewrite=False)[1]
    # A model that fails leaves the query as it was sent.
    assert searched("refund [[fail 500]]", rewrite=True)[0] == ["refund [[fail 500]]"]


def test_expired_store_is_swept_by_the_worker(homeport_server: Any, spec_checked: Any) -> None:
    server = homeport_server(knowledge={"sweep_seconds": 0.05, "poll_seconds": 0.05})
    client = spec_checked(server)
    store_id = _store(client, guide_md=GUIDE)
    store = client.vector_stores.update(
        store_id, expires_after={"anchor": "last_active_at", "days": 1}
    )
    assert store.status == "completed" and store.usage_bytes > 0
    with server.services.db.session() as session:
        session.execute(
            update(VectorStore)
            .where(VectorStore.id == store_id)
            .values(last_active_at=store.last_active_at - 2 * 86400)
        )
    deadline = time.monotonic() + 60
    while (store := client.vector_stores.retrieve(store_id)).usage_bytes and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert (store.status, store.usage_bytes) == ("expired", 0)
    with server.services.db.session() as session:
        left = session.scalar(
            select(func.count()).select_from(Chunk).where(Chunk.vector_store_id == store_id)
        )
    assert left == 0
    with pytest.raises(openai.BadRequestError, match="expired"):
        client.vector_stores.search(store_id, query="refund")
    with pytest.raises(openai.BadRequestError, match="expired"):
        client.vector_stores.update(store_id, expires_after={"anchor": "last_active_at", "days": 9})
    assert client.vector_stores.update(store_id, name="archive").name == "archive"
