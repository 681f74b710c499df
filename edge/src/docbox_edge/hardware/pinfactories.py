"""Turn a configured pin factory name into a gpiozero pin factory."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from docbox_edge.boxconfig import SIMULATED_PIN_FACTORY
from docbox_edge.hardware.errors import PinFactoryUnavailable
from docbox_edge.hardware.mockpins import ExtendedMockFactory


def open_pin_factory(name: str | None) -> Any:
    """Create the gpiozero pin factory called `name`.

    Args:
        name: "simulated" for an `ExtendedMockFactory`; a gpiozero factory name ("lgpio",
            "rpigpio", "pigpio", "native", "mock"); or None for gpiozero's default choice
            (which honours GPIOZERO_PIN_FACTORY and otherwise tries lgpio first).

    Raises:
        PinFactoryUnavailable: No such factory, or it cannot start on this machine.
    """
    if name == SIMULATED_PIN_FACTORY:
        return ExtendedMockFactory()
    try:
        if name is None:
            from gpiozero import Device

            Device.ensure_pin_factory()
            return Device.pin_factory
        for entry_point in entry_points(group="gpiozero_pin_factories"):
            if entry_point.name == name:
                return entry_point.load()()
    except Exception as exc:  # gpiozero raises ImportError, OSError, its own errors...
        raise PinFactoryUnavailable(f"pin factory {name or '(default)'!r}: {exc}") from exc
    raise PinFactoryUnavailable(f"no gpiozero pin factory is called {name!r}")
