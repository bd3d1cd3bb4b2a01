"""Step 5: a model, ``homeport serve`` over the imported store, and the official OpenAI SDK
continuing an imported thread by its original ID (Assistants API, then Responses API)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import openai
from rich.markup import escape

from homeport.bundle import open_bundle
from homeport.compare.transcripts import content_text
from homeport.demo.processes import serve_instance
from homeport.demo.state import Demo, DemoFailed
from homeport.demo.traffic import BRIEF, MAX_COMPLETION_TOKENS
from homeport.testing.local_model import LocalModel, LocalModelUnavailable
from homeport.testing.scripted_model import ScriptedModelOptions, ScriptedModelServer

SUPPORT_AGENT = "Lumen Support"
FOLLOW_UP = "Thanks. And how long is the warranty?"
AS_CONVERSATION = "Summarise what we discussed in one sentence."
MAX_OUTPUT_TOKENS = 64
LOCAL_CONTEXT = 2048  # llama.cpp's n_ctx for SmolLM2 (LocalModel's default)
# One thread: the demo's other servers need the second core, and llama.cpp's threads slow down
# sharply when they have to wait for a busy core (measured 2-3x slower with two on 2 cores).
LOCAL_THREADS = 1
SHOWN_CHARS = 160


@dataclass(frozen=True)
class ImportedThread:
    id: str
    assistant_id: str
    assistant_name: str
    messages: int


def imported_threads(demo: Demo, agent_name: str, limit: int) -> list[ImportedThread]:
    """Up to ``limit`` short recorded threads the agent ``agent_name`` answered, from the bundle."""
    with open_bundle(demo.bundle_dir) as reader:
        agents = {a["id"]: a.get("name") for a in reader.records("agents")}
        texts: dict[str, int] = defaultdict(int)
        counts: dict[str, int] = defaultdict(int)
        owner: dict[str, str] = {}
        for item in reader.records("items"):
            conversation = item["conversation_id"]
            texts[conversation] += len(content_text(item.get("content")))
            counts[conversation] += 1
            if item.get("agent_id"):
                owner.setdefault(conversation, item["agent_id"])
    chosen = [
        ImportedThread(c, owner[c], agent_name, counts[c])
        for c in counts
        if c in owner and agents.get(owner[c]) == agent_name and counts[c] >= 2 and texts[c] < 1500
    ]
    return chosen[:limit]


def start_model(demo: Demo) -> str:
    """homeport's model: SmolLM2-135M on llama.cpp (``local``) or the scripted model."""
    if demo.model == "local":
        with demo.console.status("starting SmolLM2-135M on llama.cpp"):
            try:
                model = demo.stack.enter_context(
                    LocalModel(n_ctx=LOCAL_CONTEXT, threads=LOCAL_THREADS)
                )
            except LocalModelUnavailable as exc:
                raise DemoFailed(f"{exc} (or run 'homeport demo --model scripted')") from exc
        demo.upstream_url, demo.upstream_model = model.base_url, model.model_id
        demo.context_window = LOCAL_CONTEXT
        what = f"SmolLM2-135M on llama.cpp at {model.base_url}"
    else:
        server = demo.stack.enter_context(
            ScriptedModelServer(ScriptedModelOptions(persona=demo.persona))
        )
        demo.upstream_url, demo.upstream_model = server.base_url, "scripted"
        what = f"the scripted model at {server.base_url}"
    demo.results["model"] = {"kind": demo.model, "base_url": demo.upstream_url}
    return what


def start_homeport(demo: Demo) -> str:
    """``homeport serve`` on the imported store, the sample's model names routed to the model."""
    serve_instance(demo, demo.homeport, demo.upstream_url, demo.upstream_model)
    demo.results["homeport"] = {"base_url": demo.homeport.base_url}
    return f"serving at {demo.homeport.base_url}: gpt-4o, gpt-4o-mini, gpt-4.1-mini -> the model"


def stream_run(demo: Demo, client: openai.OpenAI, thread_id: str, assistant_id: str) -> str:
    """A streamed run, its tokens printed as they arrive; returns the answer."""
    demo.console.print("[bold]assistant:[/bold] ", end="")
    answer: list[str] = []
    with client.beta.threads.runs.stream(
        thread_id=thread_id,
        assistant_id=assistant_id,
        additional_instructions=BRIEF,
        max_completion_tokens=MAX_COMPLETION_TOKENS,
    ) as stream:
        for text in stream.text_deltas:
            answer.append(text)
            demo.text(text, end="")
        run = stream.get_final_run()
    demo.text("")
    if run.status not in ("completed", "incomplete"):
        raise DemoFailed(f"run {run.id} ended {run.status}: {run.last_error}")
    return "".join(answer)


def continue_imported_thread(demo: Demo) -> str:
    """Retrieve an imported thread by its original ID, read it, add a message, stream a run."""
    chosen = imported_threads(demo, SUPPORT_AGENT, 1)
    if not chosen:
        raise DemoFailed(f"the bundle holds no short thread of {SUPPORT_AGENT!r}")
    imported = chosen[0]
    with demo.homeport.client() as client:
        thread = client.beta.threads.retrieve(imported.id)
        demo.say(f"thread [bold]{thread.id}[/bold] (imported, metadata {thread.metadata})")
        history = list(client.beta.threads.messages.list(thread.id, order="asc"))
        for message in history:
            text = "".join(p.text.value for p in message.content if p.type == "text")
            demo.say(f"  [dim]{message.role}: {escape(text[:SHOWN_CHARS])}[/dim]")
        client.beta.threads.messages.create(thread.id, role="user", content=FOLLOW_UP)
        demo.say(f"[bold]user:[/bold] {FOLLOW_UP}")
        answer = stream_run(demo, client, thread.id, imported.assistant_id)
        after = len(list(client.beta.threads.messages.list(thread.id)))
    demo.results["continue_thread"] = {
        "thread_id": thread.id,
        "assistant_id": imported.assistant_id,
        "messages_before": len(history),
        "messages_after": after,
        "question": FOLLOW_UP,
        "answer": answer,
    }
    return f"{thread.id}: {len(history)} imported messages + 2 new, answered by {SUPPORT_AGENT}"


def continue_as_conversation(demo: Demo) -> str:
    """The same thread through the Responses API: a thread is a conversation."""
    facts = demo.results["continue_thread"]
    with demo.homeport.client() as client:
        assistant = client.beta.assistants.retrieve(facts["assistant_id"])
        demo.say(f"[bold]user (Responses API):[/bold] {AS_CONVERSATION}")
        response = client.responses.create(
            model=assistant.model,
            instructions=assistant.instructions,
            conversation=facts["thread_id"],
            input=AS_CONVERSATION,
            max_output_tokens=MAX_OUTPUT_TOKENS,
        )
        items = client.conversations.items.list(facts["thread_id"], limit=100)
        count = len(items.data)
    demo.console.print("[bold]assistant:[/bold] ", end="")
    demo.text(response.output_text)
    demo.results["continue_conversation"] = {
        "response_id": response.id,
        "status": response.status,
        "answer": response.output_text,
        "conversation_items": count,
    }
    return f"{response.id} ({response.status}) in conversation {facts['thread_id']}: {count} items"
