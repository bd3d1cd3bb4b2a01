"""Failed model calls in the words a run records as ``last_error``, the same for every provider:
the route and where it points, then what the upstream answered (or why it could not be asked).
"""

from __future__ import annotations

import httpx2

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
    if "timeout" in type(exc).__name__.lower():
        return timed_out(route)
    return unreachable(route, _connection_failure(exc) or _detail(exc))


def _connection_failure(exc: BaseException) -> str | None:
    """Why the SDK's transport (httpx2) lost or found no connection, if that is behind ``exc``:
    the SDK's own message says only "Connection error."."""
    cause = exc.__cause__
    if isinstance(cause, httpx2.TransportError):
        return str(cause) or None
    return None


def _detail(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message)
