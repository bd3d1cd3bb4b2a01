"""The FastAPI application factory. Nothing is created at import time."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from homeport import __version__
from homeport.api.errors import install_error_handlers
from homeport.api.json import JSONResponse
from homeport.api.middleware import RequestContextMiddleware
from homeport.config import Settings
from homeport.services import Services
from homeport.store.bootstrap import prepare_database

# Every OpenAI surface is one module with a ``router``; they are all served under /v1. A request
# is matched against the routers in this order, one route at a time: the Assistants loop's
# (runs, messages, threads) go first.
API_MODULES: list[str] = [
    "homeport.api.runs",  # before threads: POST /threads/runs is not /threads/{thread_id}
    "homeport.api.messages",
    "homeport.api.threads",
    "homeport.api.assistants",
    "homeport.api.responses",
    "homeport.api.conversations",
    "homeport.api.files",
    "homeport.api.vector_stores",
]
PUBLIC_MODULES = ["homeport.api.health"]


def _router(module: str) -> APIRouter:
    router: APIRouter = importlib.import_module(module).router
    return router


def create_app(
    settings: Settings,
    services: Services | None = None,
    before_serving: Callable[[], None] = lambda: None,
) -> FastAPI:
    """``before_serving`` is called once the app has started (its engine too), before it serves."""
    services = services or Services.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        prepare_database(services)
        engine = services.engine
        if engine is not None and settings.engine.embedded_worker:
            await engine.start()
        before_serving()
        try:
            yield
        finally:
            if engine is not None:
                await engine.stop()
            services.db.dispose()

    app = FastAPI(
        title="homeport",
        version=__version__,
        default_response_class=JSONResponse,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    for module in PUBLIC_MODULES:
        app.include_router(_router(module))
    for module in API_MODULES:
        app.include_router(_router(module), prefix="/v1")
    app.add_middleware(RequestContextMiddleware, metrics=services.metrics)
    # FastAPI builds each route's validators on first match; building them all now (the OpenAPI
    # document needs them) spares the first requests, and keeps two apps in one process from
    # building pydantic schemas of the shared models at the same time (not thread-safe).
    app.openapi()
    return app
