"""The provider contract: capability flags and one streaming method.

A provider takes a ``ModelRequest`` (chat-completions messages and tools) and yields
``TextDelta`` / ``ReasoningDelta`` / ``ToolCallDelta`` / ``Usage`` events, then one ``Finished``.
Failures raise ``ProviderError`` with the code a run records as ``last_error.code``.
Providers register under the entry point group ``homeport.providers`` (built-ins too), keyed by
the ``provider`` name of a route in ``homeport.toml``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import ClassVar, Literal

from homeport.config import ModelRoute
from homeport.engine.types import ModelRequest, StreamEvent

ErrorCode = Literal["server_error", "rate_limit_exceeded", "invalid_prompt"]


class ProviderError(Exception):
    """The model call failed; ``code`` and ``message`` become the run's ``last_error``."""

    def __init__(self, message: str, code: ErrorCode = "server_error") -> None:
        super().__init__(message)
        self.message = message
        self.code: ErrorCode = code


class ModelProvider(ABC):
    supports_tools: ClassVar[bool] = True
    can_stream: ClassVar[bool] = True

    def __init__(self, route: ModelRoute) -> None:
        self.route = route

    @abstractmethod
    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Call the model for ``request`` (``request.model`` is the client-facing name; use
        ``self.route.upstream``)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
