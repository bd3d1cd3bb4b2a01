"""The modes end to end through the official openai SDK."""

from __future__ import annotations

import socket

from sqlalchemy import select

from homeport.gateway.seams import Mode, Role, Upstream
from homeport.gateway.sidestats import read_side_stats
from homeport.store.models.rollout import ComparisonRecord
from tests.gateway.conftest import GatewayFactory


def _chat(client, text: str, **kwargs):  # type: ignore[no-untyped-def]
    return client.chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": text}], **kwargs
    )


def test_passthrough_serves_managed_and_names_it(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(mode="passthrough")
    with gateway.client() as client:
        raw = _chat(client, "hello there")
    assert raw.headers["homeport-upstream"] == "managed"
    assert raw.parse().choices[0].message.content.startswith("[managed]")
    gateway.stop()
    assert gateway.pairs() == []


def test_shadow_client_sees_managed_and_pairs_reach_the_sink(
    start_gateway: GatewayFactory,
) -> None:
    gateway = start_gateway(mode="shadow")
    with gateway.client() as client:
        for i in range(20):
            raw = _chat(client, f"question {i}")
            assert raw.headers["homeport-upstream"] == "managed"
            assert raw.parse().choices[0].message.content.startswith("[managed]")
        stream = client.chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "streamed one"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.startswith("[managed]")
    gateway.stop()
    pairs = gateway.pairs()
    assert len(pairs) == 21
    for pair in pairs:
        assert pair.mode is Mode.SHADOW
        assert pair.side is Upstream.MANAGED
        assert pair.primary.ok and pair.candidate.ok
        assert pair.candidate.upstream is Upstream.HOMEPORT
    plain = [p for p in pairs if not p.primary.streamed]
    assert {p.primary.json()["choices"][0]["message"]["content"][:9] for p in plain} == {
        "[managed]"
    }
    assert {p.candidate.json()["choices"][0]["message"]["content"][:10] for p in plain} == {
        "[homeport]"
    }
    streamed = [p for p in pairs if p.primary.streamed]
    assert len(streamed) == 1 and streamed[0].candidate.streamed
    assert streamed[0].candidate.events()


def test_shadow_pairs_reach_the_comparison_records_table(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(mode="shadow", shadow={"sink": "store"})
    with gateway.client() as client:
        for i in range(5):
            _chat(client, f"stored question {i}")
    gateway.stop()
    with gateway.gateway.db.session() as session:
        rows = session.scalars(select(ComparisonRecord)).all()
        assert len(rows) == 5
        assert {r.kind for r in rows} == {"shadow"}
        assert not any(r.baseline_error or r.candidate_error for r in rows)
        assert all(r.baseline["text"].startswith("[managed]") for r in rows)
        assert all(r.candidate["text"].startswith("[homeport]") for r in rows)
    # The replica's per-side counters were written on stop, for the rollout's gates.
    stats = read_side_stats(gateway.gateway.db, since=0)
    by_role = {(s.side, s.role): s.requests for s in stats}
    assert by_role[(Upstream.MANAGED, Role.SERVED)] == 5
    assert by_role[(Upstream.HOMEPORT, Role.SHADOW)] == 5


def test_idle_client_connections_close_after_the_configured_seconds(
    start_gateway: GatewayFactory,
) -> None:
    gateway = start_gateway(keep_alive_seconds=0.5)
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        assert conn.recv(65536) == b""  # closed by the gateway once idle
