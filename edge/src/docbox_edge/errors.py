"""Exceptions of the edge agent: one root, one subclass per kind of failure.

Low-level errors (``sqlite3``, MQTT, file system) are translated into these with
``raise … from exc`` so callers handle one family and keep the cause for the log.
"""


class EdgeError(Exception):
    """Root of every error raised by docbox_edge outside the hardware layer."""


class StoreError(EdgeError):
    """The local SQLite store (outbox, command ledger) cannot be opened or written."""


class SettingsError(EdgeError):
    """The agent's settings are inconsistent or refer to files that cannot be used."""
