"""Shared objects in shadow mode: copied to the candidate in order, with the primary's IDs."""

from __future__ import annotations

import openai
from sqlalchemy import select

from homeport.store.models.gateway import GatewayObject
from tests.gateway.conftest import GatewayFactory, GatewayServer, shadowing, wait_for
from tests.support.servers import HomeportServer


def _has_assistant(client: openai.OpenAI, assistant_id: str) -> bool:
    try:
        client.beta.assistants.retrieve(assistant_id)
    except openai.NotFoundError:
        return False
    return True


def test_objects_are_copied_in_order_with_their_ids(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """A file, a vector store holding it and an assistant naming the store, created back to
    back: each copy names an object only an earlier copy made, so they must run in order."""
    _, candidate = two_homeports
    gateway = start_gateway(**shadowing(two_homeports))
    ids: list[str] = []
    with gateway.client() as client:
        for n in range(3):
            upload = client.files.create(
                file=(f"notes{n}.txt", b"homeport keeps IDs. " * 2000), purpose="assistants"
            )
            store = client.vector_stores.create(name=f"kb{n}", file_ids=[upload.id])
            assistant = client.beta.assistants.create(
                model="scripted",
                tools=[{"type": "file_search"}],
                tool_resources={"file_search": {"vector_store_ids": [store.id]}},
            )
            ids += [upload.id, store.id, assistant.id]
    gateway.stop()  # the copies run in the background: done once the gateway has drained
    with gateway.gateway.db.session() as session:
        rows = {r.object_id: r.status for r in session.scalars(select(GatewayObject))}
    assert rows == dict.fromkeys(ids, "mirrored")
    mirrored = candidate.client().beta.assistants.retrieve(ids[-1])
    assert mirrored.tool_resources is not None and mirrored.tool_resources.file_search is not None
    assert mirrored.tool_resources.file_search.vector_store_ids == [ids[-2]]
    assert [f.id for f in candidate.client().vector_stores.files.list(ids[-2])] == [ids[-3]]


def test_a_create_naming_an_object_still_on_its_way_is_tried_again(
    start_gateway: GatewayFactory, two_homeports: tuple[HomeportServer, HomeportServer]
) -> None:
    """The vector store an assistant names reaches the candidate later, as another replica's
    copy would: the assistant's copy is refused with a 404 until then, and tried again."""
    managed, candidate = two_homeports
    store = managed.client().vector_stores.create(name="kb")  # not through this gateway
    gateway = start_gateway(**shadowing(two_homeports))
    with gateway.client() as client:
        assistant = client.beta.assistants.create(
            model="scripted", tool_resources={"file_search": {"vector_store_ids": [store.id]}}
        )
    assert not _has_assistant(candidate.client(), assistant.id)
    candidate.client(admin=True).vector_stores.create(
        name="kb", extra_headers={"homeport-object-id": store.id}
    )
    wait_for(lambda: _has_assistant(candidate.client(), assistant.id), "the assistant's copy")
    wait_for(lambda: _copies(gateway, "mirrored") == 1, "the copy recorded")
    assert _copies(gateway, "missing") == 0


def _copies(gateway: GatewayServer, status: str) -> float:
    labels = {"kind": "assistant", "status": status}
    registry = gateway.gateway.metrics.registry
    return registry.get_sample_value("homeport_gateway_mirror_writes_total", labels) or 0.0
