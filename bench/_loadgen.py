"""What the overhead benchmarks share: a closed-loop aiohttp load generator (and wrk, a compiled
one, for plain requests), process CPU from /proc, child processes that are always stopped, and
the per-cell summary against a baseline measured in the same run."""

from __future__ import annotations

import asyncio
import gc
import glob
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp


@dataclass
class Measured:
    """What one timed round took: wall seconds, and the CPU seconds of each group of PIDs."""

    wall: float = 0.0
    cpu: tuple[float, ...] = ()


@contextmanager
def measured(*groups: list[int]) -> Iterator[Measured]:
    """Time the round inside: its wall clock, and the CPU of each group of processes in
    ``groups``. The load generator's own garbage collector runs before the round and is off
    during it: a full collection of its heap (13-15 ms at C=64) would otherwise land in
    whichever target's round was running, and show as that target's p99."""
    gc.collect()
    gc.disable()
    took = Measured()
    before = [cpu_seconds(pids) for pids in groups]
    t0 = time.perf_counter()
    try:
        yield took
    finally:
        took.wall = time.perf_counter() - t0
        took.cpu = tuple(cpu_seconds(pids) - cpu for pids, cpu in zip(groups, before, strict=True))
        gc.enable()


def client_session() -> aiohttp.ClientSession:
    """The load generator's session: as many connections as its workers, kept alive."""
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    return aiohttp.ClientSession(connector=connector)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(path) as handle:
                    total += int(handle.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e9


def wait_http(url: str, limit: float = 30.0) -> None:
    async def probe() -> None:
        deadline = time.monotonic() + limit
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise SystemExit(f"timeout waiting for {url}")

    asyncio.run(probe())


class Processes:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, args: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        handle = log.open("wb")
        proc = subprocess.Popen(
            args, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT if "nginx" in proc.args[0] else signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def batch(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    stream: bool,
    count: int,
    concurrency: int,
) -> tuple[list[float], int]:
    """``count`` requests from ``concurrency`` closed-loop workers: latencies (s), errors (each
    kind of failure is printed to stderr with its count)."""
    latencies: list[float] = []
    failures: dict[str, int] = {}
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            try:
                async with session.post(
                    url,
                    data=body,
                    headers={"content-type": "application/json", "authorization": "Bearer bench"},
                ) as response:
                    if stream:
                        async for _ in response.content.iter_any():
                            pass
                    else:
                        await response.read()
                    failure = None if response.status == 200 else f"HTTP {response.status}"
            except aiohttp.ClientError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            if failure is None:
                latencies.append(time.perf_counter() - t0)
            else:
                failures[failure] = failures.get(failure, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    for failure, times in failures.items():
        print(f"{url}: {times} failed, {failure}", file=sys.stderr)
    return latencies, sum(failures.values())


WRK_SCRIPT = Path(__file__).with_name("_wrk.lua")


def wrk_batch(url: str, body: bytes, seconds: int, concurrency: int) -> tuple[list[float], int]:
    """``seconds`` of POSTs of ``body`` from ``concurrency`` closed-loop keep-alive connections
    of wrk (Debian's ``wrk``), on one thread: latencies (s), errors (printed by kind, as
    ``batch`` does). wrk's loop is compiled, so the latencies carry none of a Python load
    generator's own pauses; those of failed requests are included."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "60s"]
    done = subprocess.run(
        [*command, "-s", str(WRK_SCRIPT), url],
        env={**os.environ, "WRK_BODY": body.decode()},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"wrk failed on {url}: {(done.stderr or done.stdout).strip()}")
    report = json.loads(done.stdout.splitlines()[-1])
    latencies = [us / 1e6 for us, count in report["latency_us"] for _ in range(count)]
    for kind, times in report["errors"].items():
        if times:
            print(f"{url}: {times} failed, {kind}", file=sys.stderr)
    return latencies, sum(report["errors"].values())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(
    lat: list[float], errors: int, wall: float, cpu: float | None, baseline: list[float]
) -> dict[str, float | int | None]:
    """One cell: latency percentiles, the difference to the baseline's, throughput, and the
    measured process's CPU per successful request (``cpu`` seconds over the cell, or None)."""
    p50, p99 = percentile(lat, 0.5) * 1e3, percentile(lat, 0.99) * 1e3
    return {
        "ok": len(lat),
        "errors": errors,
        "p50_ms": p50,
        "p99_ms": p99,
        "added_p50_ms": p50 - percentile(baseline, 0.5) * 1e3,
        "added_p99_ms": p99 - percentile(baseline, 0.99) * 1e3,
        "per_s": len(lat) / wall if wall else 0.0,
        "cpu_ms": None if cpu is None or not lat else cpu * 1e3 / len(lat),
    }


def render(rows: list[dict[str, object]], keys: list[str], cpu_label: str) -> str:
    """A Markdown table: the identifying ``keys`` of each row, then the summary's columns."""
    head = [*keys, "ok", "err", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms", "per s"]
    lines = ["| " + " | ".join([*head, cpu_label]) + " |", "|" + "---|" * (len(head) + 1)]
    for r in rows:
        cpu = r["cpu_ms"]
        cells = [str(r[k]) for k in keys] + [
            str(r["ok"]),
            str(r["errors"]),
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['added_p50_ms']:+.2f}",
            f"{r['added_p99_ms']:+.2f}",
            f"{r['per_s']:.0f}",
            f"{cpu:.2f}" if isinstance(cpu, float) else "n/a",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
