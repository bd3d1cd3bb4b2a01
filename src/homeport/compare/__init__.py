"""Equivalence: comparators from cheap to dear, statistics that subtract the baseline's own noise,
offline replays of recorded conversations and the reports they make."""
