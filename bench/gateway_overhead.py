"""Added latency of the gateway against calling the upstream directly, with nginx as the anchor.

Starts, on 127.0.0.1, two scripted model servers (the primary upstream and the shadow target),
two gateways (passthrough, and shadow mirroring to the second model) and, when Debian's nginx is
installed, nginx as a plain reverse proxy and with ``mirror`` to the second model. One load
generator (aiohttp, closed loop, keep-alive) then runs every target in interleaved rounds (target
order shuffled each round) at each concurrency, for a JSON and a streamed chat completion. It
reports p50/p99 per target and the difference to the direct upstream in the same run, plus the
proxy's CPU per request and, for the shadow gateway, its shadow worker process's CPU per request
(the copy, off the request path), and the load average before and after. Everything it starts is
stopped by PID; the run ends on its own.

    python bench/gateway_overhead.py [--requests 2000] [--rounds 4] [--concurrency 1,16,64]
                                     [--upstream-latency-ms 0] [--shadow-target-nice 0]
                                     [--split-cores]

With ``--upstream-latency-ms`` both model servers wait that long before answering, as a real
model does: at an instant upstream the 2 cores are saturated from C=16 on and the added latency
measures CPU contention; with a model-like latency it measures what a client would see. With
``--shadow-target-nice N`` the shadow target runs at that niceness: the copies' answers (for the
shadow gateway and nginx's mirror alike) then take the cores only when the client's path leaves
them idle, as when homeport runs on hosts of its own.

With ``--split-cores`` the machine's CPUs are split in two, as a deployment splits them between
hosts: the load generator and the primary upstream (the clients and the managed platform) run on
the first half, and what the operator runs (both gateways with their shadow worker, nginx, and
the shadow target, homeport's stand-in) on the second. Every proxy then still pays for its own
hop and its copies, on its own side, but no longer takes CPU from the client or the upstream it
is measured against: "added" is the proxy's latency rather than the machine's queueing.
"""

from __future__ import annotations

import argparse
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

import uvloop

from _loadgen import Processes, batch, client_session, measured, render, summary, wait_http
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
    shadow_nice: int = 0,
    placement: Placement = Placement(),
) -> list[Target]:
    """``shadow_nice``: the shadow target's niceness (deployed, it runs on hosts of its own)."""
    python = sys.executable
    primary, shadow = free_port(), free_port()
    for port, name in ((primary, "primary"), (shadow, "shadow")):
        model = ["-m", "homeport.testing.scripted_model", "--latency-ms", str(latency_ms)]
        pinned = placement.outside if name == "primary" else placement.operator
        niced = ["nice", "-n", str(shadow_nice)] if name == "shadow" and shadow_nice else []
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


async def measure(
    targets: list[Target], requests: int, rounds: int, concurrencies: list[int], warmup: int
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    async with client_session() as session:
        for concurrency in concurrencies:
            for scenario, payload in SCENARIOS.items():
                body = json.dumps(payload).encode()
                stream = bool(payload.get("stream"))
                for target in targets:  # warm-up: connections and caches
                    await batch(
                        session,
                        target.base_url + "/chat/completions",
                        body,
                        stream,
                        max(warmup, concurrency),
                        concurrency,
                    )
                results = {t.name: ([], 0, 0.0, 0.0, 0.0) for t in targets}
                per_round = requests // rounds
                for _ in range(rounds):
                    order = list(targets)
                    random.shuffle(order)
                    for target in order:
                        with measured(target.pids, target.helpers) as took:
                            lat, err = await batch(
                                session,
                                target.base_url + "/chat/completions",
                                body,
                                stream,
                                per_round,
                                concurrency,
                            )
                        wall, (cpu, helper) = took.wall, took.cpu
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
        type=int,
        default=0,
        help="run the shadow target (homeport's stand-in) at this niceness, as if on its own host",
    )
    parser.add_argument(
        "--split-cores",
        action="store_true",
        help="the load generator and primary upstream on half the CPUs, the operator on the rest",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
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
                    args.requests,
                    args.rounds,
                    [int(c) for c in args.concurrency.split(",")],
                    args.warmup,
                )
            )
            shadow = next(t for t in targets if t.name == "gateway_shadow")
            time.sleep(2)  # the copies still queued finish (or are dropped) and are reported
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
