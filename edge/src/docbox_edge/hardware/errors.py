"""Exceptions of the hardware layer: one root, `HardwareError`, so callers can catch them all."""

from __future__ import annotations


class HardwareError(Exception):
    """Root of every error raised by `docbox_edge.hardware` and the box configuration."""


class ConfigError(HardwareError):
    """The box configuration is invalid, or does not match the hardware it describes."""


class UnknownCompartment(HardwareError):
    """A compartment number that the box configuration does not define."""

    def __init__(self, compartment: int) -> None:
        super().__init__(f"compartment {compartment} is not configured on this box")
        self.compartment = compartment


class UnknownChannel(HardwareError):
    """A channel number that a lock board does not have."""

    def __init__(self, board_id: str, channel: int) -> None:
        super().__init__(f"board {board_id!r} has no channel {channel}")
        self.board_id = board_id
        self.channel = channel


class CoilBusy(HardwareError):
    """A pulse was requested for a coil that is already being pulsed.

    Refused rather than queued: back-to-back pulses heat the coil, and a second unlock
    of the same lock while the first is still running is a caller bug, not a wish.
    """


class PulseInterrupted(HardwareError):
    """The board was closed while a pulse was running; the coil is off, the pulse was short."""


class BoardNotRunning(HardwareError):
    """The lock board was used before `start()` or after `close()`."""


class PinFactoryUnavailable(HardwareError):
    """The gpiozero pin factory named in the configuration cannot be loaded on this machine."""


class BusError(HardwareError):
    """A transfer on a board bus (I²C, RS-485) failed: no answer, a garbled answer, a dead port.

    Boards count these (`bus_errors`) and keep polling; a failed unlock raises it to the caller.
    """
