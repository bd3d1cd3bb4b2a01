"""Errors about bundles: unreadable, tampered with, wrong key, wrong version."""

from __future__ import annotations

from homeport.errors import InvalidRequest


class BundleError(InvalidRequest):
    """The bundle cannot be read or written as asked; the message says why and what to do."""
