"""The proxy's side of shadow mode: start the shadow worker process and hand exchanges to it.

``submit`` hands one encoded frame to the worker's stdin; it never waits. The frames handed in
one turn of the event loop go out in one write: one system call, and one wake-up of the worker,
for all the answers that turn finished. When the worker falls behind and the pipe's buffer holds
more than ``HANDOFF_BYTES``, or the worker is down, the copy is dropped and counted
(``shadow_dropped_total{reason="handoff_full"|"worker_down"}``), never the request; what waits
is ``shadow_handoff_bytes``. A worker that dies is started again. Its report lines feed this
process's metrics.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from homeport.gateway.config import GatewayConfig
from homeport.gateway.handoff import apply
from homeport.gateway.metrics import GatewayMetrics
from homeport.gateway.pairs import DRAIN_SECONDS_ON_STOP

log = logging.getLogger("homeport.gateway.shadow_process")

HANDOFF_BYTES = 64 << 20  # written but not yet read by the worker
RESTART_SECONDS = 1.0
STOP_SECONDS = 2 * DRAIN_SECONDS_ON_STOP + 5  # the worker drains copies, then pairs


class ShadowProcess:
    def __init__(self, config: GatewayConfig, metrics: GatewayMetrics) -> None:
        self._config = config
        self._metrics = metrics
        self._process: asyncio.subprocess.Process | None = None
        self._stdin: asyncio.StreamWriter | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self._batch: list[bytes] = []  # frames handed in this turn of the loop
        self._batched = 0  # their bytes
        metrics.shadow_handoff.set_function(self.waiting_bytes)

    @property
    def pid(self) -> int | None:
        """The running worker's process ID (None while it is being replaced)."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def waiting_bytes(self) -> int:
        """Frames handed to the worker that it has not read, beyond what the pipe holds."""
        stdin = self._stdin
        written = (
            0 if stdin is None or stdin.is_closing() else stdin.transport.get_write_buffer_size()
        )
        return written + self._batched

    async def start(self) -> None:
        """Start the worker (its pipe takes frames at once, while it is still importing)."""
        first = await self._spawn()
        self._watch = asyncio.create_task(self._keep_running(first), name="gateway-shadow")

    async def _spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "homeport.gateway.shadow_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        process.stdin.write(self._config.model_dump_json().encode() + b"\n")
        self._process, self._stdin = process, process.stdin
        return process

    async def _keep_running(self, process: asyncio.subprocess.Process) -> None:
        """Read the worker's reports; start it again if it dies."""
        while True:
            assert process.stdout is not None
            async for line in process.stdout:
                try:
                    apply(self._metrics, line)
                except Exception as exc:  # a garbled line costs its observations
                    log.warning("bad report from the shadow worker: %s", exc)
            code = await process.wait()
            self._stdin = None
            if self._stopping:
                return
            log.error("shadow worker exited with %s; starting it again", code)
            await asyncio.sleep(RESTART_SECONDS)
            try:
                process = await self._spawn()
            except OSError as exc:  # the dead process's pipe ends at once: try again after a pause
                log.error("starting the shadow worker failed: %s", exc)
                continue
            if self._stopping and process.stdin is not None:  # stopped while it was starting
                process.stdin.close()

    def submit(self, frame: bytes) -> None:
        """Hand one exchange (``handoff.encode``) to the worker, or drop it. Never waits."""
        stdin = self._stdin
        if stdin is None or stdin.is_closing():
            self._metrics.child(self._metrics.shadow_dropped, "worker_down").inc()
            return
        if self.waiting_bytes() > HANDOFF_BYTES:
            self._metrics.child(self._metrics.shadow_dropped, "handoff_full").inc()
            return
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._write)
        self._batch.append(frame)
        self._batched += len(frame)

    def _write(self) -> None:
        batch, self._batch, self._batched = self._batch, [], 0
        if not batch:
            return
        stdin = self._stdin
        if stdin is None or stdin.is_closing():  # the worker died since they were handed
            self._metrics.child(self._metrics.shadow_dropped, "worker_down").inc(len(batch))
            return
        stdin.write(b"".join(batch))

    async def stop(self) -> None:
        """Close the worker's input; it drains and exits (killed if it outlives the bound)."""
        self._stopping = True
        self._write()
        process, stdin = self._process, self._stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
        if self._watch is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._watch), STOP_SECONDS)
        except TimeoutError:
            log.warning("the shadow worker did not stop in %g s: killing it", STOP_SECONDS)
            if process is not None and process.returncode is None:
                process.kill()
            await asyncio.gather(self._watch, return_exceptions=True)
