"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from docbox_cloud.api.errors import install_error_handlers
from docbox_cloud.api.routes import alarms as alarm_routes
from docbox_cloud.api.routes import boxes, documents, health, pickup
from docbox_cloud.api.routes.documents import install_pickup_error_handler
from docbox_cloud.appointments.install import appointments_running, install_appointments
from docbox_cloud.bridge import MqttBridge
from docbox_cloud.db import create_engine, session_factory
from docbox_cloud.metrics import install_metrics
from docbox_cloud.migrate import migrate_async
from docbox_cloud.monitoring import Monitoring
from docbox_cloud.pages.staff import routes as staff_pages
from docbox_cloud.pickup.runtime import PickupRuntime
from docbox_cloud.settings import CloudSettings

log = logging.getLogger(__name__)

DESCRIPTION = """\
REST API of the docbox cloud: document pickup boxes, their compartments, and unlocking.

Every `/api/v1` endpoint requires `Authorization: Bearer <token>`. Errors other than
validation errors (422) answer with an `ErrorResponse` body carrying a stable `code`.
"""


def create_app(settings: CloudSettings, *, bridge: MqttBridge | None = None) -> FastAPI:
    """Create the API application.

    On start-up it migrates the database (unless ``settings.migrate_on_start`` is off),
    opens the engine, and, when ``settings.mqtt_url`` is set and no ``bridge`` was given,
    starts an :class:`MqttBridge` that it also stops on shutdown.

    Args:
        settings: The service settings.
        bridge: A bridge run by the caller (tests, an ingest worker hosting the API); the app
            uses it for commands but neither starts nor stops it.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await migrate_async(settings.database_url)
        engine = create_engine(settings.database_url)
        app.state.sessions = session_factory(engine)
        app.state.bridge = bridge
        # Telemetry and alarms; the bridge hands them what it stored (docbox_cloud.observers).
        monitoring = Monitoring(settings, app.state.sessions)
        await monitoring.start()
        app.state.monitoring = monitoring
        app.state.alarms, app.state.telemetry = monitoring.alarms, monitoring.writer
        # The pickup box domain (docbox_cloud.pickup): an ingest observer and the kiosk requests.
        pickup_runtime = PickupRuntime(settings, app.state.sessions, telemetry=monitoring.writer)
        app.state.pickup = pickup_runtime.service
        task: asyncio.Task[None] | None = None
        if bridge is None and settings.mqtt_url:
            app.state.bridge = MqttBridge(
                settings,
                app.state.sessions,
                observers=[*monitoring.observers, pickup_runtime.service],
                request_handler=pickup_runtime.service.handle_request,
            )
            task = asyncio.create_task(app.state.bridge.run(), name="docbox-mqtt-bridge")
            task.add_done_callback(_report_crash)
        pickup_runtime.service.bridge = app.state.bridge
        pickup_runtime.start()
        try:
            async with appointments_running(app):
                yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await pickup_runtime.aclose()
            await monitoring.aclose()
            await engine.dispose()

    app = FastAPI(
        title="docbox cloud",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.bridge = bridge
    install_error_handlers(app)
    install_pickup_error_handler(app)
    staff_pages.install_staff_pages(app)
    app.include_router(boxes.router)
    app.include_router(health.router)
    app.include_router(documents.router)
    app.include_router(pickup.router)
    app.include_router(staff_pages.router)
    app.include_router(alarm_routes.router)
    install_metrics(app)
    install_appointments(app, settings)
    return app


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the MQTT bridge stopped", exc_info=task.exception())


def _version() -> str:
    try:
        return version("docbox-cloud")
    except PackageNotFoundError:
        return "0.0.0"
