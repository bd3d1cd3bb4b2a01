"""File bytes from an OpenAI-shaped platform, or the parsed text where the bytes are refused.

OpenAI does not serve the bytes of ``assistants`` files; the vector store file content
endpoint still returns the text it parsed out of them, which is better than nothing and is
flagged for the audit.
"""

from __future__ import annotations

from typing import Any

from homeport.sources import openai_mapping as to
from homeport.sources.base import ExportContext
from homeport.sources.http import HttpClient

REFUSED = frozenset({400, 401, 403, 404, 405, 410})


class FileFetcher:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def fetch(
        self, ctx: ExportContext, file_id: str, vector_store_id: str | None
    ) -> tuple[str | None, str | None]:
        """Store the file's bytes (or its parsed text); returns (sha256, text_sha256)."""
        response = self.http.request(f"files/{file_id}/content", stream=True)
        try:
            if response.status_code == 200:
                return ctx.put_blob(response.iter_bytes(1 << 16)), None
        finally:
            response.close()
        if vector_store_id is None:
            return None, None
        text = self.parsed_text(vector_store_id, file_id)
        if text is None:
            return None, None
        return None, ctx.put_blob([text.encode()])

    def parsed_text(self, vector_store_id: str, file_id: str) -> str | None:
        parts: list[str] = []
        params: dict[str, Any] = {}
        while True:
            path = f"vector_stores/{vector_store_id}/files/{file_id}/content"
            response = self.http.request(path, params)
            if response.status_code in REFUSED:
                return None
            page = response.json()
            parts.extend(c.get("text", "") for c in page.get("data") or page.get("content") or [])
            if not page.get("has_more") or not page.get("next_page"):
                return "".join(parts)
            params = {"page": page["next_page"]}


def export_vector_stores(
    http: HttpClient, ctx: ExportContext, state: dict[str, Any], *, then: str
) -> None:
    """The ``vector_stores`` phase: every store and its file list."""
    for raw in http.paginate("vector_stores", after=state.get("after")):
        ctx.write("vector_stores", to.vector_store(raw))
        for vs_file in http.paginate(f"vector_stores/{raw['id']}/files"):
            ctx.write("vector_store_files", to.vector_store_file(vs_file, raw["id"]))
        ctx.checkpoint({"phase": "vector_stores", "after": raw["id"]})
    ctx.checkpoint({"phase": then}, force=True)


def export_files(
    files: FileFetcher, ctx: ExportContext, state: dict[str, Any], *, then: str
) -> None:
    """The ``files`` phase (after ``vector_stores``): every file with its bytes or text."""
    stores: dict[str, str] = {}
    for vs_file in ctx.committed("vector_store_files"):
        stores.setdefault(vs_file["id"], vs_file["vector_store_id"])
    for raw in files.http.paginate("files", after=state.get("after")):
        sha, text_sha = files.fetch(ctx, raw["id"], stores.get(raw["id"]))
        ctx.write("files", to.file(raw, sha256=sha, text_sha256=text_sha))
        ctx.checkpoint({"phase": "files", "after": raw["id"]})
    ctx.checkpoint({"phase": then}, force=True)
