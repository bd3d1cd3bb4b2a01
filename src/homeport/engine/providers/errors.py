"""Failed model calls in the words a run records as ``last_error``, the same for every provider:
the route and where it points, then what the upstream answered (or why it could not be asked).
"""

from __future__ import annotations

import aiohttp

from homeport.config import ModelRoute
from homeport.engine.providers.base import ProviderError

MAX_DETAIL = 500


def _where(route: ModelRoute) -> str:
    return f"model '{route.name}' ({route.provider} at {route.base_url or 'default URL'})"


def http_failure(route: ModelRoute, status: int, detail: str) -> ProviderError:
    """The upstream answered an HTTP error (429: ``rate_limit_exceeded``)."""
    if status == 429:
        return ProviderError(
            f"{_where(route)} is rate limited: {detail[:MAX_DETAIL]}", "rate_limit_exceeded"
        )
    return ProviderError(f"{_where(route)} answered HTTP {status}: {detail[:MAX_DETAIL]}")


def unreachable(route: ModelRoute, detail: str) -> ProviderError:
    return ProviderError(f"{_where(route)} could not be reached: {detail[:MAX_DETAIL]}")


def timed_out(route: ModelRoute) -> ProviderError:
    return ProviderError(f"{_where(route)} did not answer within {route.timeout_seconds:g}s.")


def upstream_error(exc: Exception, route: ModelRoute) -> ProviderError:
    """An exception of an official SDK (``openai``, ``anthropic``: the same shapes) as the
    error a run records."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        return http_failure(route, status, _detail(exc))
    refused = _connection_failure(exc)
    if refused is not None:
        return unreachable(route, refused)
    if "timeout" in type(exc).__name__.lower():
        return timed_out(route)
    return unreachable(route, _detail(exc))


def _connection_failure(exc: BaseException) -> str | None:
    """The aiohttp connection failure behind ``exc``, if any: an SDK on its aiohttp transport
    reports a refused or dropped connection as a connect timeout."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return None
        if isinstance(cause, aiohttp.ClientConnectionError):
            return str(cause)
        cause = cause.__cause__
    return None


def _detail(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message)
