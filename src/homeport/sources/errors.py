"""Errors a source raises: the platform cannot be reached, refused, or the input is unusable."""

from __future__ import annotations

from homeport.errors import InvalidRequest


class SourceError(InvalidRequest):
    """Export cannot go on; the message says which request or input and why."""
