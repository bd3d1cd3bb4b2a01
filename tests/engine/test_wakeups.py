"""Wake-ups across processes (PostgreSQL ``LISTEN``/``NOTIFY``): one homeport server executes
runs (A, the SDK's server); a second run engine on the same database (B, in the test's event
loop, executing nothing) hears each of A's commits on its bus, and its cancel reaches A.

B's bus waiters are set only by its listener (B executes no run and publishes nothing), so a
loop that advances only when a waiter fires proves the wake-ups, with no timing involved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import pytest
from sqlalchemy import Connection, text

from homeport.config import Settings
from homeport.engine.engine import Engine
from homeport.engine.events import stored_events
from homeport.engine.queue import load_run
from homeport.services import Services
from tests.support.servers import HomeportServer

pytestmark = [
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
    pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning"),
]

TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}
TERMINATE_LISTENERS = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
)
WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {}}}


async def until(check: Callable[[], bool]) -> None:
    """Wait for ``check`` (the test's timeout bounds it; no timed assertion)."""
    while True:
        if check():
            return
        await asyncio.sleep(0.01)


@asynccontextmanager
async def listening_engine(settings: Settings) -> AsyncIterator[Engine]:
    """Process B: a run engine that executes nothing (no worker slot) but listens."""
    engine_settings = settings.engine.model_copy(update={"workers": 0})
    services = Services.from_settings(settings.model_copy(update={"engine": engine_settings}))
    engine = services.engine
    assert engine is not None
    await engine.start()
    try:
        await until(lambda: engine.bus.signalled)  # LISTEN is in place
        yield engine
    finally:
        await engine.stop()
        services.db.dispose()


async def status_after_wakeup(engine: Engine, waiter: asyncio.Event, run_id: str) -> str:
    await waiter.wait()
    waiter.clear()
    row = await engine.read(lambda conn: load_run(conn, run_id))
    assert row is not None
    status: str = row["status"]
    return status


def test_commits_of_another_process_wake_waits_in_order(
    homeport_server: Callable[..., HomeportServer], settings: Settings
) -> None:
    a = homeport_server()
    with a.client() as client:
        assistant = client.beta.assistants.create(model="scripted", tools=[WEATHER]).id
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": '[[call weather {"city": "Oslo"}]]'}]
        ).id
        run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id=assistant)
        assert run.status == "requires_action"
        assert run.required_action is not None
        call = run.required_action.submit_tool_outputs.tool_calls[0].id

        async def follow() -> list[tuple[int, str, str]]:
            async with listening_engine(settings) as b:
                waiter = b.bus.waiter(run.id)
                # A resumes and finishes the run only now, after B waits for it.
                submit = asyncio.create_task(
                    asyncio.to_thread(
                        client.beta.threads.runs.submit_tool_outputs,
                        run_id=run.id,
                        thread_id=thread,
                        tool_outputs=[{"tool_call_id": call, "output": "sunny"}],
                    )
                )
                while await status_after_wakeup(b, waiter, run.id) not in TERMINAL:
                    pass
                await submit
                return await b.read(partial(stored_events, run_id=run.id, after=0))

        events = asyncio.run(follow())
    numbers = [n for n, _, _ in events]
    assert numbers == list(range(1, len(numbers) + 1))
    names = [name for _, name, _ in events]
    assert names[-2:] == ["thread.run.completed", "done"]
    assert names.count("done") == 2  # the segment up to requires_action, then the rest


def test_cancel_in_another_process_reaches_the_worker(
    homeport_server: Callable[..., HomeportServer], settings: Settings
) -> None:
    a = homeport_server(engine={"poll_seconds": 3600})  # cancel flags come by NOTIFY alone
    with a.client() as client:
        assistant = client.beta.assistants.create(model="scripted").id
        thread = client.beta.threads.create(
            messages=[{"role": "user", "content": "[[tokens 400]] [[drip 20]]"}]
        ).id

        async def cancel_from_b() -> str:
            async with listening_engine(settings) as b:
                run = await asyncio.to_thread(
                    client.beta.threads.runs.create, thread_id=thread, assistant_id=assistant
                )
                waiter = b.bus.waiter(run.id)
                row = await b.read(lambda conn: load_run(conn, run.id))
                assert row is not None
                status = row["status"]
                while status != "in_progress":
                    status = await status_after_wakeup(b, waiter, run.id)
                await b.cancel(run.id)
                while status not in TERMINAL:
                    status = await status_after_wakeup(b, waiter, run.id)
                return status

        assert asyncio.run(cancel_from_b()) == "cancelled"


def test_waits_fall_back_to_polling_while_the_listener_reconnects(
    homeport_server: Callable[..., HomeportServer], settings: Settings
) -> None:
    a = homeport_server()

    async def drop_and_follow() -> None:
        async with listening_engine(settings) as b:
            # end B's listening session from the server side
            async def listeners() -> int:
                def terminate(conn: Connection) -> int:
                    return int(conn.execute(TERMINATE_LISTENERS).scalar_one())

                return await b.db(terminate)

            assert await listeners() >= 1
            await until(lambda: not b.bus.signalled)
            with a.client() as client:
                assistant = client.beta.assistants.create(model="scripted").id
                thread = client.beta.threads.create(
                    messages=[{"role": "user", "content": "hello"}]
                ).id
                run = client.beta.threads.runs.create(thread_id=thread, assistant_id=assistant)
            row = await b.wait(run.id)
            assert row["status"] == "completed"
            await until(lambda: b.bus.signalled)  # and it reconnects

    asyncio.run(drop_and_follow())
