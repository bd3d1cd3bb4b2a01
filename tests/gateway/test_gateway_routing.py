"""Assignment of new conversations: salted hash against the weight."""

from __future__ import annotations

import pytest

from homeport.gateway.routing import hash_share, new_conversation_side, unpinned_side
from homeport.gateway.seams import Mode, RoutingState, Upstream
from tests.gateway.conftest import binomial_two_sided_p


def test_binomial_helper_rejects_a_biased_split() -> None:
    assert binomial_two_sided_p(50, 100, 0.5) > 0.9
    assert binomial_two_sided_p(80, 100, 0.5) < 1e-6


@pytest.mark.parametrize("weight", [0.05, 0.3, 0.5, 0.9])
def test_canary_split_matches_the_weight(weight: float) -> None:
    state = RoutingState(mode=Mode.CANARY, weight=weight, salt="s1")
    trials = 2000
    on_homeport = sum(
        new_conversation_side(state, f"conversation-{i}") is Upstream.HOMEPORT
        for i in range(trials)
    )
    assert binomial_two_sided_p(on_homeport, trials, weight) > 0.001


def test_raising_the_weight_only_adds_conversations_to_homeport() -> None:
    keys = [f"k{i}" for i in range(500)]
    low = RoutingState(mode=Mode.CANARY, weight=0.2, salt="s")
    high = RoutingState(mode=Mode.CANARY, weight=0.6, salt="s")
    before = {k for k in keys if new_conversation_side(low, k) is Upstream.HOMEPORT}
    after = {k for k in keys if new_conversation_side(high, k) is Upstream.HOMEPORT}
    assert before < after


def test_the_salt_draws_a_new_split() -> None:
    keys = [f"k{i}" for i in range(200)]
    assert [hash_share("a", k) for k in keys] != [hash_share("b", k) for k in keys]
    assert all(0.0 <= hash_share("a", k) < 1.0 for k in keys)


def test_modes_decide_new_and_unpinned_conversations() -> None:
    for mode in (Mode.PASSTHROUGH, Mode.SHADOW):
        state = RoutingState(mode=mode, weight=1.0)
        assert new_conversation_side(state, "k") is Upstream.MANAGED
        assert unpinned_side(state) is Upstream.MANAGED
    full = RoutingState(mode=Mode.FULL)
    assert new_conversation_side(full, "k") is Upstream.HOMEPORT
    assert unpinned_side(full) is Upstream.HOMEPORT
    assert unpinned_side(RoutingState(mode=Mode.CANARY, weight=1.0)) is Upstream.MANAGED


def test_a_weight_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        RoutingState(mode=Mode.CANARY, weight=1.5)
