"""The wire protocols a replay can speak: ``responses`` (the Responses API, inline agent
configuration) or ``chat`` (any Chat Completions server). Apart from ``replay`` so the CLI can
name them without loading the OpenAI SDK."""

from __future__ import annotations

from typing import Literal

Protocol_ = Literal["responses", "chat"]
