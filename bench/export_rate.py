"""Export against a rate-limited Assistants platform: achieved request rate against the allowed
rate, and that no object is lost.

    .venv/bin/python bench/export_rate.py --rate 100 --threads 300

The fake managed platform (homeport.testing.fake_assistants_platform) serves the sample
deployment at ``--rate`` requests/s (429 + Retry-After beyond it). The exporter is configured
with the same rate. Baseline measured in the same run: the platform's allowed rate itself; the
report is the ratio achieved/allowed and the objects exported against the objects served.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from homeport.bundle import open_bundle
from homeport.sample import generate
from homeport.sources.base import make_source, run_export
from homeport.testing.background import BackgroundServer
from homeport.testing.fake_assistants_platform import FakeAssistantsPlatform, PlatformData

KEY = "bench-key"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--threads", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--burst", type=float, default=5.0, help="Requests the platform lets through at once."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="homeport-bench-") as tmp:
        root = Path(tmp)
        generate(root / "dump", threads=args.threads)
        run_export(make_source("openai-objects", {"path": root / "dump"}), root / "served")
        with open_bundle(root / "served") as reader:
            data = PlatformData.from_bundle(reader)
            served = reader.counts()
        platform = FakeAssistantsPlatform(
            data, api_key=KEY, api_version="2025-05-01-preview", rate=args.rate, burst=args.burst
        )
        with BackgroundServer(platform.app) as server:
            source = make_source(
                "assistants-api",
                {
                    "base_url": server.url + platform.base_path,
                    "api_key": KEY,
                    "api_version": "2025-05-01-preview",
                    "thread_ids_file": root / "dump" / "thread_ids.txt",
                    "rate": args.rate,
                    "concurrency": args.concurrency,
                },
            )
            start = time.perf_counter()
            manifest = run_export(source, root / "exported")
            elapsed = time.perf_counter() - start
        stats = platform.stats
        achieved = stats.served / elapsed
        exported = manifest.counts()
        lost = {k: served[k] - exported[k] for k in served if served[k] != exported[k]}
        print(
            f"allowed {args.rate:.0f} req/s; served {stats.served} requests in {elapsed:.1f} s = "
            f"{achieved:.1f} req/s ({achieved / args.rate:.1%} of allowed); "
            f"429s {stats.throttled}; objects lost: {lost or 'none'}"
        )


if __name__ == "__main__":
    main()
