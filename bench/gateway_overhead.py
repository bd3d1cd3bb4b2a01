"""Added latency of the gateway against calling the upstream directly, with nginx as the anchor.

Starts, on 127.0.0.1, two scripted model servers (the primary upstream and the shadow target),
two gateways (passthrough, and shadow mirroring to the second model) and, when Debian's nginx is
installed, nginx as a plain reverse proxy and with ``mirror`` to the second model. One load
generator (aiohttp, closed loop, keep-alive) then runs every target in interleaved rounds (target
order shuffled each round) at each concurrency, for a JSON and a streamed chat completion. It
reports p50/p99 per target and the difference to the direct upstream in the same run, plus the
proxy's CPU per request and, for the shadow gateway, its shadow worker process's CPU per request
(the copy, off the request path), and the load average before and after. After each round of
the shadow gateway it waits until every copy is answered or dropped, counting the worker's CPU
meanwhile with the round, so that no round's copies run in the next target's round. Everything
it starts is stopped by PID; the run ends on its own.

    python bench/gateway_overhead.py [--requests 2000] [--rounds 4] [--concurrency 1,16,64]
                                     [--upstream-latency-ms 0] [--shadow-target-nice 0|idle]
                                     [--split-cores] [--wrk-seconds N]

With ``--upstream-latency-ms`` both model servers wait that long before answering, as a real
model does: at an instant upstream the 2 cores are saturated from C=16 on and the added latency
measures CPU contention; with a model-like latency it measures what a client would see. With
``--shadow-target-nice N`` the shadow target runs at that niceness (``idle``: Linux's
``SCHED_IDLE``): the copies' answers (for the shadow gateway and nginx's mirror alike) then take
the cores only when the client's path leaves them idle, as when homeport runs on hosts of its own.

With ``--split-cores`` the machine's CPUs are split in two, as a deployment splits them between
hosts: the load generator and the primary upstream (the clients and the managed platform) run on
the first half, and what the operator runs (both gateways with their shadow worker, nginx, and
the shadow target, homeport's stand-in) on the second. Every proxy then still pays for its own
hop and its copies, on its own side, but no longer takes CPU from the client or the upstream it
is measured against: "added" is the proxy's latency rather than the machine's queueing.

With ``--wrk-seconds N`` the requests come from wrk (Debian's ``wrk``, compiled, one thread) for
N seconds per round in place of ``--requests`` from the aiohttp load generator. Python's loop
pauses now and then for its own work with 64 connections open, and those pauses land in every
target's p99; wrk's do not, so its p99 is the proxies'.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop

from _loadgen import (
    Processes,
    batch,
    client_session,
    measured,
    render,
    summary,
    wait_http,
    wrk_batch,
)
from homeport.testing.background import free_port

PAYLOAD = {
    "model": "scripted",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
}
SCENARIOS = {"chat": {**PAYLOAD}, "chat_stream": {**PAYLOAD, "stream": True}}


@dataclass(frozen=True)
class Placement:
    """Command prefixes pinning a process to the outside's CPUs or the operator's."""

    outside: tuple[str, ...] = ()
    operator: tuple[str, ...] = ()

    @classmethod
    def split(cls) -> Placement:
        """The first half of this process's CPUs for the outside (this process moves there
        too), the rest for the operator's processes."""
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise SystemExit("--split-cores needs at least 2 CPUs")
        half = len(cpus) // 2
        os.sched_setaffinity(0, cpus[:half])
        return cls(cls._taskset(cpus[:half]), cls._taskset(cpus[half:]))

    @staticmethod
    def _taskset(cpus: list[int]) -> tuple[str, ...]:
        return ("taskset", "-c", ",".join(map(str, cpus)))


@dataclass
class Target:
    name: str
    base_url: str
    pids: list[int] = field(default_factory=list)  # proxy processes whose CPU is counted
    helpers: list[int] = field(default_factory=list)  # the shadow worker (counted apart)


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


NGINX_CONF = """daemon off;
worker_processes 1;
pid nginx.pid;
error_log logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path tmp/client_body; proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
    access_log off;
    keepalive_timeout 65s; keepalive_requests 100000; client_max_body_size 32m;
    upstream primary {{ server 127.0.0.1:{primary}; keepalive 128; keepalive_requests 100000; }}
    upstream shadow {{ server 127.0.0.1:{shadow}; keepalive 128; keepalive_requests 100000; }}
    proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off;
    proxy_read_timeout 600s; proxy_send_timeout 600s;
    server {{
        listen 127.0.0.1:{plain} backlog=4096;
        location /v1/ {{ proxy_pass http://primary; }}
    }}
    server {{
        listen 127.0.0.1:{mirror} backlog=4096;
        location /v1/ {{ mirror /_mirror; mirror_request_body on; proxy_pass http://primary; }}
        location = /_mirror {{ internal; proxy_pass http://shadow$request_uri; }}
    }}
}}
"""


def start_everything(
    procs: Processes,
    work: Path,
    use_nginx: bool,
    latency_ms: float,
    shadow_nice: int | str = 0,
    placement: Placement = Placement(),
) -> list[Target]:
    """``shadow_nice``: the shadow target's niceness, or ``"idle"`` (deployed, it runs on hosts of
    its own)."""
    python = sys.executable
    primary, shadow = free_port(), free_port()
    for port, name in ((primary, "primary"), (shadow, "shadow")):
        model = ["-m", "homeport.testing.scripted_model", "--latency-ms", str(latency_ms)]
        pinned = placement.outside if name == "primary" else placement.operator
        niced: list[str] = []
        if name == "shadow" and shadow_nice == "idle":
            niced = ["chrt", "--idle", "0"]
        elif name == "shadow" and shadow_nice:
            niced = ["nice", "-n", str(shadow_nice)]
        procs.start(
            [*pinned, *niced, python, *model, "--port", str(port)],
            work / f"{name}.log",
        )
    for port in (primary, shadow):
        wait_http(f"http://127.0.0.1:{port}/health")
    targets = [Target("direct", f"http://127.0.0.1:{primary}/v1")]
    for mode in ("passthrough", "shadow"):
        port = free_port()
        config = work / f"gateway-{mode}.toml"
        config.write_text(
            f'name = "bench-{mode}"\nport = {port}\nmode = "{mode}"\n'
            f'database_url = "sqlite:///{work}/gateway-{mode}.db"\nstats_seconds = 5\n'
            f'[managed]\nbase_url = "http://127.0.0.1:{primary}/v1"\n'
            f'[homeport]\nbase_url = "http://127.0.0.1:{shadow}/v1"\napi_key = "bench"\n'
            f'[shadow]\nsink = "jsonl"\njsonl_path = "{work}/pairs-{mode}.jsonl"\n'
        )
        proc = procs.start(
            [
                *placement.operator,
                python,
                "-c",
                "from homeport.cli.main import main; main()",
                "gateway",
                "--config",
                str(config),
            ],
            work / f"gateway-{mode}.log",
        )
        wait_http(f"http://127.0.0.1:{port}/healthz")
        url = f"http://127.0.0.1:{port}/v1"
        targets.append(Target(f"gateway_{mode}", url, [proc.pid], children(proc.pid)))
    if use_nginx:
        plain, mirror = free_port(), free_port()
        prefix = work / "nginx"
        for sub in ("logs", "tmp"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(primary=primary, shadow=shadow, plain=plain, mirror=mirror)
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        master = procs.start(
            [*placement.operator, nginx, "-c", str(conf), "-p", str(prefix)], work / "nginx.log"
        )
        wait_http(f"http://127.0.0.1:{plain}/v1/models")
        wait_http(f"http://127.0.0.1:{mirror}/v1/models")
        pids = [master.pid, *children(master.pid)]
        targets += [
            Target("nginx", f"http://127.0.0.1:{plain}/v1", pids),
            Target("nginx_mirror", f"http://127.0.0.1:{mirror}/v1", pids),
        ]
    return targets


def shadow_copies(target: Target) -> dict[str, float]:
    """From the shadow gateway's /metrics: requests it served, copies the candidate answered,
    copies dropped by reason (warm-up included)."""
    url = target.base_url.removesuffix("/v1") + "/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        served = re.match(r'homeport_gateway_requests_total\{.*role="(\w+)".*\} (\S+)', line)
        if served:
            found[served[1]] = found.get(served[1], 0) + float(served[2])
        dropped = re.match(r'homeport_gateway_shadow_dropped_total\{reason="(\w+)"\} (\S+)', line)
        if dropped:
            found[f"dropped_{dropped[1]}"] = float(dropped[2])
    return found


async def settled(target: Target, limit: float = 60.0) -> None:
    """Until the shadow gateway has answered or dropped a copy of every request it served, so
    that the copies of one round do not take the operator's CPU in the next target's round."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = shadow_copies(target)
        done = found.get("shadow", 0) + sum(v for k, v in found.items() if k.startswith("dropped"))
        if done >= found.get("served", 0):
            return
        await asyncio.sleep(0.05)
    raise SystemExit(f"{target.name}: copies still in flight after {limit:.0f} s")


@dataclass(frozen=True)
class Load:
    """How each batch is sent: ``requests`` per cell from the aiohttp load generator, or, with
    ``wrk_seconds``, that many seconds per round (one for the warm-up) from wrk."""

    requests: int
    rounds: int
    warmup: int
    wrk_seconds: int | None = None

    async def batch(
        self,
        session: aiohttp.ClientSession,
        url: str,
        payload: dict[str, object],
        concurrency: int,
        warm: bool = False,
    ) -> tuple[list[float], int]:
        body = json.dumps(payload).encode()
        if self.wrk_seconds is not None:
            return wrk_batch(url, body, 1 if warm else self.wrk_seconds, concurrency)
        count = max(self.warmup, concurrency) if warm else self.requests // self.rounds
        return await batch(session, url, body, bool(payload.get("stream")), count, concurrency)


async def measure(
    targets: list[Target], load: Load, concurrencies: list[int]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    async with client_session() as session:
        for concurrency in concurrencies:
            for scenario, payload in SCENARIOS.items():
                for target in targets:  # warm-up: connections and caches
                    url = target.base_url + "/chat/completions"
                    await load.batch(session, url, payload, concurrency, warm=True)
                    if target.helpers:
                        await settled(target)
                results = {t.name: ([], 0, 0.0, 0.0, 0.0) for t in targets}
                for _ in range(load.rounds):
                    order = list(targets)
                    random.shuffle(order)
                    for target in order:
                        url = target.base_url + "/chat/completions"
                        with measured(target.pids, target.helpers) as took:
                            lat, err = await load.batch(session, url, payload, concurrency)
                        wall, (cpu, helper) = took.wall, took.cpu
                        if target.helpers:  # the round's copies finish: the worker's CPU
                            with measured(target.helpers) as drain:  # (not the proxy's scrapes)
                                await settled(target)
                            helper += drain.cpu[0]
                        old = results[target.name]
                        results[target.name] = (
                            old[0] + lat,
                            old[1] + err,
                            old[2] + wall,
                            old[3] + cpu,
                            old[4] + helper,
                        )
                direct = results["direct"][0]
                for target in targets:
                    lat, err, wall, cpu, helper = results[target.name]
                    cell = summary(lat, err, wall, cpu if target.pids else None, direct)
                    rows.append(
                        {
                            "concurrency": concurrency,
                            "scenario": scenario,
                            "target": target.name,
                            **cell,
                            "mean_ms": statistics.fmean(lat) * 1e3 if lat else None,
                            "worker_cpu_ms": helper * 1e3 / len(lat)
                            if target.helpers and lat
                            else None,
                        }
                    )
    return rows


def _niceness(text: str) -> int | str:
    """A niceness (-20 to 19), or ``idle``."""
    if text == "idle":
        return text
    if text.lstrip("-").isdigit() and -20 <= int(text) <= 19:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a niceness from -20 to 19 or idle, not {text!r}")


def _positive(text: str) -> int:
    """A whole number of seconds, at least 1 (wrk's shortest run)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected whole seconds, at least 1, not {text!r}")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per cell")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--no-nginx", action="store_true", help="skip the nginx anchor")
    parser.add_argument(
        "--upstream-latency-ms", type=float, default=0.0, help="model servers' answer delay"
    )
    parser.add_argument(
        "--shadow-target-nice",
        type=_niceness,
        default=0,
        help="run the shadow target (homeport's stand-in) at this niceness (or idle: "
        "SCHED_IDLE), as if on its own host",
    )
    parser.add_argument(
        "--split-cores",
        action="store_true",
        help="the load generator and primary upstream on half the CPUs, the operator on the rest",
    )
    parser.add_argument(
        "--wrk-seconds",
        type=_positive,
        help="send with wrk (compiled, Debian's wrk) for this many seconds per round, "
        "in place of --requests from the aiohttp load generator",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    if args.wrk_seconds and not shutil.which("wrk"):
        parser.error("--wrk-seconds needs wrk on PATH (Debian: apt-get install -y wrk)")
    placement = Placement.split() if args.split_cores else Placement()
    use_nginx = not args.no_nginx and (shutil.which("nginx") or Path("/usr/sbin/nginx").exists())
    procs = Processes()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        try:
            targets = start_everything(
                procs,
                Path(tmp),
                bool(use_nginx),
                args.upstream_latency_ms,
                args.shadow_target_nice,
                placement,
            )
            rows = uvloop.run(
                measure(
                    targets,
                    Load(args.requests, args.rounds, args.warmup, args.wrk_seconds),
                    [int(c) for c in args.concurrency.split(",")],
                )
            )
            shadow = next(t for t in targets if t.name == "gateway_shadow")
            copies = shadow_copies(shadow)
        finally:
            procs.stop_all()
    load = {"before": load_before, "after": os.getloadavg()}
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"gateway-overhead-{stamp}.json").write_text(
        json.dumps(
            {
                "load_average": load,
                "upstream_latency_ms": args.upstream_latency_ms,
                "shadow_target_nice": args.shadow_target_nice,
                "split_cores": args.split_cores,
                "load_generator": "wrk" if args.wrk_seconds else "aiohttp",
                "shadow_copies": copies,
                "rows": rows,
            },
            indent=1,
        )
    )
    print(render(rows, ["concurrency", "scenario", "target"], "proxy CPU ms/req"))
    for row in rows:
        if row["worker_cpu_ms"] is not None:
            print(
                f"shadow worker CPU, C={row['concurrency']} {row['scenario']}: "
                f"{row['worker_cpu_ms']:.2f} ms/req"
            )
    print("shadow gateway, requests by role and copies dropped by reason:", copies)
    print("load average (1, 5, 15 min) before:", *load_before, "after:", *load["after"])


if __name__ == "__main__":
    main()
