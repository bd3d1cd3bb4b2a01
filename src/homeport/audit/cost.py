"""Re-embedding time and the cost comparison, from the inventory and a few stated assumptions.

The assumptions are printed in the report; every one can be changed on the command line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from homeport.audit.inventory import Inventory

CHARS_PER_TOKEN = 4.0
CHUNK_TOKENS = 800
CHUNK_OVERLAP = 400

# Managed prices in USD per million tokens (input, output), as published for these models.
MODEL_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}
MANAGED_EMBEDDING_PRICE = 0.02  # text-embedding-3-small, per million tokens


@dataclass
class CostAssumptions:
    local_chunks_per_second: float = 350.0  # all-MiniLM-L6-v2 int8 ONNX on 2 cores (benchmarks)
    self_hosted_monthly_usd: float = 0.0  # what the team's own servers cost per month
    default_price: tuple[float, float] = (2.50, 10.00)


@dataclass
class CostEstimate:
    knowledge_bytes: int
    knowledge_tokens: int
    chunks: int
    reembed_seconds: float
    managed_embedding_usd: float
    months: int
    managed_inference_usd_per_month: float
    self_hosted_usd_per_month: float
    by_model: dict[str, dict[str, float]]
    assumptions: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def chunks_for(tokens: int) -> int:
    """Chunks that OpenAI's auto strategy (800 tokens, 400 overlap) makes of ``tokens``."""
    if tokens <= 0:
        return 0
    stride = CHUNK_TOKENS - CHUNK_OVERLAP
    return max(1, -(-(tokens - CHUNK_OVERLAP) // stride))


def estimate(inv: Inventory, assumptions: CostAssumptions | None = None) -> CostEstimate:
    a = assumptions or CostAssumptions()
    knowledge = sum(store.bytes for store in inv.stores.values())
    tokens = int(knowledge / CHARS_PER_TOKEN)
    chunks = chunks_for(tokens)
    months: set[str] = set()
    by_model: dict[str, dict[str, float]] = {}
    for agent in inv.agents.values():
        months.update(agent.tokens_by_month)
        model = agent.model or "unknown"
        row = by_model.setdefault(model, {"prompt_tokens": 0, "completion_tokens": 0, "usd": 0.0})
        row["prompt_tokens"] += agent.prompt_tokens
        row["completion_tokens"] += agent.completion_tokens
    total_usd = 0.0
    for model, row in by_model.items():
        price_in, price_out = MODEL_PRICES.get(model, a.default_price)
        row["usd"] = round(
            (row["prompt_tokens"] * price_in + row["completion_tokens"] * price_out) / 1e6, 4
        )
        total_usd += row["usd"]
    n_months = max(1, len(months - {"unknown"}))
    return CostEstimate(
        knowledge_bytes=knowledge,
        knowledge_tokens=tokens,
        chunks=chunks,
        reembed_seconds=round(chunks / a.local_chunks_per_second, 2),
        managed_embedding_usd=round(tokens * MANAGED_EMBEDDING_PRICE / 1e6, 6),
        months=n_months,
        managed_inference_usd_per_month=round(total_usd / n_months, 2),
        self_hosted_usd_per_month=a.self_hosted_monthly_usd,
        by_model=by_model,
        assumptions={
            "chars_per_token": CHARS_PER_TOKEN,
            "chunking": f"{CHUNK_TOKENS} tokens, {CHUNK_OVERLAP} overlap",
            "local_chunks_per_second": a.local_chunks_per_second,
            "prices_usd_per_million_tokens": {
                m: MODEL_PRICES.get(m, a.default_price) for m in by_model
            },
        },
    )
