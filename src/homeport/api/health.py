"""Health, readiness and Prometheus metrics: the only routes that need no API key."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from homeport.api.deps import ServicesDep
from homeport.api.json import JSONResponse
from homeport.metrics import exposition
from homeport.probes import readiness, ready

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
def readyz(services: ServicesDep) -> Response:
    checks = readiness(services, services.settings.engine.embedded_worker)
    return JSONResponse(
        {"status": "ok" if ready(checks) else "unavailable", "checks": checks},
        status_code=200 if ready(checks) else 503,
    )


@router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    return Response(exposition(services.metrics), media_type=CONTENT_TYPE_LATEST)
