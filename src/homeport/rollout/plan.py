"""The rollout plan: steps with bake times and sample minimums, gate limits, rollback policy.

It lives in ``homeport.toml`` under ``[rollout]``::

    [rollout]
    steps = ["shadow", 5, 10, 25, 50, 100]   # or tables: {target = 5, bake_seconds = 3600}
    bake_seconds = 1800
    min_turns = 500
    min_conversations = 50
    check_interval_seconds = 60
    max_failed_checks = 3
    on_rollback = "finish"                   # or "evacuate"

    [rollout.gates]
    equivalence_delta = 0.03

    [rollout.evacuation]                     # where "evacuate" reads and writes transcripts
    managed_base_url = "https://api.openai.com/v1"
    homeport_base_url = "http://homeport:8080/v1"
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from homeport.tls import ClientTls, Reload, client_tls

SHADOW = "shadow"


class Step(BaseModel):
    """One step: ``target`` is "shadow" or the percent of new conversations sent to homeport.

    Unset bake time and minimums take the plan's defaults.
    """

    target: Literal["shadow"] | int
    bake_seconds: float | None = None
    min_turns: int | None = None
    min_conversations: int | None = None

    @field_validator("target")
    @classmethod
    def _percent(cls, value: str | int) -> str | int:
        if isinstance(value, int) and not 1 <= value <= 100:
            raise ValueError(f"a step's weight is a percent within 1..100, got {value}")
        return value

    @property
    def name(self) -> str:
        if self.target == SHADOW:
            return SHADOW
        return "full" if self.target == 100 else f"canary-{self.target}"

    @property
    def mode(self) -> str:
        if self.target == SHADOW:
            return "shadow"
        return "full" if self.target == 100 else "canary"

    @property
    def weight(self) -> float:
        """The share (0..1) of new conversations homeport gets during this step."""
        return 0.0 if self.target == SHADOW else int(self.target) / 100


class Gates(BaseModel):
    """Limits checked every interval. Defaults follow the cutover runbook (docs/cutover.md)."""

    error_rate_floor: float = Field(0.01, ge=0, le=1)
    error_rate_margin: float = Field(0.005, ge=0, le=1)
    latency_ratio: float = Field(1.2, gt=0)
    ttft_ratio: float = Field(1.2, gt=0)
    equivalence_delta: float = Field(0.03, ge=0, le=1)
    #: One-sided confidence with which a gate must be exceeded to fail (rather than be marginal).
    confidence: float = Field(0.95, gt=0.5, lt=1)


TLS_FILES = ("ca_file", "client_cert_file", "client_key_file")


class Evacuation(BaseModel):
    """How pinned conversations move to the managed side (``homeport rollout evacuate``, or the
    controller on rollback under ``on_rollback = "evacuate"``). Keys come from the environment:
    the managed key must belong to the project the clients use (they keep their own keys)."""

    managed_base_url: str | None = None
    managed_api_key_env: str = "HOMEPORT_MANAGED_API_KEY"
    homeport_base_url: str | None = None
    homeport_api_key_env: str = "HOMEPORT_GATEWAY_KEY"  # the gateway's admin key on homeport
    #: An https side behind a private CA, or asking for a client certificate (as the gateway's
    #: sides: the CA is trusted on top of the system's roots; files checked at load, renewed
    #: files taken while running).
    managed_ca_file: Path | None = None
    managed_client_cert_file: Path | None = None
    managed_client_key_file: Path | None = None
    homeport_ca_file: Path | None = None
    homeport_client_cert_file: Path | None = None
    homeport_client_key_file: Path | None = None
    #: Runs in progress on homeport get this long to finish, then are cancelled.
    run_wait_seconds: float = Field(60.0, ge=0)
    #: Wait after moving pins before copying late entries: at least the gateways' refresh.
    settle_seconds: float = Field(3.0, ge=0)

    @model_validator(mode="after")
    def _usable_tls_files(self) -> Evacuation:
        for side in ("managed", "homeport"):
            try:
                self.tls(side)
            except ValueError as exc:
                raise ValueError(f"{side}_{exc}") from None
        return self

    def tls(
        self,
        side: Literal["managed", "homeport"],
        on_reload: Callable[[Reload], None] | None = None,
    ) -> ClientTls | None:
        """The side's TLS, following its files, when any of them is set (else the SDK's
        default); ``on_reload`` hears of renewed files taken or refused."""
        url = getattr(self, f"{side}_base_url")
        ca, cert, key = (getattr(self, f"{side}_{name}") for name in TLS_FILES)
        if url is None or not (ca or cert or key):
            return None
        return client_tls(url, ca, cert, key, on_reload=on_reload)


def _step(value: Any) -> Any:
    return {"target": value} if isinstance(value, str | int) else value


class RolloutPlan(BaseModel):
    steps: list[Step] = Field(
        default_factory=lambda: [Step(target=t) for t in (SHADOW, 5, 10, 25, 50, 100)]
    )
    bake_seconds: float = Field(1800.0, ge=0)
    min_turns: int = Field(500, ge=0)
    min_conversations: int = Field(50, ge=0)
    check_interval_seconds: float = Field(60.0, gt=0)
    max_failed_checks: int = Field(3, ge=1)
    on_rollback: Literal["finish", "evacuate"] = "finish"
    gates: Gates = Field(default_factory=Gates)
    evacuation: Evacuation = Field(default_factory=Evacuation)

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> Any:
        return [_step(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _ordered(self) -> RolloutPlan:
        if not self.steps:
            raise ValueError("a rollout plan needs at least one step")
        weights = [s.weight for s in self.steps]
        if weights != sorted(weights) or len(set(weights)) != len(weights):
            raise ValueError("steps must rise strictly: shadow first, then increasing percents")
        if self.on_rollback == "evacuate":
            for side in ("managed", "homeport"):
                if not getattr(self.evacuation, f"{side}_base_url"):
                    raise ValueError(
                        f'on_rollback = "evacuate" needs rollout.evacuation.{side}_base_url'
                    )
        return self

    def bake(self, step: Step) -> float:
        return self.bake_seconds if step.bake_seconds is None else step.bake_seconds

    def turns(self, step: Step) -> int:
        return self.min_turns if step.min_turns is None else step.min_turns

    def conversations(self, step: Step) -> int:
        return self.min_conversations if step.min_conversations is None else step.min_conversations
