"""Translation of domain errors into HTTP answers with an :class:`ErrorResponse` body."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from docbox_cloud.alarms.store import AlarmNotResolvableError, UnknownAlarmError
from docbox_cloud.api.schemas import ErrorResponse
from docbox_cloud.errors import (
    AuthenticationError,
    BoxExistsError,
    BridgeUnavailableError,
    CloudError,
    CommandError,
    CommandFailedError,
    CommandRejectedError,
    CommandTimeoutError,
    StorageError,
    UnknownBoxError,
    UnknownCompartmentError,
)

log = logging.getLogger(__name__)

#: Most specific first: the first matching class decides status and code.
STATUS_BY_ERROR: list[tuple[type[CloudError], int, str]] = [
    (AuthenticationError, 401, "unauthorized"),
    (UnknownBoxError, 404, "unknown_box"),
    (UnknownCompartmentError, 404, "unknown_compartment"),
    (BoxExistsError, 409, "box_exists"),
    # The box refused and energised nothing (e.g. door_already_open): a conflict with its state.
    (CommandRejectedError, 409, "command_rejected"),
    # The box pulsed the lock but the door never opened (jammed): the upstream device failed.
    (CommandFailedError, 502, "command_failed"),
    (CommandTimeoutError, 504, "command_timeout"),
    (BridgeUnavailableError, 503, "mqtt_unavailable"),
    (UnknownAlarmError, 404, "unknown_alarm"),
    (AlarmNotResolvableError, 409, "alarm_not_resolvable"),
    (StorageError, 503, "database_unavailable"),
]



def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    descriptions = {
        401: "Missing or wrong bearer token",
        404: "Unknown box or compartment",
        409: "Conflict: the box exists already, or the box rejected the command (see reason)",
        502: "The box executed the unlock but the door did not open (jammed)",
        503: "Not connected to the MQTT broker, or the database is unavailable",
        504: "The box did not answer within the command timeout",
    }
    return {status: {"model": ErrorResponse, "description": descriptions[status]} for status in statuses}


async def _handle_cloud_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CloudError)
    status, code = 500, "internal_error"
    for cls, cls_status, cls_code in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            status, code = cls_status, cls_code
            break
    if status >= 500:
        log.warning("%s %s -> %d %s: %s", request.method, request.url.path, status, code, exc)
    body = ErrorResponse(
        detail=str(exc),
        code=code,
        command_id=exc.command_id if isinstance(exc, CommandError) else None,
        reason=exc.reason if isinstance(exc, CommandRejectedError) else None,
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`CloudError` with its status and an :class:`ErrorResponse`."""
    app.add_exception_handler(CloudError, _handle_cloud_error)
