"""The demo runs end to end (with the scripted model: deterministic and instant)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from homeport.demo import QUESTIONS, run_demo


@pytest.mark.slow
def test_demo_holds_a_streamed_conversation() -> None:
    output = io.StringIO()
    transcript = run_demo(model="scripted", console=Console(file=output, width=200))
    assert [turn["user"] for turn in transcript] == list(QUESTIONS)
    assert [turn["assistant"] for turn in transcript] == [f"Echo: {q}" for q in QUESTIONS]
    assert {turn["status"] for turn in transcript} == {"completed"}
    assert len({turn["thread_id"] for turn in transcript}) == 1
    assert "Echo: Name one thing to see there." in output.getvalue()
