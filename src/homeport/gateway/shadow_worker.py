"""The shadow worker process: ``python -m homeport.gateway.shadow_worker`` (the gateway starts it).

Each gateway replica runs one. It reads the gateway's config (one JSON line) and then handed-off
exchanges (``handoff`` frames) from stdin, and does all the shadow work there: the copy to the
candidate, tool-output replay through the replay maps in the store (reading a run's calls from
the managed side when the copy that should have learned them was lost), answer pairs to the
sink, a conversation's copies kept in the client's order across replicas (``turns``). Its
observations go back up stdout as report lines. End of input (the gateway stopping, or dying)
drains the queue for a few seconds and exits; an interrupt from the terminal is left to the
gateway, which closes the pipe. By default it takes only the CPU the proxy leaves idle
(``yield_cpu``): on a busy host the served traffic goes first, and the bounded queue takes up
the difference.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import uvloop

from homeport.gateway.config import GatewayConfig
from homeport.gateway.handoff import HEADER_SIZE, Reports, body_sizes, decode
from homeport.gateway.pairs import PairQueue, load_sink
from homeport.gateway.replaymaps import ReplayMaps
from homeport.gateway.seams import Upstream
from homeport.gateway.shadow import ShadowDispatcher, job_of
from homeport.gateway.turns import TurnLedger, TurnOrder
from homeport.gateway.upstream import Side
from homeport.heap import freeze_startup_objects
from homeport.store.db import Database

log = logging.getLogger("homeport.gateway.shadow_worker")

REPORT_SECONDS = 0.05  # how often observations go up to the proxy
EXPIRE_SECONDS = 3600.0  # how often expired replay-map rows are deleted
NICENESS = 10  # added to the gateway's at priority "low", or where SCHED_IDLE is refused


async def _report(reports: Reports, out: asyncio.WriteTransport) -> None:
    while True:
        await asyncio.sleep(REPORT_SECONDS)
        lines = reports.take()
        if lines:
            out.write(lines)


async def _expire(maps: ReplayMaps, ledger: TurnLedger) -> None:
    while True:
        try:
            await asyncio.to_thread(maps.expire)
            await asyncio.to_thread(ledger.expire)
        except Exception as exc:  # the next round tries again; reads ignore expired rows
            log.warning("deleting expired replay maps failed: %s", exc)
        await asyncio.sleep(EXPIRE_SECONDS)


async def serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, sys.stdout.buffer)
    config = GatewayConfig.model_validate_json(await reader.readline())
    yield_cpu(config.shadow.priority)
    db = Database(config.database_url)
    reports = Reports()
    maps = ReplayMaps(db, config.name, config.shadow.replay_ttl_seconds)
    pairs = PairQueue(load_sink(config.shadow, db, config.name), config.shadow, reports)
    primary = Side(Upstream.MANAGED, config.managed)  # only for fallback reads of a run's calls
    # In shadow mode the copies are the homeport side's only traffic: its renewed TLS files are
    # counted from here (the managed side's by the proxy, which connects to it for every client).
    candidate = Side(Upstream.HOMEPORT, config.homeport, reports.tls_reload(Upstream.HOMEPORT))
    ledger = TurnLedger(db, config.name)
    dispatcher = ShadowDispatcher(
        primary, candidate, config.shadow, reports, pairs, maps, TurnOrder(ledger)
    )
    pairs.start()
    dispatcher.start()
    freeze_startup_objects()
    background = [
        asyncio.create_task(_report(reports, out)),
        asyncio.create_task(_expire(maps, ledger)),
    ]
    try:
        while True:
            try:
                header = await reader.readexactly(HEADER_SIZE)
                rest = await reader.readexactly(body_sizes(header))
            except asyncio.IncompleteReadError:
                break  # the gateway closed the pipe
            dispatcher.submit(job_of(decode(header, rest)))
    finally:
        await dispatcher.stop()
        await pairs.stop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        out.write(reports.take())
        out.close()
        await primary.close()
        await candidate.close()
        db.dispose()


def yield_cpu(priority: str) -> None:
    """At ``priority = "idle"`` (where the system has it) every thread of this process, and any
    it starts later, runs at ``SCHED_IDLE``; otherwise this thread and those it starts run at
    nice +10 (``os.nice`` is per thread on Linux: a pool an import started keeps its niceness).

    At nice +10 a proxy woken by a request often found the worker running and not yet behind
    it in the scheduler's reckoning, and waited for the next tick (4 ms at 250 Hz): that was
    shadow's p99 over passthrough's. A ``SCHED_IDLE`` process gives way at once.
    """
    if priority == "idle":
        try:
            for thread in os.listdir("/proc/self/task"):  # any an import started (a BLAS pool)
                os.sched_setscheduler(int(thread), os.SCHED_IDLE, os.sched_param(0))
            return
        except (AttributeError, OSError) as exc:  # not Linux; refused (a seccomp profile)
            log.warning("the shadow worker runs at nice +%d, not SCHED_IDLE: %s", NICENESS, exc)
    os.nice(NICENESS)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    uvloop.run(serve())


if __name__ == "__main__":
    main()
