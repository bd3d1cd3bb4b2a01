"""One table from exceptions to OpenAI error objects, applied at the edge and nowhere else."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from homeport.api.json import JSONResponse
from homeport.api.validation import choose_error, describe
from homeport.errors import HomeportError

log = logging.getLogger("homeport.api")


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HomeportError)
    async def _homeport(_: Request, exc: HomeportError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.message, exc.type, exc.param, exc.code), status_code=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first, param = choose_error(exc.errors(), exc.body)
        message, code = describe(first, param)
        return JSONResponse(
            error_body(message, "invalid_request_error", param, code), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"Invalid URL ({request.method} {request.url.path})"
        elif exc.status_code == 405:
            message = "Method not allowed for this route."
        else:
            message = str(exc.detail)
        return JSONResponse(
            error_body(message, "invalid_request_error"), status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("The server had an error while processing your request.", "server_error"),
            status_code=500,
        )
