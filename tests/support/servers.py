"""A real homeport server for API tests: ``create_app`` on uvicorn in a background thread.

The model routes point at the scripted model (see ``homeport.testing.scripted_model``):
``scripted``, ``gpt-4o-mini`` and ``gpt-4o`` through the OpenAI-compatible provider,
``claude-scripted`` through the Anthropic provider.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai

from homeport.api.app import create_app
from homeport.config import ModelRoute, Settings
from homeport.services import Services
from homeport.testing.background import BackgroundServer
from homeport.testing.scripted_model import ScriptedModelServer

API_KEY = "hp-test-key"
ADMIN_KEY = "hp-test-admin-key"
OPENAI_MODELS = ("scripted", "gpt-4o-mini", "gpt-4o")
ANTHROPIC_MODEL = "claude-scripted"


def scripted_routes(model: ScriptedModelServer) -> list[ModelRoute]:
    routes = [
        ModelRoute(
            name=name, provider="openai", base_url=model.base_url, api_key="scripted", max_retries=0
        )
        for name in OPENAI_MODELS
    ]
    routes.append(
        ModelRoute(
            name=ANTHROPIC_MODEL,
            provider="anthropic",
            base_url=model.url,
            api_key="scripted",
            max_retries=0,
        )
    )
    return routes


def server_settings(
    database_url: str, data_dir: Path, model: ScriptedModelServer, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "bootstrap_api_key": API_KEY,
        "bootstrap_admin_key": ADMIN_KEY,
        "log_json": True,
        "models": scripted_routes(model),
    }
    values.update(overrides)
    return Settings(**values)


class HomeportServer(BackgroundServer):
    """homeport serving on a free 127.0.0.1 port, with its ``settings`` and ``services``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services = Services.from_settings(settings)
        self.api_key = settings.bootstrap_api_key or API_KEY
        self.admin_key = settings.bootstrap_admin_key or ADMIN_KEY
        super().__init__(create_app(settings, self.services))

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def client(self, *, admin: bool = False, **kwargs: Any) -> openai.OpenAI:
        """The official OpenAI SDK pointed at this server (no retries: failures show at once)."""
        kwargs.setdefault("max_retries", 0)
        key = self.admin_key if admin else self.api_key
        return openai.OpenAI(base_url=self.base_url, api_key=key, **kwargs)

    def async_client(self, *, admin: bool = False, **kwargs: Any) -> openai.AsyncOpenAI:
        kwargs.setdefault("max_retries", 0)
        key = self.admin_key if admin else self.api_key
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=key, **kwargs)


HomeportFactory = Callable[..., HomeportServer]
