"""The rollout controller: steps the gateway's weight through a plan, checks gates every interval,
pauses on a marginal result and rolls back by itself after repeated failures."""
