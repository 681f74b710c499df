"""Lock board on plain GPIO pins: one output per coil, one input per door sensor.

Built from gpiozero devices on any pin factory: the Pi's own header (lgpio etc.), or
`ExtendedMockFactory` in tests and demos. Default wiring (see docs/hardware.md):

- coil: GPIO -> MOSFET/relay driver -> coil; pin high = energised (`lock_active_high`);
- door: reed switch between GPIO and ground, internal pull-up (`door_pull_up`); a shut door
  closes the switch and pulls the pin low, which gpiozero calls *active*, so the door is open
  when the input is inactive (`door_open_when_active=False`). A broken wire reads "open",
  which raises an alarm instead of hiding one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpiozero import DigitalInputDevice, GPIOPinInUse, GPIOZeroError, OutputDevice, PinError

from docbox_edge.hardware.coil import Coil
from docbox_edge.hardware.debounce import Debouncer, LoopDebouncer, Report, Settled
from docbox_edge.hardware.errors import BoardNotRunning, ConfigError, HardwareError, UnknownChannel
from docbox_edge.hardware.lockboard import (
    PULSE_HARD_MAX_S,
    ChannelChange,
    ChannelFlapping,
    ChannelSignal,
    ChannelSignalHandler,
    DoorState,
)

PinName = int | str
"""A gpiozero pin name: 17, "GPIO17", "BCM17", "BOARD11", "J8:11", ..."""

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Channel:
    coil: Coil
    output: Any  # gpiozero OutputDevice
    sensor: Any  # gpiozero DigitalInputDevice
    door: LoopDebouncer | None = None


class GpioLockBoard:
    """A lock board whose coils and door sensors sit directly on GPIO pins.

    Devices are created (outputs off) on construction, so wiring mistakes surface early;
    `start()` switches every coil off again and begins watching the doors.

    Args:
        board_id: Name of the board in the box configuration.
        channels: Channel number -> (lock pin, door sensor pin).
        pin_factory: gpiozero pin factory; None means gpiozero's default (lgpio on a Pi).
        lock_active_high: Coil energised when the pin is high (False for active-low relays).
        door_pull_up: Pull the sensor input up (switch to ground) rather than down.
        door_open_when_active: The door is open when gpiozero reports the input active.
        debounce_s: A door state must hold this long before it is reported.
        flapping_changes: Raw sensor edges allowed within the window before flapping.
        flapping_window_s: Window for counting raw sensor edges.
        max_pulse_s: Hard cap for one pulse; requests are clamped to it.
        on_signal: Receives debounced door changes and flapping reports.

    Raises:
        ConfigError: A pin is invalid, in use, or cannot be configured as asked.
        HardwareError: The pin factory failed otherwise.
    """

    def __init__(
        self,
        board_id: str,
        channels: Mapping[int, tuple[PinName, PinName]],
        *,
        pin_factory: Any = None,
        lock_active_high: bool = True,
        door_pull_up: bool = True,
        door_open_when_active: bool = False,
        debounce_s: float = 0.03,
        flapping_changes: int = 10,
        flapping_window_s: float = 5.0,
        max_pulse_s: float = PULSE_HARD_MAX_S,
        on_signal: ChannelSignalHandler | None = None,
    ) -> None:
        self.board_id = board_id
        self.pin_factory = pin_factory
        self.lock_active_high = lock_active_high
        self.door_pull_up = door_pull_up
        self.door_open_when_active = door_open_when_active
        self._debounce_s = debounce_s
        self._flapping_changes = flapping_changes
        self._flapping_window_s = flapping_window_s
        self._max_pulse_s = min(max_pulse_s, PULSE_HARD_MAX_S)
        self._on_signal = on_signal
        self._channels: dict[int, _Channel] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._closed = False
        try:
            for channel, (lock_pin, door_pin) in channels.items():
                self._channels[channel] = self._make_channel(channel, lock_pin, door_pin)
        except BaseException:
            self._close_devices()
            raise

    @property
    def max_pulse_s(self) -> float:
        """Longest pulse this board gives (requests are clamped to it)."""
        return self._max_pulse_s

    @property
    def channels(self) -> list[int]:
        """The board's channel numbers."""
        return list(self._channels)

    def set_signal_handler(self, handler: ChannelSignalHandler | None) -> None:
        """Set the callback that receives debounced door changes and flapping reports."""
        self._on_signal = handler

    async def start(self) -> None:
        """Switch all coils off, then begin watching the door sensors; idempotent."""
        if self._closed:
            raise BoardNotRunning(f"board {self.board_id!r} is closed")
        if self._started:
            return
        for ch in self._channels.values():
            ch.coil.force_off()
        self._loop = asyncio.get_running_loop()
        for number, ch in self._channels.items():
            # Subscribe before reading the initial state: an edge in between then arrives
            # later as a duplicate of the state read, which the debouncer ignores.
            ch.sensor.when_activated = functools.partial(self._edge_from_any_thread, number, True)
            ch.sensor.when_deactivated = functools.partial(self._edge_from_any_thread, number, False)
            debouncer = Debouncer(
                self._is_open(bool(ch.sensor.is_active)),
                hold_s=self._debounce_s,
                flapping_changes=self._flapping_changes,
                flapping_window_s=self._flapping_window_s,
            )
            ch.door = LoopDebouncer(debouncer, functools.partial(self._report, number), loop=self._loop)
        self._started = True

    async def pulse(self, channel: int, duration_s: float) -> None:
        """Energise one coil for `duration_s` (clamped to the board maximum); return once off.

        Raises:
            BoardNotRunning: Before `start()` or after `close()`.
            UnknownChannel: The board has no such channel.
            CoilBusy: That coil is already being pulsed.
            ValueError: `duration_s` is not positive.
        """
        self._check_running()
        await self._channel(channel).coil.pulse(duration_s)

    def door_is_open(self, channel: int) -> bool:
        """Debounced door state of one channel.

        Raises:
            BoardNotRunning: Before `start()` or after `close()`.
            UnknownChannel: The board has no such channel.
        """
        self._check_running()
        door = self._channel(channel).door
        assert door is not None  # set by start()
        return door.debouncer.stable

    def coil_is_on(self, channel: int) -> bool:
        """Whether the coil of one channel is energised right now (False once closed)."""
        return self._channel(channel).coil.is_on

    async def close(self) -> None:
        """Switch all coils off, stop watching the doors and release the pins; idempotent."""
        self.close_now()

    def close_now(self) -> None:
        """`close()` for callers outside the event loop (e.g. cleanup after a failed build)."""
        if self._closed:
            return
        self._closed = True
        for ch in self._channels.values():
            if ch.door is not None:
                ch.door.close()
        self._close_devices()

    def _make_channel(self, channel: int, lock_pin: PinName, door_pin: PinName) -> _Channel:
        factory = self.pin_factory
        output = sensor = None
        try:
            output = OutputDevice(
                lock_pin,
                active_high=self.lock_active_high,
                initial_value=False,
                pin_factory=factory,
            )
            sensor = DigitalInputDevice(door_pin, pull_up=self.door_pull_up, pin_factory=factory)
        except (PinError, GPIOPinInUse) as exc:
            self._close_quietly(output, sensor)
            raise ConfigError(
                f"board {self.board_id!r} channel {channel} "
                f"(lock pin {lock_pin!r}, door pin {door_pin!r}): {exc}"
            ) from exc
        except GPIOZeroError as exc:
            self._close_quietly(output, sensor)
            raise HardwareError(f"board {self.board_id!r} channel {channel}: {exc}") from exc
        coil = Coil(output, max_pulse_s=self._max_pulse_s, name=f"{self.board_id}/{channel}")
        return _Channel(coil=coil, output=output, sensor=sensor)

    def _channel(self, channel: int) -> _Channel:
        try:
            return self._channels[channel]
        except KeyError:
            raise UnknownChannel(self.board_id, channel) from None

    def _check_running(self) -> None:
        if self._closed:
            raise BoardNotRunning(f"board {self.board_id!r} is closed")
        if not self._started:
            raise BoardNotRunning(f"board {self.board_id!r} is not started")

    def _is_open(self, active: bool) -> bool:
        return active == self.door_open_when_active

    def _edge_from_any_thread(self, channel: int, active: bool) -> None:
        # gpiozero calls this from its own thread on real pins (synchronously for mock
        # pins): take the time now, hand the edge to the loop.
        at = time.monotonic()
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the board is going away
            loop.call_soon_threadsafe(self._edge, channel, self._is_open(active), at)

    def _edge(self, channel: int, is_open: bool, at: float) -> None:
        ch = self._channels[channel]
        if not self._closed and ch.door is not None:
            ch.door.edge(is_open, at)

    def _report(self, channel: int, report: Report) -> None:
        signal: ChannelSignal
        if isinstance(report, Settled):
            state = DoorState.OPEN if report.level else DoorState.CLOSED
            signal = ChannelChange(channel=channel, state=state, at=report.since)
        else:
            signal = ChannelFlapping(channel=channel, changes=report.changes, window_s=report.window_s)
        if self._on_signal is not None:
            self._on_signal(signal)

    def _close_devices(self) -> None:
        for ch in self._channels.values():
            try:
                ch.coil.close()
            except GPIOZeroError:
                log.exception("board %r: could not switch coil %s off", self.board_id, ch.coil.name)
            self._close_quietly(ch.sensor, ch.output)

    def _close_quietly(self, *devices: Any) -> None:
        for device in devices:
            if device is None:
                continue
            try:
                device.close()
            except GPIOZeroError:
                log.exception("board %r: could not close %r", self.board_id, device)
