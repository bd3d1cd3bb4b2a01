"""Settings of the knowledge area (``[knowledge]`` in homeport.toml, ``HOMEPORT_KNOWLEDGE__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

LOCAL_MODEL = "all-MiniLM-L6-v2"
LocalPrecision = Literal["int8", "fp32"]


class KnowledgeSettings(BaseModel):
    max_file_bytes: int = 512 * 1024 * 1024
    """Largest upload accepted (OpenAI's limit is 512 MB)."""

    blob_store: Literal["local", "s3"] = "local"
    """Where uploaded files live: a folder under ``data_dir`` or an S3-compatible bucket."""
    s3_bucket: str | None = None
    s3_prefix: str = "homeport/files/"
    s3_endpoint_url: str | None = None
    """For S3-compatible servers (MinIO, Ceph, ...); credentials come from the usual AWS chain."""
    s3_region: str | None = None

    embedder: Literal["local", "openai"] = "local"
    """``local``: all-MiniLM-L6-v2 on onnxruntime, offline. ``openai``: any OpenAI-compatible
    embeddings server (``embeddings_base_url``)."""
    local_precision: LocalPrecision = "int8"
    """Arithmetic of the local model. ``int8``: about half the CPU per text, vectors within
    0.997 mean cosine of float32 ones (recorded as ``local:all-MiniLM-L6-v2-int8``). ``fp32``:
    the vectors sentence-transformers makes (``local:all-MiniLM-L6-v2``, the name stores made
    before int8 carry). A store is searched and extended only with the precision that built it."""
    embedding_model: str = LOCAL_MODEL
    embeddings_base_url: str | None = None
    embeddings_api_key_env: str | None = None
    embedding_dimensions: int | None = None
    embed_batch_size: int | None = None
    """Texts per request to an ``openai`` embeddings server (default 64); the local model runs
    one text window per call."""
    rewrite_model: str | None = None
    """A routed chat model (``[[models]]`` name) for search's ``rewrite_query``."""

    ingest_workers: int = 1
    """Files processed at once per process (embedding is CPU-bound)."""
    lease_seconds: float = 60.0
    poll_seconds: float = 1.0
    poll_after_ms: int = 200
    """Sent as ``openai-poll-after-ms``: how soon SDK helpers such as upload_and_poll look again."""
    sweep_seconds: float = 300.0
    """How often the worker removes what expired stores and files leave behind
    (homeport.knowledge.sweep)."""
