"""Health, readiness and Prometheus metrics: the only routes that need no API key."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from homeport.api.deps import ServicesDep
from homeport.api.json import JSONResponse
from homeport.metrics import exposition
from homeport.store.migrate import is_current

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
def readyz(services: ServicesDep) -> Response:
    checks: dict[str, str] = {}
    try:
        with services.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["schema"] = "ok" if is_current(services.db.engine) else "behind: homeport db upgrade"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    engine = services.engine
    embedded = services.settings.engine.embedded_worker
    checks["engine"] = "ok" if engine is None or engine.running or not embedded else "stopped"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


@router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    return Response(exposition(services.metrics), media_type=CONTENT_TYPE_LATEST)
