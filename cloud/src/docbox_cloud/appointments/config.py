"""Settings of the appointment service, read from ``DOCBOX_APPT_*`` environment variables."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AppointmentSettings(BaseSettings):
    """Tunables of holds, anti-trading, triage, proof of work, rate limits and retention.

    ``secret`` keys the person hash and the proof-of-work signatures. Unset, it is derived
    from the API token (so a single secret suffices for the demo); production should set its
    own, because rotating the API token would otherwise change every person hash.
    """

    model_config = SettingsConfigDict(env_prefix="DOCBOX_APPT_", extra="ignore")

    secret: SecretStr | None = Field(default=None, description="Key of person hashes and PoW signatures")
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the booking page, for links in messages"
    )

    hold_s: int = Field(default=600, ge=30, description="How long a reservation holds its slot")
    hold_extension_s: int = Field(default=300, ge=30, description="How much one extension adds")
    max_extensions: int = Field(default=2, ge=0)
    confirm_attempts: int = Field(default=5, ge=1, description="Wrong codes before the hold is void")
    cancel_holdback_s: int = Field(
        default=1800, ge=0, description="A released slot is not bookable for this long (against slot trading)"
    )
    horizon_days: int = Field(default=28, ge=1, description="How far ahead slots can be booked")
    min_lead_min: int = Field(default=15, ge=0, description="Slots starting sooner cannot be booked")

    permit_window_days: int = Field(default=28, ge=0, description="Permit expired or expiring within N days")
    travel_window_days: int = Field(default=14, ge=0, description="Urgent travel within N days")
    job_window_days: int = Field(default=28, ge=0, description="Job at risk by a date within N days")
    lost_document_deadline_days: int = Field(
        default=14, ge=0, description="Triage deadline of a lost document: filing date + N days"
    )

    offer_window_s: int = Field(default=7200, ge=60, description="How long a triage offer can be accepted")
    max_missed_offers: int = Field(default=2, ge=1, description="Unanswered offers before a request lapses")

    pow_max_number: int = Field(
        default=50_000, ge=10, description="Proof-of-work difficulty (ALTCHA maxnumber)"
    )
    pow_ttl_s: int = Field(default=600, ge=10, description="How long a challenge can be solved and redeemed")

    ip_burst: int = Field(default=20, ge=1, description="Requests per address at once")
    ip_per_minute: float = Field(default=6.0, gt=0, description="Sustained requests per address and minute")
    person_burst: int = Field(default=5, ge=1, description="Attempts per person (document number) at once")
    person_per_hour: float = Field(default=6.0, gt=0, description="Sustained attempts per person and hour")

    reminder_before_h: int = Field(default=24, ge=1)
    retention_days: int = Field(
        default=90, ge=1, description="Personal data of past appointments kept this long"
    )
    idempotency_ttl_h: int = Field(default=24, ge=1)
    worker_interval_s: float = Field(default=30.0, gt=0, description="Housekeeping interval")

    def key(self, api_token: SecretStr, purpose: str) -> bytes:
        """Derive the key for ``purpose`` from ``secret`` (or, unset, the API token)."""
        root = (self.secret or api_token).get_secret_value().encode()
        return hmac.new(root, f"docbox-appointments/{purpose}".encode(), hashlib.sha256).digest()
