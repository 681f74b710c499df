"""Fixtures of the edge agent tests: real lock-board drivers on mock pins, a simulated box,
signing keys, and an agent wired to them."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from docbox_edge.boxconfig import BoxConfig, Defaults, generate_simulated_config
from docbox_edge.hardware.box import BoxHardware, build_hardware
from docbox_edge.hardware.mockpins import ExtendedMockFactory
from docbox_edge.hardware.simulated import SimulatedBox
from docbox_protocol.messages import Command, CommandAction, SignedCommand, UnlockAction, utcnow
from docbox_protocol.signing import CommandSigner, generate_private_key, public_key_pem

BOX_ID = "box-test"
COMPARTMENTS = 8
PULSE_MS = 40


@dataclass
class Rig:
    """A simulated box: configuration, mock pins, the real drivers, and the physics."""

    config: BoxConfig
    factory: ExtendedMockFactory
    hardware: BoxHardware
    sim: SimulatedBox

    def coil_pin(self, number: int) -> object:
        return self.factory.pin(self.config.compartment(number).lock_pin)

    def coil_was_energised(self, number: int) -> bool:
        """From the pin's whole history: was the coil output ever driven high?"""
        return any(bool(s.state) for s in self.coil_pin(number).states)  # type: ignore[attr-defined]

    def any_coil_energised(self) -> bool:
        return any(self.coil_was_energised(c.number) for c in self.config.compartments)

    async def wait_coil_on(self, number: int, within: float = 2.0) -> None:
        """Wait until the coil of ``number`` is energised (a pin observer, no polling)."""
        if self.hardware.coil_is_on(number):
            return
        loop = asyncio.get_running_loop()
        energised = asyncio.Event()
        pin = self.coil_pin(number)

        def observer(_pin: object, level: bool) -> None:
            if level:
                # The coil watchdog switches from its own thread: hand over to the loop.
                loop.call_soon_threadsafe(energised.set)

        pin.add_observer(observer)  # type: ignore[attr-defined]
        try:
            async with asyncio.timeout(within):
                await energised.wait()
        finally:
            pin.remove_observer(observer)  # type: ignore[attr-defined]

    def pulses(self) -> int:
        return sum(self.sim.pulse_count(c.number) for c in self.config.compartments)

    def on_durations_s(self, number: int) -> list[float]:
        """Length of every energised stretch of a coil, from the pin's state history."""
        states = list(self.coil_pin(number).states)  # type: ignore[attr-defined]
        return [after.timestamp for before, after in itertools.pairwise(states) if before.state]


class Keys:
    """The cloud's trusted signing key, and an attacker's."""

    def __init__(self) -> None:
        self.trusted: Ed25519PrivateKey = generate_private_key()
        self.attacker: Ed25519PrivateKey = generate_private_key()
        self.signer = CommandSigner(self.trusted, lifetime_s=10)
        self.forger = CommandSigner(self.attacker, lifetime_s=10)

    @property
    def trusted_pem(self) -> str:
        return public_key_pem(self.trusted.public_key()).decode()

    def unlock(self, compartment: int, *, box_id: str = BOX_ID, now: datetime | None = None) -> SignedCommand:
        return self.signer.sign(self.signer.command(box_id, UnlockAction(compartment=compartment), now=now))

    def command(
        self,
        body: CommandAction,
        *,
        box_id: str = BOX_ID,
        issued: datetime | None = None,
        lifetime_s: float = 10.0,
    ) -> Command:
        issued = issued or utcnow()
        return Command(
            id=uuid.uuid4(),
            box_id=box_id,
            issued_at=issued,
            expires_at=issued + timedelta(seconds=lifetime_s),
            body=body,
        )


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def box_config() -> BoxConfig:
    config = generate_simulated_config(BOX_ID, COMPARTMENTS)
    # Short pulses and debounce keep the tests fast; the logic is the same.
    defaults = Defaults(pulse_ms=PULSE_MS, debounce_ms=5, flapping_changes=10, flapping_window_ms=1000)
    compartments = tuple(c.model_copy(update={"pulse_ms": None}) for c in config.compartments)
    return BoxConfig.model_validate(
        {
            **config.model_dump(),
            "defaults": defaults.model_dump(),
            "compartments": [c.model_dump() for c in compartments],
        }
    )


@pytest.fixture
async def rig(box_config: BoxConfig) -> AsyncIterator[Rig]:
    """Real GpioLockBoard drivers on an ExtendedMockFactory, with a SimulatedBox on the pins.

    Not started: the agent (or the test) calls ``hardware.start()``.
    """
    factory = ExtendedMockFactory()
    hardware = build_hardware(box_config, factory)
    sim = SimulatedBox(box_config, factory)
    try:
        yield Rig(box_config, factory, hardware, sim)
    finally:
        sim.close()
        await hardware.close()
        factory.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "edge-data"
    path.mkdir()
    return path
