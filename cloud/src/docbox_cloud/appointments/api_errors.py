"""HTTP answers for appointment errors (status and code from the error class, Retry-After on 429)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from docbox_cloud.api.schemas import ErrorResponse
from docbox_cloud.appointments.errors import AppointmentError


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppointmentError)
    headers: dict[str, str] = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    body = ErrorResponse(detail=str(exc), code=exc.code)
    return JSONResponse(
        status_code=exc.status, content=body.model_dump(mode="json", exclude_none=True), headers=headers
    )


def install_appointment_error_handlers(app: FastAPI) -> None:
    """Answer :class:`AppointmentError` with its own status (more specific than the CloudError handler)."""
    app.add_exception_handler(AppointmentError, _handle)
