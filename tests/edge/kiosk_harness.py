"""The pickup side of an agent, wired as the agent wires it, on the simulated box (no broker)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

from docbox_edge.compartments import Compartments
from docbox_edge.executor import Executor
from docbox_edge.grants import GrantStore
from docbox_edge.ledger import Ledger
from docbox_edge.lockout import LockoutLimits, Lockouts
from docbox_edge.outbox import Outbox
from docbox_edge.pickup import PickupDesk
from docbox_edge.store import open_store
from docbox_protocol.codec import decode, encode
from docbox_protocol.messages import (
    CommandAction,
    CommandReply,
    Event,
    EventData,
    utcnow,
)
from docbox_protocol.signing import CommandVerifier
from tests.edge.conftest import BOX_ID, Keys, Rig

CONFIRM_S = 0.5


class Clock:
    """A wall clock the test can move forward."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> datetime:
        from datetime import timedelta

        return utcnow() + timedelta(seconds=self.offset_s)


class DeskHarness:
    """Outbox, state machine, executor with grants, lockouts and the desk on one store."""

    def __init__(self, rig: Rig, keys: Keys, data_dir: Path, limits: LockoutLimits, online: bool) -> None:
        self.rig = rig
        self.keys = keys
        self.clock = Clock()
        self.online = online
        self.conn: sqlite3.Connection = open_store(data_dir)
        self.outbox = Outbox(self.conn, BOX_ID)
        self.compartments = Compartments(rig.config.compartments, self.outbox.append)
        self.grants = GrantStore(self.conn)
        self.lockouts = Lockouts(self.conn, limits)
        self.request_unlocks: list[tuple[uuid.UUID, int, CommandReply]] = []
        self.executor = Executor(
            box_id=BOX_ID,
            hardware=rig.hardware,
            verifier=CommandVerifier([keys.trusted.public_key()]),
            ledger=Ledger(self.conn),
            outbox=self.outbox,
            compartments=self.compartments,
            pulse_ms={c.number: rig.config.pulse_ms(c.number) for c in rig.config.compartments},
            unlock_confirm_s=CONFIRM_S,
            clock=self.clock,
            grants=self.grants,
            on_request_unlock=lambda r, n, reply: self.request_unlocks.append((r, n, reply)),
        )
        self.desk = self.new_desk()

    def new_desk(self, limits: LockoutLimits | None = None) -> PickupDesk:
        """A desk on the same store (with fresh lockout objects: as after a restart)."""
        lockouts = Lockouts(self.conn, limits or self.lockouts.limits)
        return PickupDesk(
            grants=self.grants,
            lockouts=lockouts,
            executor=self.executor,
            compartments=self.compartments,
            outbox=self.outbox,
            is_online=lambda: self.online,
            clock=self.clock,
        )

    async def send(self, body: CommandAction) -> CommandReply:
        signed = self.keys.signer.sign(self.keys.command(body))
        return await self.executor.handle(encode(signed))

    def events(self) -> list[Event]:
        return [decode(Event, payload) for _, payload in self.outbox.pending(10_000)]

    def data(self, kind: type[EventData] | None = None) -> list[EventData]:
        return [e.data for e in self.events() if kind is None or isinstance(e.data, kind)]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until ``predicate`` holds, woken by each outbox append (no polling)."""
        async with asyncio.timeout(within):
            while not predicate():
                self.outbox.appended.clear()
                await self.outbox.appended.wait()


@contextlib.asynccontextmanager
async def desk_harness(
    rig: Rig, keys: Keys, data_dir: Path, limits: LockoutLimits | None = None, online: bool = False
) -> AsyncIterator[DeskHarness]:
    await rig.hardware.start()
    h = DeskHarness(rig, keys, data_dir, limits or LockoutLimits(), online)
    h.compartments.load(rig.hardware.door_is_open)
    doors = asyncio.create_task(h.compartments.run(rig.hardware.signals()))
    try:
        yield h
    finally:
        await h.desk.close()
        doors.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await doors
        await h.executor.wait_idle()
        h.compartments.close()
        h.conn.close()
