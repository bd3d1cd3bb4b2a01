"""``openai-responses``: OpenAI Responses + Conversations, read-only.

OpenAI cannot list conversations or stored responses, so their IDs come from files (one per
line, from the app's own database or logs). Phases: vector stores, files, conversations with
their items, then stored responses with their input and output items (items of a response that
belongs to a conversation are already the conversation's, and are not written twice).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from homeport.bundle import Record
from homeport.sources import openai_mapping as to
from homeport.sources.assistants_api import auth
from homeport.sources.base import ExportContext, Source, SourceOptions
from homeport.sources.errors import SourceError
from homeport.sources.files import FileFetcher, export_files, export_vector_stores
from homeport.sources.http import HttpClient
from homeport.sources.thread_ids import read_thread_ids

PHASES = ("vector_stores", "files", "conversations", "responses", "done")


class OpenAIResponsesOptions(SourceOptions):
    base_url: str = "https://api.openai.com/v1"
    api_key: SecretStr | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    api_version: str | None = None
    conversation_ids_file: Path | None = None
    response_ids_file: Path | None = None
    rate: float | None = 10.0


class OpenAIResponsesSource(Source):
    kind = "openai-responses"
    description = "OpenAI Responses and Conversations: conversations, stored responses, files."
    Options = OpenAIResponsesOptions
    options: OpenAIResponsesOptions

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

        self._seen_items: set[str] = set()

    def close(self) -> None:
        self.http.close()

    def export(self, ctx: ExportContext) -> None:
        cursors = ctx.cursors
        phase = cursors.get("phase", PHASES[0])
        self._not_found: dict[str, list[str]] = cursors.get("not_found", {})
        files = FileFetcher(self.http)
        for name in PHASES[PHASES.index(phase) : -1]:
            state = cursors if name == phase else {"phase": name}
            then = PHASES[PHASES.index(name) + 1]
            if name == "vector_stores":
                export_vector_stores(self.http, ctx, state, then=then)
            elif name == "files":
                export_files(files, ctx, state, then=then)
            else:
                self._by_ids(ctx, name, state, then)
        ctx.checkpoint({"phase": "done", "not_found": self._not_found}, force=True)

    def _by_ids(self, ctx: ExportContext, phase: str, state: dict[str, Any], then: str) -> None:
        path = (
            self.options.conversation_ids_file
            if phase == "conversations"
            else self.options.response_ids_file
        )
        done = int(state.get("done", 0))
        missing = self._not_found.setdefault(phase, [])
        if path is not None:
            ids = read_thread_ids(path)
            for _ in range(done):
                next(ids, None)
            fetch = self._conversation if phase == "conversations" else self._response
            for object_id in ids:
                records = fetch(object_id)
                if records is None:
                    missing.append(object_id)
                for part, record in records or []:
                    ctx.write(part, record)
                done += 1
                ctx.checkpoint({"phase": phase, "done": done, "not_found": self._not_found})
        ctx.checkpoint({"phase": then, "not_found": self._not_found}, force=True)

    def _get(self, path: str) -> dict[str, Any] | None:
        response = self.http.request(path)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise SourceError(f"GET {path}: HTTP {response.status_code}")
        body: dict[str, Any] = response.json()
        return body

    def _conversation(self, conversation_id: str) -> list[tuple[str, Record]] | None:
        raw = self._get(f"conversations/{conversation_id}")
        if raw is None:
            return None
        records: list[tuple[str, Record]] = [("conversations", to.conversation(raw))]
        for item in self.http.paginate(f"conversations/{conversation_id}/items"):
            records.append(
                ("items", to.conversation_item(item, conversation_id, raw.get("created_at")))
            )
        return records

    def _response(self, response_id: str) -> list[tuple[str, Record]] | None:
        raw = self._get(f"responses/{response_id}")
        if raw is None:
            return None
        run = to.response(raw)
        records: list[tuple[str, Record]] = [("runs", run)]
        if run["conversation_id"] is None:
            created = raw.get("created_at")
            seen = self._seen_items
            inputs = self.http.paginate(f"responses/{response_id}/input_items")
            for io, items in (("input", inputs), ("output", iter(raw.get("output") or []))):
                for item in items:
                    if item["id"] in seen:
                        continue  # a chained response repeats earlier items
                    seen.add(item["id"])
                    record = to.conversation_item(item, None, created)
                    record.update(response_id=response_id, io=io)
                    records.append(("items", record))
        return records
