"""Write the sample deployment as a dump of OpenAI API objects (the ``openai-objects`` layout).

Layout of ``out_dir``:
- ``assistants.json``, ``files.json``, ``vector_stores.json``: list pages as the API returns them;
- ``threads.jsonl``, ``messages.jsonl``, ``runs.jsonl``, ``run_steps.jsonl``,
  ``vector_store_files.jsonl``: one API object per line;
- ``file-contents/<file_id>``: the bytes of each downloadable file;
- ``thread_ids.txt``: thread IDs as an app's own database would hold them (OpenAI cannot list
  threads).
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeport.sample import content

# Spread over the months before the Assistants API shut down (2026-08-26).
START = 1_740_787_200  # 2025-03-01
END = 1_755_648_000  # 2025-08-20
MODEL_SUPPORT = "gpt-4o"
MODEL_ORDERS = "gpt-4o-mini"
MODEL_HELPER = "gpt-4.1-mini"


@dataclass
class SampleSummary:
    out_dir: Path
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "counts": self.counts}


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.alphabet = string.ascii_letters + string.digits

    def __call__(self, prefix: str, length: int = 24) -> str:
        return f"{prefix}_" + "".join(self.rng.choice(self.alphabet) for _ in range(length))


def _tokens(text: str) -> int:
    return max(1, round(len(text.split()) * 1.3))


def _text(value: str, annotations: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": value, "annotations": annotations or []}}]


class _Writer:
    """Collects objects per file and writes them at the end (the sample is small)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def add(self, name: str, obj: dict[str, Any]) -> None:
        self.rows.setdefault(name, []).append(obj)

    def write(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name, rows in self.rows.items():
            path = self.out_dir / name
            if name.endswith(".json"):
                page = {
                    "object": "list",
                    "data": rows,
                    "first_id": rows[0]["id"],
                    "last_id": rows[-1]["id"],
                    "has_more": False,
                }
                path.write_text(json.dumps(page, ensure_ascii=False, indent=1))
            else:
                with path.open("w", encoding="utf-8") as handle:
                    for row in rows:
                        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            counts[name.split(".")[0]] = len(rows)
        return counts


class _Generator:
    def __init__(self, out_dir: Path, threads: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.new_id = _Ids(self.rng)
        self.out = _Writer(out_dir)
        self.out_dir = out_dir
        self.thread_count = threads
        self.clock = START
        # Threads spread evenly (on average) over the months before the shutdown.
        self.thread_gap = max(120, 2 * (END - START) // max(1, threads + 10))

    def tick(self, low: int = 1, high: int = 30) -> int:
        self.clock += self.rng.randint(low, high)
        return self.clock

    # -- knowledge ---------------------------------------------------------------------------
    def files(self) -> tuple[dict[str, Any], list[str]]:
        contents = self.out_dir / "file-contents"
        contents.mkdir(parents=True, exist_ok=True)
        file_ids = []
        for name, body in (
            (content.MANUAL_NAME, content.MANUAL),
            (content.RETURNS_NAME, content.RETURNS),
        ):
            data = body.encode()
            file_id = self.new_id("file")
            (contents / file_id).write_bytes(data)
            self.out.add(
                "files.json",
                {
                    "id": file_id,
                    "object": "file",
                    "bytes": len(data),
                    "created_at": START,
                    "filename": name,
                    "purpose": "assistants",
                    "status": "processed",
                },
            )
            file_ids.append(file_id)
        # An assistant output file whose bytes the platform no longer serves.
        self.out.add(
            "files.json",
            {
                "id": self.new_id("file"),
                "object": "file",
                "bytes": 48_213,
                "created_at": START + 60,
                "filename": "chart-q2.png",
                "purpose": "assistants_output",
                "status": "processed",
            },
        )
        store_id = self.new_id("vs")
        usage = sum(len(b.encode()) for b in (content.MANUAL, content.RETURNS))
        store = {
            "id": store_id,
            "object": "vector_store",
            "created_at": START + 5,
            "name": "Lumen product knowledge",
            "usage_bytes": usage,
            "file_counts": {
                "in_progress": 0,
                "completed": len(file_ids),
                "failed": 0,
                "cancelled": 0,
                "total": len(file_ids),
            },
            "status": "completed",
            "expires_at": None,
            "last_active_at": END,
            "metadata": {"owner": "support-team"},
        }
        self.out.add("vector_stores.json", store)
        for file_id in file_ids:
            self.out.add(
                "vector_store_files.jsonl",
                {
                    "id": file_id,
                    "object": "vector_store.file",
                    "usage_bytes": usage // 2,
                    "created_at": START + 6,
                    "vector_store_id": store_id,
                    "status": "completed",
                    "last_error": None,
                    "attributes": {"lang": "en"},
                    "chunking_strategy": {
                        "type": "static",
                        "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
                    },
                },
            )
        return store, file_ids

    # -- assistants ----------------------------------------------------------------------------
    def assistants(self, store_id: str) -> dict[str, dict[str, Any]]:
        def make(**fields: Any) -> dict[str, Any]:
            obj = {
                "id": self.new_id("asst"),
                "object": "assistant",
                "created_at": START + 10,
                "description": None,
                "tool_resources": {},
                "metadata": {},
                "temperature": 1.0,
                "top_p": 1.0,
                "response_format": "auto",
                "tools": [],
                **fields,
            }
            self.out.add("assistants.json", obj)
            return obj

        return {
            "support": make(
                name="Lumen Support",
                model=MODEL_SUPPORT,
                description="Answers product questions from the Lumen S2 manual.",
                instructions="You are Lumen's support assistant. Answer from the product manual "
                "with file_search and cite it. Be brief and friendly. If the manual does not "
                "answer, say so and offer to open a ticket.",
                tools=[{"type": "file_search", "file_search": {"max_num_results": 5}}],
                tool_resources={"file_search": {"vector_store_ids": [store_id]}},
                temperature=0.3,
                metadata={"team": "support", "tier": "public"},
            ),
            "orders": make(
                name="Order Status",
                model=MODEL_ORDERS,
                instructions="You help customers with their Lumen orders. Always look orders up "
                "with get_order_status before answering. Cancel only orders that have not "
                "shipped. Start returns only for delivered orders.",
                tools=content.ORDER_TOOLS,
                temperature=0.2,
                metadata={"team": "commerce"},
            ),
            "helper": make(
                name="Ticket Triage",
                model=MODEL_HELPER,
                description="Internal: classifies incoming customer emails.",
                instructions="Classify the customer email into a category and a priority and "
                "summarise it in one sentence.",
                response_format=content.TRIAGE_SCHEMA,
                temperature=0.0,
                metadata={"team": "internal", "visibility": "staff"},
            ),
        }

    # -- threads -------------------------------------------------------------------------------
    def message(
        self,
        thread_id: str,
        role: str,
        text: str,
        *,
        created: int,
        assistant: dict[str, Any] | None = None,
        run_id: str | None = None,
        annotations: list[dict[str, Any]] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        obj = {
            "id": self.new_id("msg"),
            "object": "thread.message",
            "created_at": created,
            "thread_id": thread_id,
            "status": "completed",
            "incomplete_details": None,
            "completed_at": created,
            "incomplete_at": None,
            "role": role,
            "content": _text(text, annotations),
            "assistant_id": assistant["id"] if assistant else None,
            "run_id": run_id,
            "attachments": [],
            "metadata": metadata or {},
        }
        self.out.add("messages.jsonl", obj)
        return obj

    def run(
        self,
        thread_id: str,
        assistant: dict[str, Any],
        *,
        created: int,
        status: str,
        prompt: str,
        completion: str,
        last_error: dict[str, str] | None = None,
    ) -> str:
        run_id = self.new_id("run")
        ended = created + self.rng.randint(1, 9)
        usage = None
        if status in ("completed", "incomplete", "failed"):
            p, c = _tokens(assistant["instructions"] + prompt) + 40, _tokens(completion)
            usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
        self.out.add(
            "runs.jsonl",
            {
                "id": run_id,
                "object": "thread.run",
                "created_at": created,
                "thread_id": thread_id,
                "assistant_id": assistant["id"],
                "status": status,
                "required_action": None,
                "last_error": last_error,
                "expires_at": None if status != "expired" else created + 600,
                "started_at": created + 1,
                "cancelled_at": ended if status == "cancelled" else None,
                "failed_at": ended if status == "failed" else None,
                "completed_at": ended if status == "completed" else None,
                "incomplete_details": None,
                "model": assistant["model"],
                "instructions": assistant["instructions"],
                "tools": assistant["tools"],
                "metadata": {},
                "usage": usage,
                "temperature": assistant["temperature"],
                "top_p": assistant["top_p"],
                "max_prompt_tokens": None,
                "max_completion_tokens": None,
                "truncation_strategy": {"type": "auto", "last_messages": None},
                "response_format": assistant["response_format"],
                "tool_choice": "auto",
                "parallel_tool_calls": True,
            },
        )
        return run_id

    def step(
        self,
        run_id: str,
        thread_id: str,
        assistant: dict[str, Any],
        *,
        created: int,
        details: dict[str, Any],
        status: str = "completed",
    ) -> None:
        self.out.add(
            "run_steps.jsonl",
            {
                "id": self.new_id("step"),
                "object": "thread.run.step",
                "created_at": created,
                "assistant_id": assistant["id"],
                "thread_id": thread_id,
                "run_id": run_id,
                "type": details["type"],
                "status": status,
                "step_details": details,
                "last_error": None,
                "expired_at": created + 600 if status == "expired" else None,
                "cancelled_at": None,
                "failed_at": None,
                "completed_at": created + 1 if status == "completed" else None,
                "metadata": {},
                "usage": {"prompt_tokens": 120, "completion_tokens": 24, "total_tokens": 144}
                if status == "completed"
                else None,
            },
        )

    def turn_support(
        self, thread_id: str, asst: dict[str, Any], file_id: str, question: str | None = None
    ) -> None:
        q, section, answer = self.rng.choice(content.SUPPORT_QA)
        q = question or q
        t = self.tick()
        self.message(thread_id, "user", q, created=t)
        run_id = self.run(
            thread_id, asst, created=t + 1, status="completed", prompt=q, completion=answer
        )
        excerpt = content.MANUAL.split(f"## {section}")[1].split("\n## ")[0].strip()
        self.step(
            run_id,
            thread_id,
            asst,
            created=t + 2,
            details={
                "type": "tool_calls",
                "tool_calls": [
                    {
                        "id": self.new_id("call"),
                        "type": "file_search",
                        "file_search": {
                            "ranking_options": {
                                "ranker": "default_2024_08_21",
                                "score_threshold": 0.0,
                            },
                            "results": [
                                {
                                    "file_id": file_id,
                                    "file_name": content.MANUAL_NAME,
                                    "score": round(self.rng.uniform(0.62, 0.93), 4),
                                    "content": [{"type": "text", "text": excerpt[:800]}],
                                }
                            ],
                        },
                    }
                ],
            },
        )
        marker = "【4:0†" + content.MANUAL_NAME + "】"
        text = answer + " " + marker
        start = len(answer) + 1
        annotation = {
            "type": "file_citation",
            "text": marker,
            "start_index": start,
            "end_index": start + len(marker),
            "file_citation": {"file_id": file_id},
        }
        msg = self.message(
            thread_id,
            "assistant",
            text,
            created=t + 4,
            assistant=asst,
            run_id=run_id,
            annotations=[annotation],
        )
        self.step(
            run_id,
            thread_id,
            asst,
            created=t + 3,
            details={"type": "message_creation", "message_creation": {"message_id": msg["id"]}},
        )

    def turn_orders(self, thread_id: str, asst: dict[str, Any]) -> None:
        order_id = f"LU-{self.rng.randint(10000, 29999)}"
        state = self.rng.choice(content.ORDER_STATES)
        product = self.rng.choice(content.PRODUCTS)
        ask = self.rng.choice(
            [
                f"Where is my order {order_id}?",
                f"Can you cancel {order_id}? I ordered twice by mistake.",
                f"I want to return order {order_id}, the {product} is not what I need.",
            ]
        )
        t = self.tick()
        self.message(thread_id, "user", ask, created=t)
        status = self.rng.choices(
            ["completed", "expired", "failed", "cancelled"], weights=[88, 5, 4, 3]
        )[0]
        lookup = {
            "order_id": order_id,
            "status": state,
            "items": [product],
            "carrier": "DHL" if state in ("shipped", "delivered") else None,
        }
        calls = [
            {
                "id": self.new_id("call"),
                "type": "function",
                "function": {
                    "name": "get_order_status",
                    "arguments": json.dumps({"order_id": order_id}),
                    "output": json.dumps(lookup) if status == "completed" else None,
                },
            }
        ]
        if "cancel" in ask and state == "processing" and status == "completed":
            calls.append(
                {
                    "id": self.new_id("call"),
                    "type": "function",
                    "function": {
                        "name": "cancel_order",
                        "arguments": json.dumps({"order_id": order_id, "reason": "duplicate"}),
                        "output": json.dumps({"ok": True}),
                    },
                }
            )
        reply = {
            "processing": f"Order {order_id} ({product}) is being prepared and has not shipped.",
            "shipped": f"Order {order_id} has shipped with DHL and should arrive in 2-3 days.",
            "delivered": f"Order {order_id} was delivered. I can start a return if you like.",
            "cancelled": f"Order {order_id} was cancelled; the refund is on its way.",
        }[state]
        error = (
            {"code": "server_error", "message": "Sorry, something went wrong."}
            if status == "failed"
            else None
        )
        run_id = self.run(
            thread_id,
            asst,
            created=t + 1,
            status=status,
            prompt=ask,
            completion=reply,
            last_error=error,
        )
        step_status = {
            "completed": "completed",
            "expired": "expired",
            "failed": "failed",
            "cancelled": "cancelled",
        }[status]
        self.step(
            run_id,
            thread_id,
            asst,
            created=t + 2,
            status=step_status,
            details={"type": "tool_calls", "tool_calls": calls},
        )
        if status == "completed":
            msg = self.message(
                thread_id, "assistant", reply, created=t + 4, assistant=asst, run_id=run_id
            )
            self.step(
                run_id,
                thread_id,
                asst,
                created=t + 3,
                details={"type": "message_creation", "message_creation": {"message_id": msg["id"]}},
            )

    def turn_helper(self, thread_id: str, asst: dict[str, Any]) -> None:
        email, category, priority, summary = self.rng.choice(content.TRIAGE_EMAILS)
        t = self.tick()
        self.message(thread_id, "user", email, created=t)
        answer = json.dumps({"category": category, "priority": priority, "summary": summary})
        run_id = self.run(
            thread_id, asst, created=t + 1, status="completed", prompt=email, completion=answer
        )
        msg = self.message(
            thread_id, "assistant", answer, created=t + 3, assistant=asst, run_id=run_id
        )
        self.step(
            run_id,
            thread_id,
            asst,
            created=t + 2,
            details={"type": "message_creation", "message_creation": {"message_id": msg["id"]}},
        )

    def thread(
        self, metadata: dict[str, str] | None = None, tool_resources: dict[str, Any] | None = None
    ) -> str:
        thread_id = self.new_id("thread")
        self.out.add(
            "threads.jsonl",
            {
                "id": thread_id,
                "object": "thread",
                "created_at": self.tick(60, self.thread_gap),
                "metadata": metadata or {},
                "tool_resources": tool_resources or {},
            },
        )
        return thread_id

    def conversations(self, agents: dict[str, dict[str, Any]], file_id: str) -> list[str]:
        thread_ids = []
        kinds = self.rng.choices(
            ["support", "orders", "helper"], weights=[45, 40, 15], k=self.thread_count
        )
        for kind in kinds:
            thread_id = self.thread(
                metadata={
                    "user_id": f"u{self.rng.randint(1000, 9999)}",
                    "channel": self.rng.choice(["web", "app"]),
                }
            )
            thread_ids.append(thread_id)
            for turn in range(self.rng.randint(1, 3)):
                if kind == "support":
                    question = None
                    if turn and self.rng.random() < 0.5:
                        question = self.rng.choice(content.FOLLOW_UPS)[0]
                    self.turn_support(thread_id, agents["support"], file_id, question)
                elif kind == "orders":
                    self.turn_orders(thread_id, agents["orders"])
                else:
                    self.turn_helper(thread_id, agents["helper"])
        return thread_ids

    def edge_cases(self, agents: dict[str, dict[str, Any]], file_id: str) -> list[str]:
        ids = []
        # A thread whose assistant was deleted before the export.
        gone = {**agents["helper"], "id": self.new_id("asst")}
        thread_id = self.thread(metadata={"note": "assistant deleted"})
        self.turn_helper(thread_id, gone)
        ids.append(thread_id)
        # A very long message, and metadata at OpenAI's limits (16 keys, 64/512 characters).
        thread_id = self.thread(metadata={f"k{i:02d}" + "x" * 61: "v" * 512 for i in range(16)})
        long_text = "Here is my full installation log:\n" + "\n".join(
            f"[{i:05d}] relay W closed, furnace call for heat, sensor 19.{i % 10} C"
            for i in range(2_000)
        )
        self.message(thread_id, "user", long_text, created=self.tick())
        ids.append(thread_id)
        # Questions in other scripts and languages, answered from the (English) manual.
        for text in content.UNICODE_MESSAGES:
            thread_id = self.thread(metadata={"lang": "non-en"})
            self.turn_support(thread_id, agents["support"], file_id, text)
            ids.append(thread_id)
        # An empty thread and a thread with only an unanswered question.
        ids.append(self.thread())
        thread_id = self.thread()
        self.message(thread_id, "user", "Hello? Is anyone there?", created=self.tick())
        ids.append(thread_id)
        return ids


def generate(out_dir: Path, *, threads: int = 300, seed: int = 7) -> SampleSummary:
    """Write the sample deployment into ``out_dir`` (created; existing files are replaced)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = _Generator(out_dir, threads, seed)
    store, file_ids = gen.files()
    agents = gen.assistants(store["id"])
    thread_ids = gen.conversations(agents, file_ids[0]) + gen.edge_cases(agents, file_ids[0])
    counts = gen.out.write()
    (out_dir / "thread_ids.txt").write_text("\n".join(thread_ids) + "\n")
    return SampleSummary(out_dir=out_dir, counts=counts)
