"""What the comparators see: one side's answer to a turn, and the turn's context.

An ``Answer`` is protocol-neutral: the text the assistant said, the tool calls it made, whether it
failed or refused, and what it cost (latency, time to first token, tokens). Offline replays, the
recorded answers of a bundle and the gateway's shadow traffic all become ``Answer`` objects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str = "{}"


@dataclass(frozen=True)
class Answer:
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    error: str | None = None
    refusal: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        calls = tuple(ToolCall(**call) for call in data.get("tool_calls") or ())
        return cls(**{**data, "tool_calls": calls})


@dataclass(frozen=True)
class TurnContext:
    """The turn both answers respond to: the user's words and the agent's output contract."""

    question: str = ""
    response_format: Any = None
    tools: tuple[dict[str, Any], ...] = ()
    agent_id: str | None = None


class Outcome(StrEnum):
    SAME = "same"
    DIFFERENT = "different"
    UNSURE = "unsure"


@dataclass(frozen=True)
class Verdict:
    comparator: str
    outcome: Outcome
    detail: str = ""
    score: float | None = None


@dataclass(frozen=True)
class Judgement:
    """The verdict on one pair: decided by the first comparator that was sure, in cost order."""

    outcome: Outcome
    decided_by: str | None
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)

    @property
    def equivalent(self) -> bool:
        return self.outcome is Outcome.SAME

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "decided_by": self.decided_by,
            "verdicts": [
                {
                    "comparator": v.comparator,
                    "outcome": v.outcome.value,
                    "detail": v.detail,
                    "score": v.score,
                }
                for v in self.verdicts
            ],
        }
