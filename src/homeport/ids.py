"""Object IDs shaped like OpenAI's: a type prefix and 24 random base62 characters."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


_UNBIASED = 256 - 256 % len(_ALPHABET)  # bytes at or above this would favour some letters


def new_id(prefix: str, length: int = 24) -> str:
    """One ``os.urandom`` call per ID (``secrets.choice`` per letter costs a syscall each)."""
    letters: list[str] = []
    while len(letters) < length:
        letters += [
            _ALPHABET[b % len(_ALPHABET)] for b in secrets.token_bytes(length + 8) if b < _UNBIASED
        ]
    return f"{prefix}_" + "".join(letters[:length])
