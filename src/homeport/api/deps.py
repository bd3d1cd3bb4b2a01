"""FastAPI dependencies: the services container, a DB session per request, the caller's project."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from homeport.errors import InvalidRequest, PermissionDenied, Unauthorized
from homeport.services import Services
from homeport.store import keys
from homeport.store.keys import Principal

KEY_CACHE_SECONDS = 5.0


# The cheap dependencies are async so they run on the event loop, not a thread-pool hop each.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    with services.db.session() as session:
        yield session


# scope="function": commit before the response is sent, so a client's next request sees it.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = request.headers.get("api-key", "")  # Azure OpenAI clients send this header
        if not token:
            raise Unauthorized(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        return token.strip()
    return token.strip()


async def get_principal(request: Request, services: ServicesDep) -> Principal:
    """Verify the bearer key. A key found valid is trusted for ``KEY_CACHE_SECONDS``, so hot
    paths skip the lookup; when that lapses, the requests that arrive meanwhile share one
    lookup (on the engine's reader threads: on SQLite it takes no lock)."""
    secret = _bearer(request)
    cached = services.key_cache.get(secret)
    if cached is not None and cached[1] > time.monotonic():
        principal: Principal | None = cached[0]
    else:
        pending = services.key_checks.get(secret)
        if pending is None:
            pending = services.key_checks[secret] = asyncio.ensure_future(_lookup(services, secret))
            pending.add_done_callback(lambda _: services.key_checks.pop(secret, None))
        principal = await asyncio.shield(pending)  # one caller leaving cancels no one else's
    if principal is None:
        raise Unauthorized(f"Incorrect API key provided: {secret[:6]}...{secret[-4:]}.")
    request.state.project_id = principal.project_id
    return principal


async def _lookup(services: Services, secret: str) -> Principal | None:
    engine = services.engine
    assert engine is not None, "the API serves with a run engine"
    principal = await engine.read_session(lambda session: keys.verify(session, secret))
    if principal is not None:
        services.key_cache[secret] = (principal, time.monotonic() + KEY_CACHE_SECONDS)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_project(principal: PrincipalDep) -> str:
    return principal.project_id


ProjectDep = Annotated[str, Depends(get_project)]


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.admin:
        raise PermissionDenied(
            "This route needs an admin API key ('homeport keys create --admin')."
        )
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


OBJECT_ID_HEADER = "homeport-object-id"
CREATED_AT_HEADER = "homeport-created-at"


async def get_object_identity(
    request: Request, principal: PrincipalDep
) -> tuple[str | None, int | None]:
    """The admin-only way to create an object with its original ID and timestamp (imports and
    the gateway's mirrored writes), so IDs stored in client databases keep working."""
    object_id = request.headers.get(OBJECT_ID_HEADER)
    created = request.headers.get(CREATED_AT_HEADER)
    if object_id is None and created is None:
        return None, None
    if not principal.admin:
        raise PermissionDenied(
            f"The '{OBJECT_ID_HEADER}' header needs an admin API key "
            "('homeport keys create --admin')."
        )
    created_at: int | None = None
    if created is not None:
        try:
            created_at = int(created)
        except ValueError as exc:
            raise InvalidRequest(f"'{CREATED_AT_HEADER}' must be unix seconds.") from exc
    return object_id, created_at


ObjectIdentityDep = Annotated[tuple[str | None, int | None], Depends(get_object_identity)]
