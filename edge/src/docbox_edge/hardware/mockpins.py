"""gpiozero mock pins for boxes with hundreds of compartments.

gpiozero's `MockFactory` pretends to be a Raspberry Pi and so offers GPIO0–GPIO27 only.
`ExtendedMockFactory` adds a synthetic header "SIM" whose pins continue the GPIO numbering
(GPIO28, GPIO29, … by default 2,048 of them), so the real `GpioLockBoard` code can drive
1,000 compartments in tests and demos. The pins are ordinary GPIOs to gpiozero: they can be
named `"GPIO28"`, `28`, `"BCM28"` or by header position `"SIM:1"`.

`SimulatedPin` is the factory's default pin class: a `MockPin` that a simulation can wire to
(observers see every state change, an external drive beats the pull resistor) and whose
state history is bounded, since `MockPin.states` otherwise grows for ever.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

from gpiozero.compat import frozendict
from gpiozero.pins import HeaderInfo, PinInfo
from gpiozero.pins.mock import MockFactory, MockPin
from gpiozero.pins.pi import PiBoardInfo

FIRST_EXTRA_GPIO = 28
"""GPIO number of the synthetic header's first pin (the Pi header ends at GPIO27)."""
DEFAULT_EXTRA_PINS = 2048
"""Pins on the synthetic header: enough for 1,024 compartments at two pins each."""
DEFAULT_STATE_HISTORY = 10_000
"""State changes each pin remembers (`MockPin.states`) before the oldest are dropped."""
SIM_HEADER = "SIM"

PinObserver = Callable[["SimulatedPin", bool], None]


class SimulatedPin(MockPin):  # type: ignore[misc]  # gpiozero is untyped
    """A `MockPin` for simulations.

    - `add_observer` callbacks run on every state change (output or input), synchronously
      in the thread that changed it: a simulation reacts to a coil without polling.
    - `drive(level)` connects the pin to a level the way a closed switch would: it wins
      over the pull resistor, also when a device configures the pull later.
    - `states` keeps at most the factory's `state_history_limit` entries.
    """

    states: Any  # MockPin's (timestamp, state) history; declared for mypy

    def __init__(self, factory: Any, info: Any) -> None:
        # Set before MockPin.__init__, which already calls clear_states().
        self._observers: list[PinObserver] = []
        self._external: bool | None = None
        self._history_limit: int | None = getattr(factory, "state_history_limit", None)
        super().__init__(factory, info)

    def add_observer(self, observer: PinObserver) -> None:
        """Call `observer(pin, new_state)` after every state change."""
        self._observers.append(observer)

    def remove_observer(self, observer: PinObserver) -> None:
        """Stop calling `observer`; unknown observers are ignored."""
        if observer in self._observers:
            self._observers.remove(observer)

    @property
    def external_drive(self) -> bool | None:
        """The level the simulation connects the pin to, or None (the pull decides)."""
        return self._external

    def drive(self, level: bool | None) -> None:
        """Connect an input pin to `level`, or disconnect it (`None`: the pull decides)."""
        self._external = level
        if self._function != "input":
            return  # remembered; applies once a device configures the pin as an input
        if level is None:
            self._set_pull(self._pull)
        elif level:
            self.drive_high()
        else:
            self.drive_low()

    def clear_states(self) -> None:
        """Forget the state history, keeping only the current state."""
        super().clear_states()
        if self._history_limit is not None:
            self.states = deque(self.states, maxlen=self._history_limit)

    def _set_pull(self, value: str) -> None:
        super()._set_pull(value)
        # A switch connecting the pin to a level beats the (weak) pull resistor.
        external = self._external
        if external is not None and self._state != external:
            if external:
                self.drive_high()
            else:
                self.drive_low()

    def _change_state(self, value: bool) -> bool:
        changed = bool(super()._change_state(value))
        if changed:
            for observer in tuple(self._observers):
                observer(self, bool(value))
        return changed


class IndexedBoardInfo(PiBoardInfo):  # type: ignore[misc]  # gpiozero is untyped
    """`PiBoardInfo` that finds pins by a dict lookup.

    gpiozero scans every pin of every header for each lookup, and each device does
    several; with 2,000 pins that scan dominates building a box. No `__slots__` on purpose:
    the instance dict holds the cached index.
    """

    @cached_property
    def _pins_by_name(self) -> dict[object, list[tuple[Any, Any]]]:
        index: dict[object, list[tuple[Any, Any]]] = {}
        for header in self.headers.values():
            for pin in header.pins.values():
                for name in pin.names:
                    index.setdefault(name, []).append((header, pin))
        return index

    def find_pin(self, name: object) -> Iterator[tuple[Any, Any]]:
        """Yield (header, pin) for every pin that `name` identifies."""
        try:
            hits = self._pins_by_name.get(name, ())
        except TypeError:  # unhashable name: let gpiozero decide what it means
            yield from super().find_pin(name)
            return
        yield from hits


def synthetic_header(pin_count: int, *, first_gpio: int = FIRST_EXTRA_GPIO) -> Any:
    """A two-column header named "SIM" of `pin_count` GPIO pins numbered from `first_gpio`."""
    pins = {}
    for number in range(1, pin_count + 1):
        gpio = first_gpio + number - 1
        row, col = divmod(number - 1, 2)
        pins[number] = PinInfo(
            number=number,
            name=f"GPIO{gpio}",
            names=frozenset({gpio, str(gpio), f"GPIO{gpio}", f"BCM{gpio}", f"{SIM_HEADER}:{number}"}),
            pull="",
            row=row + 1,
            col=col + 1,
            interfaces=frozenset({"gpio"}),
        )
    return HeaderInfo(name=SIM_HEADER, rows=(pin_count + 1) // 2, columns=2, pins=frozendict(pins))


class ExtendedMockFactory(MockFactory):  # type: ignore[misc]  # gpiozero is untyped
    """`MockFactory` with a synthetic header of many more GPIO pins.

    Args:
        revision: Pi revision to pretend to be (as for `MockFactory`).
        pin_class: Mock pin class; defaults to `SimulatedPin`.
        extra_pins: Pins on the synthetic header, numbered from GPIO28.
        state_history_limit: Entries each `SimulatedPin` keeps in `states`; None = unbounded.
    """

    _info: Any  # PiFactory's cached board info; declared for mypy

    def __init__(
        self,
        revision: str | None = None,
        pin_class: type[MockPin] | None = None,
        *,
        extra_pins: int = DEFAULT_EXTRA_PINS,
        state_history_limit: int | None = DEFAULT_STATE_HISTORY,
    ) -> None:
        if extra_pins < 0:
            raise ValueError(f"extra_pins must be >= 0, not {extra_pins}")
        self.extra_pins = extra_pins
        self.state_history_limit = state_history_limit
        super().__init__(revision=revision, pin_class=SimulatedPin if pin_class is None else pin_class)

    @property
    def extra_pin_names(self) -> list[str]:
        """Primary names of the synthetic header's pins, in order."""
        return [f"GPIO{FIRST_EXTRA_GPIO + i}" for i in range(self.extra_pins)]

    def clear_states(self) -> None:
        """Forget the state history of every pin (for long runs with an unbounded history)."""
        for pin in self.pins.values():
            pin.clear_states()

    def _get_board_info(self) -> Any:
        if self._info is None:
            base = PiBoardInfo.from_revision(self._get_revision())
            headers = dict(base.headers)
            headers[SIM_HEADER] = synthetic_header(self.extra_pins)
            self._info = IndexedBoardInfo._make(base._replace(headers=frozendict(headers)))
        return self._info
