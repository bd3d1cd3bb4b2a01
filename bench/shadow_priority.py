"""The shadow worker's CPU priority beside a CPU-bound neighbour, ``idle`` against ``low``.

Starts two scripted model servers answering after ``--latency-ms`` (the managed side and
homeport) on the first half of the CPUs, with the load generator (wrk), and then, on the other
half, one shadow gateway at a time: at ``[shadow] priority = "idle"`` and at ``"low"``, first
alone and then beside busy loops at normal priority, one per CPU of that half (a local model on
the gateway's host, say). Each runs ``--seconds`` at ``--concurrency`` clients. Reported per run:
the client's p50/p99, the copies homeport answered, their mean answer time as the worker read
it (the model's own is ``--latency-ms``), the copies dropped, and the bytes of copies the worker
had not read three seconds after the load stopped.

    python bench/shadow_priority.py [--seconds 10] [--concurrency 64] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _loadgen import Processes, percentile, wait_http, wrk_batch
from gateway_overhead import PAYLOAD, Placement, Target, shadow_copies
from homeport.testing.background import free_port

SETTLE_SECONDS = 3.0
PRIORITIES = ("idle", "low")


def _metric(text: str, name: str, labels: str = "") -> float:
    braces = r"\{" + re.escape(labels) + r"\}" if labels else ""
    found = re.search(rf"^{name}{braces} (\S+)$", text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(30)


def start_gateway(
    procs: Processes, work: Path, models: tuple[int, int], placement: Placement, priority: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = work / f"gateway-{priority}.toml"
    config.write_text(
        f'port = {port}\nmode = "shadow"\ndatabase_url = "sqlite:///{work}/{port}.db"\n'
        f'[managed]\nbase_url = "http://127.0.0.1:{models[0]}/v1"\n'
        f'[homeport]\nbase_url = "http://127.0.0.1:{models[1]}/v1"\napi_key = "bench"\n'
        f'[shadow]\nsink = "none"\npriority = "{priority}"\n'
    )
    cli = "from homeport.cli.main import main; main()"
    proc = procs.start(
        [*placement.operator, sys.executable, "-c", cli, "gateway", "--config", str(config)],
        work / f"gateway-{port}.log",
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz")
    return proc, url


def one_run(url: str, args: argparse.Namespace) -> dict[str, float | None]:
    body = json.dumps(PAYLOAD).encode()
    latencies, errors = wrk_batch(
        url + "/v1/chat/completions", body, args.seconds, args.concurrency
    )
    time.sleep(SETTLE_SECONDS)
    copies = shadow_copies(Target("gateway_shadow", url + "/v1"))
    with urllib.request.urlopen(url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    shadow = 'role="shadow",side="homeport"'
    answered = _metric(text, "homeport_gateway_upstream_seconds_count", shadow)
    seconds = _metric(text, "homeport_gateway_upstream_seconds_sum", shadow)
    return {
        "ok": len(latencies),
        "errors": errors,
        "p50_ms": percentile(latencies, 0.5) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "served": copies.get("served", 0.0),
        "answered": answered,
        "homeport_mean_ms": seconds / answered * 1e3 if answered else None,  # none answered
        "dropped": sum(v for k, v in copies.items() if k.startswith("dropped")),
        "unread_bytes": _metric(text, "homeport_gateway_shadow_handoff_bytes"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk's run per gateway")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the models' answer delay")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        parser.error("needs wrk on PATH (Debian: apt-get install -y wrk)")
    cpus = len(os.sched_getaffinity(0))
    placement = Placement.split()
    procs = Processes()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="shadow-priority-") as tmp:
        work = Path(tmp)
        try:
            ports = free_port(), free_port()
            for port in ports:
                model = ["-m", "homeport.testing.scripted_model", "--port", str(port)]
                procs.start(
                    [
                        *placement.outside,
                        sys.executable,
                        *model,
                        "--latency-ms",
                        str(args.latency_ms),
                    ],
                    work / f"model-{port}.log",
                )
                wait_http(f"http://127.0.0.1:{port}/health")
            for busy in (0, cpus - cpus // 2):
                for priority in PRIORITIES:
                    gateway, url = start_gateway(procs, work, ports, placement, priority)
                    loops = [
                        procs.start(
                            [*placement.operator, sys.executable, "-c", "while True: pass"],
                            work / "busy.log",
                        )
                        for _ in range(busy)
                    ]
                    try:
                        rows.append(
                            {"priority": priority, "busy_loops": busy, **one_run(url, args)}
                        )
                    finally:
                        for proc in [*loops, gateway]:
                            _stop(proc)
        finally:
            procs.stop_all()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"shadow-priority-{stamp}.json").write_text(json.dumps(rows, indent=1))
    print(
        "| priority | busy loops | client p50 ms | p99 ms | served | copies answered "
        "| homeport mean ms (as read) | dropped | unread bytes |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mean = "n/a" if r["homeport_mean_ms"] is None else f"{r['homeport_mean_ms']:.1f}"
        print(
            f"| {r['priority']} | {r['busy_loops']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['served']:.0f} | {r['answered']:.0f} | {mean} "
            f"| {r['dropped']:.0f} | {r['unread_bytes']:.0f} |"
        )


if __name__ == "__main__":
    main()
