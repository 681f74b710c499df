"""Exceptions of the docbox cloud: one root, one subclass per kind of failure.

Low-level errors (SQLAlchemy, aiomqtt, OS) are translated into these with ``raise … from exc``
so that callers (the API, the CLI, the MQTT bridge) handle one family of exceptions.
"""

from __future__ import annotations

import uuid


class CloudError(Exception):
    """Root of every error raised by docbox_cloud."""


class ConfigError(CloudError):
    """The settings are incomplete or inconsistent (e.g. no signing key while MQTT is enabled)."""


class StorageError(CloudError):
    """The database failed (connection lost, constraint violated unexpectedly, schema missing)."""


class MigrationError(StorageError):
    """Running the Alembic migrations failed."""


class AuthenticationError(CloudError):
    """A request without valid credentials."""


class UnknownBoxError(CloudError):
    """A box id that is not registered."""

    def __init__(self, box_id: str) -> None:
        super().__init__(f"box {box_id!r} is not registered")
        self.box_id = box_id


class BoxExistsError(CloudError):
    """Registering a box id that is already registered."""

    def __init__(self, box_id: str) -> None:
        super().__init__(f"box {box_id!r} is already registered")
        self.box_id = box_id


class UnknownCompartmentError(CloudError):
    """A compartment number the box has not reported in any snapshot."""

    def __init__(self, box_id: str, number: int) -> None:
        super().__init__(f"box {box_id!r} has no compartment {number}")
        self.box_id = box_id
        self.number = number


class BridgeUnavailableError(CloudError):
    """The MQTT bridge is not configured or not connected to the broker right now."""


class CommandError(CloudError):
    """Root of the failures of a command sent to a box."""

    def __init__(self, message: str, command_id: uuid.UUID) -> None:
        super().__init__(message)
        self.command_id = command_id


class CommandTimeoutError(CommandError):
    """The box did not answer a command within the configured timeout."""


class CommandRejectedError(CommandError):
    """The box refused the command; nothing was energised. ``reason`` says why."""

    def __init__(self, message: str, command_id: uuid.UUID, reason: str | None) -> None:
        super().__init__(message, command_id)
        self.reason = reason


class CommandFailedError(CommandError):
    """The box executed the command but could not confirm the result (e.g. a jammed door)."""

    def __init__(self, message: str, command_id: uuid.UUID, outcome: str) -> None:
        super().__init__(message, command_id)
        self.outcome = outcome


#: The brief's name for the timeout error.
CommandTimeout = CommandTimeoutError
