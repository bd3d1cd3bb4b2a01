"""Latency homeport adds to ``POST /v1/responses`` against calling an instant upstream directly.

Starts, on 127.0.0.1, the scripted model (the instant upstream) and ``homeport serve`` (SQLite in a
temporary folder by default, or ``--database-url``) routing model ``scripted`` to it. One load
generator (aiohttp, closed loop, keep-alive; shared with ``gateway_overhead.py``) runs, in
interleaved rounds with the order shuffled each round: a direct chat completion on the upstream
(the baseline), a response, a streamed response, and a response in a conversation. It reports
p50/p99 per target, the difference to the direct call in the same run, requests per second and
homeport's CPU per request. Everything it starts is stopped by PID; the run ends on its own.

    python bench/responses_overhead.py [--requests 2000] [--rounds 4] [--concurrency 1,16,64]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import uvloop

from _loadgen import Processes, batch, client_session, measured, render, summary, wait_http
from homeport.testing.background import free_port

PROMPT = "Say hello to the benchmark."
HEADERS = {"content-type": "application/json", "authorization": "Bearer bench"}


@dataclass
class Scenario:
    name: str
    path: str
    body: dict[str, object]
    stream: bool = False
    conversation: bool = False


SCENARIOS = [
    Scenario(
        "direct_chat",
        "/chat/completions",
        {"model": "scripted", "max_tokens": 16, "messages": [{"role": "user", "content": PROMPT}]},
    ),
    Scenario(
        "responses", "/responses", {"model": "scripted", "input": PROMPT, "max_output_tokens": 16}
    ),
    Scenario(
        "responses_stream",
        "/responses",
        {"model": "scripted", "input": PROMPT, "max_output_tokens": 16, "stream": True},
        stream=True,
    ),
    Scenario(
        "responses_conv",
        "/responses",
        {"model": "scripted", "input": PROMPT, "max_output_tokens": 16},
        conversation=True,
    ),
]


def start(procs: Processes, work: Path, database_url: str | None) -> tuple[str, str, int]:
    """The scripted model and homeport: (upstream base URL, homeport base URL, homeport PID)."""
    model_port, port = free_port(), free_port()
    procs.start(
        [sys.executable, "-m", "homeport.testing.scripted_model", "--port", str(model_port)],
        work / "model.log",
    )
    wait_http(f"http://127.0.0.1:{model_port}/health")
    config = work / "homeport.toml"
    config.write_text(
        f'database_url = "{database_url or f"sqlite:///{work}/homeport.db"}"\n'
        f'data_dir = "{work}/data"\nport = {port}\nlog_level = "warning"\n'
        f'bootstrap_api_key = "bench"\n'
        f'[[models]]\nname = "scripted"\nbase_url = "http://127.0.0.1:{model_port}/v1"\n'
        f'api_key = "bench"\nmax_retries = 0\n'
    )
    server = procs.start(
        [sys.executable, "-c", "from homeport.cli.main import main; main()", "serve"],
        work / "homeport.log",
        env={"HOMEPORT_CONFIG": str(config)},
    )
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return f"http://127.0.0.1:{model_port}/v1", f"http://127.0.0.1:{port}/v1", server.pid


async def conversation_bodies(
    session: aiohttp.ClientSession, base: str, scenario: Scenario, count: int
) -> list[bytes]:
    """One request body per response, each in a fresh conversation (made before the timing)."""
    bodies = []
    for _ in range(count):
        async with session.post(base + "/conversations", data=b"{}", headers=HEADERS) as reply:
            conversation = (await reply.json())["id"]
        bodies.append(json.dumps({**scenario.body, "conversation": conversation}).encode())
    return bodies


async def timed(
    session: aiohttp.ClientSession,
    url: str,
    scenario: Scenario,
    count: int,
    concurrency: int,
    base: str,
) -> tuple[list[float], int]:
    if not scenario.conversation:
        body = json.dumps(scenario.body).encode()
        return await batch(session, url, body, scenario.stream, count, concurrency)
    latencies: list[float] = []
    errors = 0
    for body in await conversation_bodies(session, base, scenario, count):
        lat, err = await batch(session, url, body, False, 1, 1)
        latencies += lat
        errors += err
    return latencies, errors


async def measure(
    upstream: str, homeport: str, pid: int, args: argparse.Namespace
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    async with client_session() as session:
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            scenarios = [s for s in SCENARIOS if not (s.conversation and concurrency > 1)]
            results: dict[str, tuple[list[float], int, float, float]] = {}
            for scenario in scenarios:  # warm-up: connections, caches, model route
                base = upstream if scenario.name == "direct_chat" else homeport
                await timed(
                    session,
                    base + scenario.path,
                    scenario,
                    max(args.warmup, concurrency),
                    concurrency,
                    base,
                )
                results[scenario.name] = ([], 0, 0.0, 0.0)
            for _ in range(args.rounds):
                random.shuffle(scenarios)
                for scenario in scenarios:
                    base = upstream if scenario.name == "direct_chat" else homeport
                    with measured([pid]) as took:
                        lat, err = await timed(
                            session,
                            base + scenario.path,
                            scenario,
                            args.requests // args.rounds,
                            concurrency,
                            base,
                        )
                    wall, (cpu,) = took.wall, took.cpu
                    old = results[scenario.name]
                    results[scenario.name] = (
                        old[0] + lat,
                        old[1] + err,
                        old[2] + wall,
                        old[3] + cpu,
                    )
            direct = results["direct_chat"][0]
            for name, (lat, err, wall, cpu) in results.items():
                own_cpu = None if name == "direct_chat" else cpu
                cell = summary(lat, err, wall, own_cpu, direct)
                rows.append({"concurrency": concurrency, "scenario": name, **cell})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per cell")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--database-url", help="homeport's database (default: SQLite in a temp dir)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix="responses-bench-") as tmp:
        try:
            upstream, homeport, pid = start(procs, Path(tmp), args.database_url)
            rows = uvloop.run(measure(upstream, homeport, pid, args))
        finally:
            procs.stop_all()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"responses-overhead-{stamp}.json").write_text(json.dumps(rows, indent=1))
    print(render(rows, ["concurrency", "scenario"], "homeport CPU ms/req"))


if __name__ == "__main__":
    main()
