"""What the demo's steps share: the folder, the two homeport instances, the results so far."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from rich.console import Console

from homeport.config import Settings
from homeport.errors import HomeportError
from homeport.rollout.controller import Controller
from homeport.rollout.plan import RolloutPlan

CLIENT_TIMEOUT = 300.0  # seconds; a small local model on a busy machine can be slow


# The default plan's gates and failure policy, with bake times and sample minimums a demo can meet.
DEMO_PLAN = RolloutPlan(
    steps=["shadow", 25, 50, 100],
    bake_seconds=2,
    min_turns=6,
    min_conversations=3,
    check_interval_seconds=1,
)


class DemoFailed(HomeportError):
    """A demo step failed; the message names the step and the reason in one line."""


def new_key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(16)


@dataclass
class Instance:
    """One homeport the demo runs: its own folder (SQLite store, blobs), keys and address."""

    name: str
    folder: Path
    api_key: str = field(default_factory=lambda: new_key("hp-demo-"))
    admin_key: str = field(default_factory=lambda: new_key("hp-demo-admin-"))
    base_url: str = ""

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.folder / 'homeport.db'}"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def settings(self) -> Settings:
        """The settings its import and reconcile use (``homeport serve`` reads the same values
        from the instance's homeport.toml)."""
        return Settings(database_url=self.database_url, data_dir=self.data_dir)

    def client(self) -> openai.OpenAI:
        if not self.base_url:
            raise DemoFailed(f"{self.name} is not started yet")
        return openai.OpenAI(
            base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=CLIENT_TIMEOUT
        )


@dataclass
class Demo:
    """The state the steps share. ``results`` holds each step's facts (``--json`` prints them)."""

    workdir: Path
    console: Console
    stack: ExitStack
    model: str = "local"
    threads: int = 120
    persona: str = "homeport"  # the scripted model's persona for homeport (model "scripted")
    plan: RolloutPlan = field(default_factory=lambda: DEMO_PLAN)
    homeport: Instance = field(init=False)
    managed: Instance = field(init=False)
    upstream_url: str = ""
    upstream_model: str = ""
    context_window: int = 128_000
    gateway_url: str = ""
    controller: Controller | None = None
    pinned: dict[str, str] = field(default_factory=dict)
    """Threads created through the gateway -> the side that served them (they must stay)."""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.homeport = Instance("homeport", self.workdir / "homeport")
        self.managed = Instance("managed", self.workdir / "managed")

    @property
    def sample_dir(self) -> Path:
        return self.workdir / "sample"

    @property
    def bundle_dir(self) -> Path:
        return self.workdir / "bundle"

    def rollout(self) -> Controller:
        if self.controller is None:
            raise DemoFailed("the gateway is not started yet")
        return self.controller

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def text(self, text: str, *, end: str = "\n") -> None:
        """Model output, printed verbatim (no markup)."""
        self.console.print(text, end=end, highlight=False, markup=False)


Step = Callable[[Demo], str]
"""A step does one thing, keeps its facts in ``demo.results`` and returns a one-line headline."""
