"""``homeport compare``: replay recorded conversations against a candidate and score every turn.

For each exchange the candidate answers the recorded history plus the client's input; the answer
is compared with what the managed platform answered (recorded in the bundle, or a fresh replay on
the managed side when it is reachable). The noise floor comes from the baseline against itself:
two replays on the managed side where reachable, otherwise a second run of the candidate.

Results stream to ``results.jsonl`` in the output folder, one line per exchange, so an
interrupted run resumes where it stopped; the report is rendered from that file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from homeport.compare.answers import Answer, Judgement, TurnContext
from homeport.compare.pipeline import Pipeline
from homeport.compare.replay import Target
from homeport.compare.transcripts import Exchange, Transcript

RESULTS = "results.jsonl"


@dataclass(frozen=True)
class TurnResult:
    """One scored exchange. ``baseline`` is the recorded answer or the managed replay."""

    key: str
    agent_id: str
    agent_name: str | None
    conversation_id: str
    index: int
    question: str
    context: TurnContext
    baseline: Answer
    candidate: Answer
    judgement: Judgement
    noise_source: str | None = None
    noise: Judgement | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "agent_id": self.agent_id,
            "agent_name": self.agent_name,
            "conversation_id": self.conversation_id,
            "index": self.index,
            "question": self.question,
            "context": {
                "response_format": self.context.response_format,
                "tools": list(self.context.tools),
            },
            "baseline": self.baseline.to_dict(),
            "candidate": self.candidate.to_dict(),
            "judgement": self.judgement.to_dict(),
            "noise_source": self.noise_source,
            "noise": self.noise.to_dict() if self.noise else None,
        }


def read_results(out_dir: Path) -> list[dict[str, Any]]:
    """Every result line written so far (a torn last line from a crash is skipped)."""
    path = out_dir / RESULTS
    if not path.exists():
        return []
    rows = []
    for line in path.read_bytes().splitlines():
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return rows


@dataclass
class OfflineComparison:
    candidate: Target
    pipeline: Pipeline
    baseline: Target | None = None
    noise: bool = True
    concurrency: int = 4

    def _score(self, transcript: Transcript, index: int, exchange: Exchange) -> TurnResult:
        agent = transcript.agent
        context = TurnContext(
            question=exchange.question,
            response_format=agent.response_format,
            tools=agent.tools,
            agent_id=agent.id,
        )
        candidate = self.candidate.answer(agent, exchange)
        noise_source = None
        noise = None
        if self.baseline is not None:
            baseline = self.baseline.answer(agent, exchange)
            if self.noise:
                again = self.baseline.answer(agent, exchange)
                noise_source, noise = "baseline", self.pipeline.judge(baseline, again, context)
        else:
            baseline = exchange.recorded
            if self.noise:
                again = self.candidate.answer(agent, exchange)
                noise_source, noise = "candidate", self.pipeline.judge(candidate, again, context)
        return TurnResult(
            key=f"{transcript.conversation_id}#{index}",
            agent_id=agent.id,
            agent_name=agent.name,
            conversation_id=transcript.conversation_id,
            index=index,
            question=exchange.question,
            context=context,
            baseline=baseline,
            candidate=candidate,
            judgement=self.pipeline.judge(baseline, candidate, context),
            noise_source=noise_source,
            noise=noise,
        )

    def run(
        self,
        transcripts: list[Transcript],
        out_dir: Path,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[TurnResult]:
        """Score every exchange not already in ``out_dir``; yields results as they finish."""
        out_dir.mkdir(parents=True, exist_ok=True)
        done = {row["key"] for row in read_results(out_dir)}
        todo = [
            (t, i, e)
            for t in transcripts
            for i, e in enumerate(t.exchanges)
            if f"{t.conversation_id}#{i}" not in done
        ]
        total, finished = len(todo) + len(done), len(done)
        lock = threading.Lock()
        with (
            (out_dir / RESULTS).open("ab") as handle,
            ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool,
        ):
            for result in pool.map(lambda job: self._score(*job), todo):
                with lock:
                    handle.write(orjson.dumps(result.to_dict()) + b"\n")
                    handle.flush()
                    finished += 1
                if progress is not None:
                    progress(finished, total)
                yield result
