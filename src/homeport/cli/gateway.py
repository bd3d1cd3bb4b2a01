"""``homeport gateway``: the cutover gateway in front of the managed platform and homeport."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homeport.gateway.seams import Mode


def gateway(
    config: Annotated[Path, typer.Option("--config", help="The gateway's TOML file.")],
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    mode: Annotated[Mode | None, typer.Option(help="Initial mode (overrides the file).")] = None,
) -> None:
    """Serve the gateway: passthrough, shadow, sticky canary or full, per the routing state."""
    from homeport.gateway.config import load_gateway_config
    from homeport.gateway.server import serve_gateway
    from homeport.logs import configure_logging

    overrides = {
        k: v for k, v in {"host": host, "port": port, "mode": mode}.items() if v is not None
    }
    settings = load_gateway_config(config, **overrides)
    configure_logging("info", True)
    serve_gateway(settings)
