"""The modes end to end through the official openai SDK."""

from __future__ import annotations

from homeport.gateway.seams import Mode, Upstream
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
