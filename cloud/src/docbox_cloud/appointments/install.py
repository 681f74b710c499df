"""Mounting the appointment service into the API application."""

from __future__ import annotations

from fastapi import FastAPI

from docbox_cloud.appointments.api_errors import install_appointment_error_handlers
from docbox_cloud.appointments.runtime import AppointmentRuntime, appointments_running
from docbox_cloud.settings import CloudSettings

__all__ = ["appointments_running", "install_appointments"]


def install_appointments(app: FastAPI, settings: CloudSettings) -> None:
    """Add the appointment API, staff API and booking page to ``app``.

    The runtime (``app.state.appointments``) is created here, so tests can replace its
    clock or notifier before the app starts; the worker runs within
    :func:`appointments_running` in the app's lifespan.
    """
    # Imported here: the routes import the API package, which imports this module's users.
    from docbox_cloud.api.routes import appointments, appointments_staff
    from docbox_cloud.pages.booking.routes import router as booking_pages

    app.state.appointments = AppointmentRuntime.from_settings(settings)
    install_appointment_error_handlers(app)
    app.include_router(appointments.router)
    app.include_router(appointments_staff.router)
    app.include_router(booking_pages)
