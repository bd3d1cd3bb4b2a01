"""``homeport compare``: offline equivalence of recorded conversations against a candidate."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from homeport.cli.common import console, fail, print_json, settings
from homeport.compare.protocols import Protocol_
from homeport.errors import InvalidRequest

if TYPE_CHECKING:
    from homeport.compare.transcripts import Transcript
    from homeport.config import Settings


def _key(value: str | None, env: str) -> str:
    key = value or os.environ.get(env)
    if not key:
        raise InvalidRequest(f"no API key: pass --{env.lower().replace('_', '-')} or set {env}")
    return key


def _transcripts(
    config: Settings,
    bundle: Path | None,
    key_file: Path | None,
    agent: str | None,
    limit: int | None,
) -> list[Transcript]:
    from homeport.bundle import load_key, open_bundle
    from homeport.compare.transcripts import BundleRecords, StoreRecords, load_transcripts
    from homeport.store.db import Database

    if bundle is None:
        db = Database(config.database_url)
        try:
            return load_transcripts(StoreRecords(db), limit=limit, agent=agent)
        finally:
            db.dispose()
    key = load_key(key_file) if key_file else None
    with open_bundle(bundle, key=key) as reader:
        return load_transcripts(BundleRecords(reader), limit=limit, agent=agent)


def compare(
    bundle: Annotated[
        Path | None,
        typer.Argument(
            help="Bundle with the recorded conversations (default: the store's conversations)."
        ),
    ] = None,
    base_url: Annotated[
        str, typer.Option(help="The candidate's OpenAI-compatible base URL.")
    ] = "http://127.0.0.1:8080/v1",
    api_key: Annotated[
        str | None, typer.Option(help="The candidate's key (or HOMEPORT_API_KEY).")
    ] = None,
    protocol: Annotated[Protocol_, typer.Option(help="responses or chat.")] = "responses",
    model: Annotated[
        str | None, typer.Option(help="Ask for this model instead of the agent's.")
    ] = None,
    baseline_url: Annotated[
        str | None,
        typer.Option(help="The managed side, when reachable: replayed twice for the noise floor."),
    ] = None,
    baseline_key: Annotated[str | None, typer.Option(help="Its key (or MANAGED_API_KEY).")] = None,
    baseline_protocol: Annotated[Protocol_, typer.Option(help="responses or chat.")] = "responses",
    noise: Annotated[bool, typer.Option(help="Measure the noise floor (a second run).")] = True,
    agent: Annotated[str | None, typer.Option(help="Only this agent (id or name).")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many conversations.")] = None,
    comparators: Annotated[
        str | None, typer.Option(help="Comma-separated comparators (default: every usable one).")
    ] = None,
    embeddings: Annotated[bool, typer.Option(help="Use the local embedding model.")] = True,
    judge_model: Annotated[
        str | None, typer.Option(help="A judge model route from homeport.toml (off by default).")
    ] = None,
    max_output_tokens: Annotated[
        int | None, typer.Option(min=16, help="Cap each replayed answer at this many tokens.")
    ] = None,
    delta: Annotated[float, typer.Option(help="Tolerated disagreement beyond noise.")] = 0.03,
    concurrency: Annotated[int, typer.Option(help="Turns replayed at once.")] = 4,
    out: Annotated[Path, typer.Option(help="Folder for results and reports (resumable).")] = Path(
        "compare-report"
    ),
    record: Annotated[
        str | None,
        typer.Option(help="Store the results for this rollout (its noise floor for the gates)."),
    ] = None,
    key_file: Annotated[Path | None, typer.Option(help="Key of an encrypted bundle.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Replay recorded conversations against a candidate, turn by turn, and report equivalence."""
    from homeport.bundle import BundleError
    from homeport.compare.deps import build_dependencies
    from homeport.compare.offline import OfflineComparison, read_results
    from homeport.compare.pipeline import Pipeline
    from homeport.compare.records import record_offline
    from homeport.compare.replay import OpenAITarget
    from homeport.compare.report import build_report, write_report
    from homeport.store.db import Database

    config = settings()
    try:
        transcripts = _transcripts(config, bundle, key_file, agent, limit)
    except BundleError as exc:
        raise fail(str(exc)) from exc
    if not transcripts:
        raise fail(
            "no recorded conversation with an answer to compare"
            + (f" for agent {agent!r}" if agent else "")
        )
    deps, notes = build_dependencies(config, embeddings=embeddings, judge_model=judge_model)
    for note in notes:
        console.print(f"[yellow]{note}[/yellow]", highlight=False)
    names = [n.strip() for n in comparators.split(",")] if comparators else None
    pipeline = Pipeline.build(deps, names)
    candidate = OpenAITarget(
        "candidate",
        base_url,
        _key(api_key, "HOMEPORT_API_KEY"),
        protocol,
        model,
        max_output_tokens=max_output_tokens,
    )
    baseline = None
    if baseline_url is not None:
        baseline = OpenAITarget(
            "baseline",
            baseline_url,
            _key(baseline_key, "MANAGED_API_KEY"),
            baseline_protocol,
            model,
            max_output_tokens=max_output_tokens,
        )
    run = OfflineComparison(candidate, pipeline, baseline, noise, concurrency)
    turns = sum(len(t.exchanges) for t in transcripts)
    with Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
        transient=True,
    ) as bar:
        task = bar.add_task("turns", total=turns)
        for _ in run.run(
            transcripts, out, lambda done, total: bar.update(task, completed=done, total=total)
        ):
            pass
    rows = read_results(out)
    report = build_report(rows, delta=delta)
    report["comparators"] = pipeline.names
    paths = write_report(report, out)
    if record is not None:
        db = Database(config.database_url)
        try:
            stored = record_offline(db, record, rows)
        finally:
            db.dispose()
        report["recorded"] = {"rollout": record, "records": stored}
    if as_json:
        print_json(report)
        return
    for agent_report in report["agents"]:
        low, high = agent_report["equivalence_interval"]
        line = (
            f"{agent_report['agent_name'] or agent_report['agent_id']}: "
            f"{agent_report['equivalent']}/{agent_report['turns']} equivalent "
            f"({low:.1%}-{high:.1%})"
        )
        if agent_report["noise"]:
            line += f", noise {agent_report['noise']['rate']:.1%}"
        if agent_report["beyond_noise"]:
            line += (
                f", beyond noise {agent_report['beyond_noise']['estimate'] * 100:+.1f} pp: "
                f"{agent_report['beyond_noise']['status']}"
            )
        console.print(line, highlight=False)
    console.print(f"reports: {', '.join(str(p) for p in paths)}", highlight=False)
