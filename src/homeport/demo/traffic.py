"""Client traffic through the gateway: the official OpenAI SDK holding support conversations.

Every turn is a streamed run (so the gateway's answer pair carries the answer) and records which
side served it (the gateway's ``homeport-upstream`` header).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import openai

from homeport.demo.state import CLIENT_TIMEOUT, Demo, DemoFailed
from homeport.sample.content import SUPPORT_QA

MAX_COMPLETION_TOKENS = 256  # the smallest limit the Assistants API accepts for a run
BRIEF = "Answer in one or two short sentences."  # keeps a small local model's answers short
QUESTIONS = [question for question, _, _ in SUPPORT_QA]
PER_SIDE = 3  # conversations continued per side in each batch
CLIENT_KEY = "sk-demo-client"  # the gateway puts each side's own key in its place
FAILED_EVENTS = frozenset({"thread.run.failed", "thread.run.expired", "thread.run.cancelled"})


@dataclass(frozen=True)
class Turn:
    thread_id: str
    side: str
    question: str
    answer: str


@dataclass
class Traffic:
    """The turns of one batch, and the sides that served them."""

    turns: list[Turn] = field(default_factory=list)

    @property
    def sides(self) -> dict[str, int]:
        return dict(Counter(turn.side for turn in self.turns))

    @property
    def conversations(self) -> int:
        return len({turn.thread_id for turn in self.turns})


def gateway_client(demo: Demo) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=demo.gateway_url, api_key=CLIENT_KEY, max_retries=0, timeout=CLIENT_TIMEOUT
    )


def turn(client: openai.OpenAI, thread_id: str, assistant_id: str, question: str) -> Turn:
    """One user message and the streamed run that answers it."""
    raw = client.beta.threads.runs.with_raw_response.create(
        thread_id=thread_id,
        assistant_id=assistant_id,
        additional_messages=[{"role": "user", "content": question}],
        additional_instructions=BRIEF,
        max_completion_tokens=MAX_COMPLETION_TOKENS,
        stream=True,
    )
    side = raw.headers.get("homeport-upstream", "unknown")
    text: list[str] = []
    for event in raw.parse():
        if event.event == "thread.message.delta":
            for part in event.data.delta.content or ():
                if part.type == "text" and part.text is not None and part.text.value:
                    text.append(part.text.value)
        elif event.event in FAILED_EVENTS:
            raise DemoFailed(f"run on {thread_id} ({side}) ended {event.event.rsplit('.', 1)[1]}")
    return Turn(thread_id, side, question, "".join(text))


def converse(
    demo: Demo, assistant_id: str, *, new: int, existing: Iterable[str] = (), offset: int = 0
) -> Traffic:
    """``new`` new threads and one more turn on each of ``existing``, through the gateway."""
    questions = itertools.islice(itertools.cycle(QUESTIONS), offset % len(QUESTIONS), None)
    traffic = Traffic()
    with gateway_client(demo) as client:
        for thread_id in existing:
            traffic.turns.append(turn(client, thread_id, assistant_id, next(questions)))
        for _ in range(new):
            thread = client.beta.threads.create(metadata={"source": "homeport-demo"})
            traffic.turns.append(turn(client, thread.id, assistant_id, next(questions)))
    return traffic


def remember(demo: Demo, traffic: Traffic) -> int:
    """Record the side of each new thread; a continued one must still be on its side.

    Returns how many turns continued an earlier conversation."""
    known = set(demo.pinned)
    for done in traffic.turns:
        side = demo.pinned.setdefault(done.thread_id, done.side)
        if side != done.side:
            raise DemoFailed(f"{done.thread_id} moved from {side} to {done.side}")
    return sum(done.thread_id in known for done in traffic.turns)


def continuing(demo: Demo) -> list[str]:
    """A few conversations of each side to continue (newest first)."""
    by_side: dict[str, list[str]] = defaultdict(list)
    for thread_id, side in demo.pinned.items():
        by_side[side].append(thread_id)
    return [t for side in sorted(by_side) for t in by_side[side][-PER_SIDE:]]
