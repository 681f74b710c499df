"""What the appointment services need besides a session: settings and derived keys."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from docbox_cloud.appointments.config import AppointmentSettings


@dataclass(frozen=True, slots=True)
class AppointmentContext:
    """Settings plus the keys derived from them."""

    settings: AppointmentSettings
    person_key: bytes
    pow_key: bytes

    @classmethod
    def create(cls, settings: AppointmentSettings, api_token: SecretStr) -> AppointmentContext:
        """Derive the keys from ``settings.secret`` (or the API token)."""
        return cls(settings, settings.key(api_token, "person"), settings.key(api_token, "pow"))

    def link(self, path: str) -> str:
        """Absolute URL of a booking-page path (for messages)."""
        return f"{self.settings.public_base_url.rstrip('/')}{path}"
