"""``homeport serve``: the OpenAI-compatible API (and, by default, an embedded run worker)."""

from __future__ import annotations

from typing import Annotated

import typer

from homeport.cli.common import settings


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Serve the API."""
    import uvicorn

    from homeport.api.app import create_app
    from homeport.logs import configure_logging

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    config = settings(**overrides)
    configure_logging(config.log_level, config.log_json)
    app = create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
