"""Async helpers around the blocking MQTT test client, and an in-process agent runner."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TypeVar

import paho.mqtt.client as mqtt
from pydantic import BaseModel

from docbox_edge.agent import EdgeAgent
from docbox_protocol.codec import decode
from docbox_protocol.messages import Event
from docbox_protocol.topics import Channel, topic
from tests.edge.conftest import BOX_ID
from tests.support.mqtt import MqttTestClient

M = TypeVar("M", bound=BaseModel)


def box_topic(channel: Channel, box_id: str = BOX_ID) -> str:
    return topic(box_id, channel)


class Listener:
    """A subscriber whose blocking receive runs in a thread, so the agent's loop keeps going.

    Messages a call did not ask for are kept for later calls, in arrival order.
    """

    def __init__(self, client: MqttTestClient) -> None:
        self.client = client
        self.received: list[mqtt.MQTTMessage] = []
        self._unread: list[mqtt.MQTTMessage] = []

    async def _next(self, wanted: str, deadline: float) -> mqtt.MQTTMessage:
        for i, message in enumerate(self._unread):
            if message.topic == wanted:
                return self._unread.pop(i)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no message on {wanted}")
            try:
                message = await asyncio.to_thread(self.client.expect_message, remaining)
            except TimeoutError:
                raise TimeoutError(f"no message on {wanted}") from None
            self.received.append(message)
            if message.topic == wanted:
                return message
            self._unread.append(message)

    async def expect(
        self,
        model: type[M],
        channel: Channel,
        predicate: Callable[[M], bool] = lambda _m: True,
        within: float = 10.0,
    ) -> M:
        """The next message on ``channel`` that satisfies ``predicate`` (others are dropped)."""
        deadline = time.monotonic() + within
        while True:
            message = await self._next(box_topic(channel), deadline)
            parsed = decode(model, message.payload)
            if predicate(parsed):
                return parsed

    async def events_until(
        self, done: Callable[[dict[int, Event]], bool], within: float = 20.0
    ) -> list[Event]:
        """Collect events (in arrival order, duplicates included) until ``done(unique by seq)``."""
        deadline = time.monotonic() + within
        arrived: list[Event] = []
        unique: dict[int, Event] = {}
        while not done(unique):
            try:
                message = await self._next(box_topic(Channel.EVENTS), deadline)
            except TimeoutError:
                raise TimeoutError(
                    f"events incomplete after {within} s: have seqs {sorted(unique)}"
                ) from None
            event = decode(Event, message.payload)
            arrived.append(event)
            unique.setdefault(event.seq, event)
        return arrived


class RunningAgent:
    """Runs an agent as a task of the test's loop."""

    def __init__(self, agent: EdgeAgent) -> None:
        self.agent = agent
        self.task: asyncio.Task[None] | None = None

    async def start(self, wait_connected: bool = True, within: float = 10.0) -> None:
        """Start the agent; wait until it is connected, or else until its hardware runs."""
        self.task = asyncio.create_task(self.agent.run(), name="agent-under-test")
        await self._wait(self.agent.connected if wait_connected else self.agent.started, within)

    async def wait_connected(self, within: float = 10.0) -> None:
        await self._wait(self.agent.connected, within)

    async def _wait(self, flag: asyncio.Event, within: float) -> None:
        assert self.task is not None
        waiter = asyncio.ensure_future(flag.wait())
        done, _ = await asyncio.wait({waiter, self.task}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            waiter.cancel()
            self.task.result()  # raises the agent's failure
            raise AssertionError("agent ended early")
        if waiter not in done:
            waiter.cancel()
            raise TimeoutError(f"agent not ready within {within} s")

    async def stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.agent.close()


async def wait_for_flag(event: asyncio.Event, condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``condition()`` holds, re-checking whenever ``event`` is set."""
    async with asyncio.timeout(within):
        while not condition():
            event.clear()
            if condition():
                return
            await event.wait()
