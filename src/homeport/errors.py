"""Domain errors. The API turns them into OpenAI error objects at the edge (api/errors.py);
the CLI prints their message as a one-line reason and exits non-zero."""

from __future__ import annotations

import re


class HomeportError(Exception):
    """Base of every error homeport raises on purpose."""

    status_code = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(HomeportError):
    status_code = 400
    type = "invalid_request_error"


class Unauthorized(HomeportError):
    status_code = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class PermissionDenied(HomeportError):
    status_code = 403
    type = "invalid_request_error"


class NotFound(HomeportError):
    status_code = 404
    type = "invalid_request_error"


class Conflict(HomeportError):
    status_code = 409
    type = "invalid_request_error"


class Unprocessable(HomeportError):
    status_code = 422
    type = "invalid_request_error"


class RateLimited(HomeportError):
    status_code = 429
    type = "rate_limit_exceeded"


class UpstreamError(HomeportError):
    """The model provider failed; runs record it as ``last_error``, clients never see a raise."""

    status_code = 502
    type = "server_error"
    code = "server_error"


def not_found(kind: str, object_id: str, param: str | None = None) -> NotFound:
    return NotFound(f"No {kind} found with id '{object_id}'.", param=param)


BUSY_THREAD = {
    "message": "Can't add messages to {thread} while a run {run} is active.",
    "run": "Thread {thread} already has an active run {run}.",
}
"""OpenAI's words when a thread with an active run is given a new message or a new run."""
_BUSY = re.compile(
    "|".join(
        re.escape(t).replace(r"\{thread\}", r"\S+").replace(r"\{run\}", r"\S+")
        for t in BUSY_THREAD.values()
    )
)


def busy_thread(message: str) -> bool:
    """Whether ``message`` is a refusal for a thread whose run is still active (one of
    :data:`BUSY_THREAD`): the same request succeeds once that run ends."""
    return _BUSY.fullmatch(message) is not None
