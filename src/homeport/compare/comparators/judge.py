"""A judge model, asked twice with the answers in both orders to cancel its position bias.

Both orders agreeing decides; a split is ``unsure``. The judge has its own model route (any
OpenAI-compatible endpoint), so it never shares a model with either side under test.
"""

from __future__ import annotations

from homeport.compare.answers import Answer, Outcome, TurnContext, Verdict
from homeport.compare.comparators.base import Comparator
from homeport.config import ModelRoute
from homeport.errors import InvalidRequest

PROMPT = """You compare two answers an assistant gave to the same user message.
Say SAME if they give the user the same information and take the same actions (wording, tone and
order may differ). Say DIFFERENT if a fact, a number, a decision or an action differs, or one
answers and the other does not. Reply with one word: SAME or DIFFERENT.

User message:
{question}

Answer A:
{first}

Answer B:
{second}"""


class ModelJudge:
    """A judge behind a model route from the routing table."""

    def __init__(self, route: ModelRoute) -> None:
        if route.base_url is None:
            raise InvalidRequest(f"model route {route.name!r} has no base_url to reach the judge")
        self.route = route
        from openai import OpenAI  # here, not at the top: the CLI starts without the SDK loaded

        self.client = OpenAI(
            base_url=route.base_url,
            api_key=route.resolved_api_key() or "unused",
            timeout=route.timeout_seconds,
            max_retries=route.max_retries,
            default_headers=route.extra_headers or None,
        )

    def same(self, question: str, first: str, second: str) -> bool:
        reply = self.client.chat.completions.create(
            model=self.route.upstream,
            temperature=0,
            messages=[
                {
                    "role": "user",
                    "content": PROMPT.format(question=question, first=first, second=second),
                }
            ],
        )
        words = (reply.choices[0].message.content or "").upper()
        return "SAME" in words and "DIFFERENT" not in words


class JudgeComparator(Comparator):
    name = "judge"
    cost = 9
    needs_judge = True

    def compare(self, baseline: Answer, candidate: Answer, context: TurnContext) -> Verdict | None:
        judge = self.deps.judge
        if judge is None or not baseline.text.strip() or not candidate.text.strip():
            return None
        forward = judge.same(context.question, baseline.text, candidate.text)
        backward = judge.same(context.question, candidate.text, baseline.text)
        if forward and backward:
            return Verdict(self.name, Outcome.SAME, "same in both orders", 1.0)
        if not forward and not backward:
            return Verdict(self.name, Outcome.DIFFERENT, "different in both orders", 0.0)
        return Verdict(self.name, Outcome.UNSURE, "the two orders disagree", 0.5)
