"""``assistants-api``: any Assistants v2 endpoint, read-only.

OpenAI (``https://api.openai.com/v1``), Azure AI Foundry classic agents and Azure OpenAI (give
``api_version``: the key goes in the ``api-key`` header), any OpenAI-compatible server, or
homeport itself. Order of work, each a resumable phase: vector stores (and their files),
files (bytes; where the platform refuses them, the vector store's parsed text), assistants,
threads with their messages, runs and run steps.

Threads are listed where the platform can (``GET /threads``); otherwise their IDs come from
``thread_ids_file`` (one per line, taken from the app's own database or logs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from homeport.bundle import FLAG_AGENT_MISSING, Record
from homeport.sources import openai_mapping as to
from homeport.sources.base import ExportContext, Source, SourceOptions
from homeport.sources.errors import SourceError
from homeport.sources.files import FileFetcher, export_files, export_vector_stores
from homeport.sources.http import HttpClient
from homeport.sources.thread_ids import read_thread_ids

STEP_INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
PHASES = ("vector_stores", "files", "assistants", "threads", "done")


class AssistantsApiOptions(SourceOptions):
    base_url: str
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    api_version: str | None = None  # set for Azure: api-key header + api-version parameter
    thread_ids_file: Path | None = None
    list_threads: bool | None = None  # None: try GET /threads, fall back to thread_ids_file
    concurrency: int = 4  # threads fetched at once (the rate limit still holds)
    rate: float | None = 10.0


def auth(options: AssistantsApiOptions | Any) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query parameters for OpenAI-style or Azure-style endpoints."""
    key = options.api_key.get_secret_value() if options.api_key else None
    if key is None and options.api_key_env:
        key = os.environ.get(options.api_key_env)
        if key is None:
            raise SourceError(f"environment variable {options.api_key_env} is not set")
    if key is None:
        raise SourceError("no API key: set api_key_env (or api_key)")
    headers = {"OpenAI-Beta": "assistants=v2"}
    if options.api_version:
        return {**headers, "api-key": key}, {"api-version": options.api_version}
    return {**headers, "Authorization": f"Bearer {key}"}, {}


class AssistantsApiSource(Source):
    kind = "assistants-api"
    description = "An Assistants v2 endpoint: OpenAI, Azure AI Foundry classic agents, homeport."
    Options = AssistantsApiOptions
    options: AssistantsApiOptions

    def __init__(self, options: SourceOptions) -> None:
        super().__init__(options)
        headers, params = auth(self.options)
        self.http = HttpClient(
            self.options.base_url,
            headers=headers,
            params=params,
            rate=self.options.rate,
            max_retries=self.options.max_retries,
        )

    def close(self) -> None:
        self.http.close()

    def export(self, ctx: ExportContext) -> None:
        cursors = ctx.cursors
        phase = cursors.get("phase", PHASES[0])
        start = PHASES.index(phase)
        files = FileFetcher(self.http)
        for name in PHASES[start:-1]:
            state = cursors if name == phase else {"phase": name}
            getattr(self, f"_{name}")(ctx, state, files)
        ctx.checkpoint({"phase": "done"}, force=True)

    # -- phases ------------------------------------------------------------------------------
    def _vector_stores(self, ctx: ExportContext, state: dict[str, Any], _: FileFetcher) -> None:
        export_vector_stores(self.http, ctx, state, then="files")

    def _files(self, ctx: ExportContext, state: dict[str, Any], files: FileFetcher) -> None:
        export_files(files, ctx, state, then="assistants")

    def _assistants(self, ctx: ExportContext, state: dict[str, Any], _: FileFetcher) -> None:
        for raw in self.http.paginate("assistants", after=state.get("after")):
            ctx.write("agents", to.agent(raw))
            for tool in to.tools(raw):
                ctx.write("tools", tool)
            ctx.checkpoint({"phase": "assistants", "after": raw["id"]})
        ctx.checkpoint({"phase": "threads"}, force=True)

    def _threads(self, ctx: ExportContext, state: dict[str, Any], _: FileFetcher) -> None:
        agents = {record["id"] for record in ctx.committed("agents")}
        missing: list[str] = list(state.get("not_found", []))
        done = int(state.get("done", 0))
        ids = self._thread_ids(state.get("after"), skip=done)
        with ThreadPoolExecutor(max(1, self.options.concurrency)) as pool:
            while True:
                batch = list(islice(ids, max(1, self.options.concurrency)))
                if not batch:
                    break
                for thread_id, records in zip(batch, pool.map(self._thread, batch), strict=True):
                    if records is None:
                        missing.append(thread_id)
                    else:
                        for part, record in records:
                            _flag_missing_agent(record, part, agents)
                            ctx.write(part, record)
                done += len(batch)
                ctx.checkpoint(
                    {"phase": "threads", "done": done, "after": batch[-1], "not_found": missing}
                )
        ctx.checkpoint({"phase": "done", "threads": done, "not_found": missing}, force=True)

    def _thread_ids(self, after: str | None, *, skip: int) -> Iterator[str]:
        listing = self.options.list_threads
        if listing is None:
            listing = self.options.thread_ids_file is None and self._can_list_threads()
        if listing:
            yield from (raw["id"] for raw in self.http.paginate("threads", after=after))
            return
        if self.options.thread_ids_file is None:
            raise SourceError(
                "this platform cannot list threads: give thread_ids_file "
                "(thread IDs from the app's database or logs, one per line)"
            )
        ids = read_thread_ids(self.options.thread_ids_file)
        for _ in range(skip):
            next(ids, None)
        yield from ids

    def _can_list_threads(self) -> bool:
        response = self.http.request("threads", {"limit": 1})
        return response.status_code == 200 and isinstance(response.json().get("data"), list)

    def _thread(self, thread_id: str) -> list[tuple[str, Record]] | None:
        """All records of one thread, or None if the platform no longer has it."""
        response = self.http.request(f"threads/{thread_id}")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise SourceError(f"GET threads/{thread_id}: HTTP {response.status_code}")
        records: list[tuple[str, Record]] = [("conversations", to.conversation(response.json()))]
        for raw in self.http.paginate(f"threads/{thread_id}/messages"):
            records.append(("items", to.message(raw)))
        for raw in self.http.paginate(f"threads/{thread_id}/runs"):
            records.append(("runs", to.run(raw)))
            steps = f"threads/{thread_id}/runs/{raw['id']}/steps"
            for step in self.http.paginate(steps, params={"include[]": STEP_INCLUDE}):
                records.append(("run_steps", to.step(step)))
        return records


def _flag_missing_agent(record: Record, part: str, agents: set[str]) -> None:
    """Mark runs and messages whose assistant was deleted before the export."""
    if part in ("runs", "items") and record.get("agent_id") and record["agent_id"] not in agents:
        record.setdefault("flags", []).append(FLAG_AGENT_MISSING)
