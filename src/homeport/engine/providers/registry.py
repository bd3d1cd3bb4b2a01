"""The model routing table: the model name a client asks for -> a provider instance.

Routes come from ``Settings.models``; provider classes from the ``homeport.providers`` entry point
group (homeport's own ``openai`` and ``anthropic`` register there like any plugin).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from homeport.config import Settings
from homeport.engine.providers.base import ModelProvider, ProviderError

ENTRY_POINT_GROUP = "homeport.providers"


def no_route_message(model: str) -> str:
    return f"No route for model '{model}': add [[models]] name = \"{model}\" to homeport.toml"


def provider_class(name: str) -> type[ModelProvider] | None:
    """The provider class registered as ``name`` (imported on first use only)."""
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=name):
        cls: type[ModelProvider] = entry.load()
        return cls
    return None


class ProviderRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._providers: dict[str, ModelProvider] = {}

    def has_route(self, model: str) -> bool:
        return self.settings.route(model) is not None

    def get(self, model: str) -> ModelProvider:
        """The provider serving ``model``; raises ``ProviderError`` naming the fix."""
        provider = self._providers.get(model)
        if provider is not None:
            return provider
        route = self.settings.route(model)
        if route is None:
            raise ProviderError(no_route_message(model))
        cls = provider_class(route.provider)
        if cls is None:
            raise ProviderError(
                f"Model '{model}' routes to provider '{route.provider}', which is not installed: "
                f"pip install homeport (the built-in providers are 'openai' and 'anthropic')."
            )
        provider = cls(route)
        self._providers[model] = provider
        return provider

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
        self._providers.clear()
