"""Bounded coil pulses: the one place that switches a lock coil on.

Safety rules (DESIGN principle 6) enforced here:

- a pulse is clamped to the coil's hard maximum;
- the coil is switched off in `finally`, so also when the awaiting task is cancelled;
- a watchdog thread switches it off at the deadline even if the event loop is blocked
  (a slow synchronous call elsewhere must not keep a coil energised);
- one pulse per coil at a time: a second concurrent request raises `CoilBusy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from typing import Protocol

from docbox_edge.hardware.errors import CoilBusy, HardwareError, PulseInterrupted


class Switch(Protocol):
    """What a coil needs from its output (gpiozero's `OutputDevice` fits)."""

    def on(self) -> None:
        """Energise."""

    def off(self) -> None:
        """De-energise."""

    @property
    def is_active(self) -> bool:
        """Whether the output is energised."""
        ...


class Coil:
    """One lock coil behind an output, pulsed for bounded times.

    Args:
        switch: The output driving the coil driver (MOSFET or relay).
        max_pulse_s: Hard maximum for one pulse; longer requests are clamped.
        name: Used in error messages.
    """

    def __init__(self, switch: Switch, *, max_pulse_s: float, name: str) -> None:
        if not (max_pulse_s > 0 and math.isfinite(max_pulse_s)):
            raise ValueError(f"max_pulse_s must be a finite number > 0, not {max_pulse_s!r}")
        self._switch = switch
        self.max_pulse_s = max_pulse_s
        self.name = name
        # Guards the switch against the watchdog thread; the generation stops a late
        # watchdog of an old pulse from cutting a newer one short.
        self._lock = threading.Lock()
        self._generation = 0
        self._energised: int | None = None
        self._busy = False
        self._closed = False
        self._interrupt: asyncio.Event | None = None  # set by close() to end a pulse early

    @property
    def busy(self) -> bool:
        """Whether a pulse is in progress."""
        return self._busy

    @property
    def is_on(self) -> bool:
        """Whether the coil is energised right now."""
        with self._lock:
            return not self._closed and bool(self._switch.is_active)

    async def pulse(self, duration_s: float) -> None:
        """Energise the coil for `duration_s` (clamped to `max_pulse_s`); return once it is off.

        Raises:
            ValueError: `duration_s` is not a positive number.
            CoilBusy: The coil is already being pulsed.
            PulseInterrupted: `close()` ended the pulse early (the coil is off).
        """
        if not duration_s > 0:  # also rejects NaN
            raise ValueError(f"pulse duration must be > 0 s, not {duration_s!r}")
        if self._closed:
            raise HardwareError(f"coil {self.name} is closed")
        if self._busy:
            raise CoilBusy(f"coil {self.name} is already being pulsed")
        duration = min(duration_s, self.max_pulse_s)
        self._busy = True
        self._interrupt = interrupt = asyncio.Event()
        generation: int | None = None
        watchdog: threading.Timer | None = None
        try:
            with self._lock:
                self._generation += 1
                generation = self._generation
                self._energised = generation
                self._switch.on()
            watchdog = threading.Timer(duration, self._watchdog_off, args=(generation,))
            watchdog.daemon = True
            watchdog.start()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration):
                    await interrupt.wait()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            self._off()
            self._busy = False
            self._interrupt = None
        if interrupt.is_set():
            raise PulseInterrupted(f"coil {self.name} was closed during the pulse")

    def force_off(self) -> None:
        """Switch the coil off now, whatever is in progress."""
        self._off()

    def close(self) -> None:
        """Switch off for good, ending a running pulse; the output may be released afterwards.

        Call it on the event loop's thread when a pulse may be running.
        """
        with self._lock:
            if self._closed:
                return
            self._energised = None
            self._switch.off()
            self._closed = True
        if self._interrupt is not None:
            self._interrupt.set()

    def _off(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._energised = None
            self._switch.off()

    def _watchdog_off(self, generation: int) -> None:
        with self._lock:
            if self._closed or self._energised != generation:
                return
            self._energised = None
            self._switch.off()
