"""Settings of the cloud service, read from ``DOCBOX_*`` environment variables.

Secrets (the command-signing key, the API token, an MQTT password) are :class:`SecretStr`
and never appear in logs or reprs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from docbox_cloud.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/docbox.db"


def _random_client_id() -> str:
    return f"docbox-cloud-{secrets.token_hex(4)}"


class DatabaseSettings(BaseSettings):
    """The part of the settings that database commands (migrate, add-box) need."""

    model_config = SettingsConfigDict(env_prefix="DOCBOX_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="Async SQLAlchemy URL: postgresql+asyncpg://… (production) or sqlite+aiosqlite:///…",
    )


class CloudSettings(DatabaseSettings):
    """Everything the cloud service is configured with.

    ``api_token`` has no default, and a signing key (``signing_key_pem`` or
    ``signing_key_file``) is required as soon as ``mqtt_url`` is set, because that is when
    unlock commands can be sent.
    """

    mqtt_url: str | None = Field(
        default=None,
        description="mqtt://host:port or mqtts://host:port (TLS); unset = no MQTT bridge",
    )
    mqtt_client_id: str = Field(
        default_factory=_random_client_id,
        description="MQTT client id; a stable one per replica lets its persistent session survive restarts",
    )
    mqtt_protocol: Literal["3.1.1", "5"] = "3.1.1"
    share_group: str = Field(default="ingest", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    mqtt_session_expiry_s: int = Field(default=86_400, ge=0, description="MQTT 5 session expiry interval")
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None

    signing_key_pem: SecretStr | None = Field(default=None, description="Ed25519 private key (PKCS#8 PEM)")
    signing_key_file: Path | None = Field(default=None, description="File holding the PEM key instead")

    api_token: SecretStr = Field(description="Bearer token required by every /api/v1 endpoint")

    command_timeout_s: float = Field(default=15.0, gt=0)
    command_lifetime_s: float = Field(default=10.0, gt=0, le=30)
    snapshot_request_interval_s: float = Field(
        default=10.0, ge=0, description="Least time between two snapshot requests to one box"
    )
    migrate_on_start: bool = True

    # Notifications (docbox_cloud.notify): nothing configured -> the console notifier (demo).
    notify_smtp_host: str | None = Field(default=None, description="SMTP server; unset = no e-mail")
    notify_smtp_port: int = Field(default=587, ge=1, le=65535)
    notify_smtp_sender: str = Field(default="docbox@localhost", description="From address of e-mails")
    notify_smtp_username: str | None = None
    notify_smtp_password: SecretStr | None = None
    notify_smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (port 587), tls (implicit, port 465), none (local relay)"
    )
    notify_sms_url: str | None = Field(default=None, description="SMS gateway endpoint; unset = no SMS")
    notify_sms_token: SecretStr | None = Field(default=None, description="Bearer token of the SMS gateway")

    # Telemetry (docbox_cloud.telemetry): unset influx_url = no telemetry (the demo runs without).
    influx_url: str | None = Field(
        default=None, description="InfluxDB base URL (v1 API: /write, /query), e.g. http://influxdb:8086"
    )
    influx_database: str = Field(default="docbox", min_length=1, max_length=64)
    influx_username: str | None = Field(default=None, description="Basic-auth user; unset + password = token")
    influx_password: SecretStr | None = Field(default=None, description="Password, or a 2.x/3.x token")
    influx_create_database: bool = Field(
        default=False, description="CREATE DATABASE at start-up (1.x; needs admin rights)"
    )
    influx_batch_size: int = Field(default=5_000, ge=1, le=50_000)
    influx_flush_interval_s: float = Field(default=1.0, gt=0, le=60)
    influx_max_buffer: int = Field(default=100_000, ge=1, description="Points held while InfluxDB is down")
    influx_timeout_s: float = Field(default=10.0, gt=0)
    telemetry_state_interval_s: float = Field(
        default=300.0, ge=0, description="Period of full box/compartment state points; 0 = off"
    )

    # Alarms (docbox_cloud.alarms).
    alarm_offline_grace_s: float = Field(
        default=60.0, ge=0, description="A box offline this long raises box_offline"
    )
    alarm_left_open_s: float = Field(
        default=300.0, gt=0, description="A door open this long raises left_open (boxes raise theirs sooner)"
    )
    alarm_outbox_backlog: int = Field(
        default=1_000, ge=1, description="A box's unsent events at which outbox_backlog is raised"
    )
    alarm_defective_jams: int = Field(
        default=3, ge=1, description="Jams of one compartment within the window that mark it defective"
    )
    alarm_defective_window_s: float = Field(default=86_400.0, gt=0)
    alarm_sweep_interval_s: float = Field(default=15.0, gt=0, description="Period of the time-based checks")
    alarm_email_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Facilities team addresses, comma-separated"
    )
    alarm_webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Webhook URLs for alarms, comma-separated"
    )
    alarm_language: Literal["de", "en"] = "de"

    # Pickup box (docbox_cloud.pickup).
    pickup_data_key: SecretStr | None = Field(
        default=None,
        description="Fernet key (urlsafe base64, 32 bytes) encrypting applicants' contact and date of "
        "birth; unset = documents cannot be registered",
    )
    pickup_holding_days: float = Field(default=10.0, gt=0, description="Days a document waits in the box")
    pickup_reminder_days: float = Field(
        default=2.0, ge=0, description="Days before the holding period ends to send a reminder; 0 = none"
    )
    pickup_erase_days: float = Field(
        default=30.0, ge=0, description="Days after collection/return before personal data is erased"
    )
    pickup_job_interval_s: float = Field(default=60.0, gt=0, description="Period of the pickup job")
    pickup_staff_max_failures: int = Field(default=5, ge=1, description="Wrong staff PINs before lockout")
    pickup_staff_lockout_s: float = Field(default=900.0, gt=0)
    pickup_accessible_min_cm: int = Field(default=40, ge=0, le=300)
    pickup_accessible_max_cm: int = Field(default=120, ge=0, le=300)
    pickup_country_code: str = Field(default="49", pattern=r"^[1-9][0-9]{0,2}$")
    pickup_staff_email: str | None = Field(default=None, description="Where staff alerts go (e-mail)")
    pickup_webhook_url: str | None = Field(default=None, description="Case-management system endpoint")
    pickup_webhook_secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 key of webhooks")
    pickup_webhook_max_attempts: int = Field(default=20, ge=1)
    pickup_webhook_interval_s: float = Field(default=5.0, gt=0, description="Period of the webhook worker")

    # Logs and metrics.
    log_format: Literal["text", "json"] = Field(default="text", description="json in production")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_public: bool = Field(
        default=False, description="Serve /metrics without the API token (a Prometheus on a private network)"
    )

    @field_validator("alarm_email_to", "alarm_webhook_urls", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("influx_url")
    @classmethod
    def _check_influx_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("influx_url must start with http:// or https://")
        if value is not None and urlsplit(value).password:
            raise ValueError("put InfluxDB credentials in influx_username/influx_password, not the URL")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_mqtt_url(value)
            except ConfigError as exc:
                # pydantic reports ValueErrors as validation errors naming the field.
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _signing_key_with_mqtt(self) -> CloudSettings:
        if self.signing_key_pem is not None and self.signing_key_file is not None:
            raise ValueError("set either signing_key_pem or signing_key_file, not both")
        if self.mqtt_url and self.signing_key_pem is None and self.signing_key_file is None:
            raise ValueError("mqtt_url is set: signing_key_pem or signing_key_file is required")
        return self

    @model_validator(mode="after")
    def _pickup_webhook_secret(self) -> CloudSettings:
        if self.pickup_webhook_url and self.pickup_webhook_secret is None:
            raise ValueError("pickup_webhook_url is set: pickup_webhook_secret is required")
        return self

    def signing_key_bytes(self) -> bytes:
        """Return the PEM bytes of the command-signing key.

        Raises:
            ConfigError: if no key is configured or the file cannot be read.
        """
        if self.signing_key_pem is not None:
            return self.signing_key_pem.get_secret_value().encode()
        if self.signing_key_file is not None:
            try:
                return self.signing_key_file.read_bytes()
            except OSError as exc:
                raise ConfigError(f"cannot read signing key file {self.signing_key_file}: {exc}") from exc
        raise ConfigError("no command-signing key configured (DOCBOX_SIGNING_KEY_PEM or _FILE)")


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    """Where the broker is, parsed from ``mqtt_url``."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """Parse ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://…``.

    Raises:
        ConfigError: if the scheme is not mqtt/mqtts or the host is missing.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(f"mqtt_url must start with mqtt:// or mqtts://, got scheme {parts.scheme!r}")
    if not parts.hostname:
        raise ConfigError("mqtt_url has no host")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ConfigError(f"mqtt_url has an invalid port: {exc}") from exc
    return MqttEndpoint(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=SecretStr(unquote(parts.password)) if parts.password else None,
    )
